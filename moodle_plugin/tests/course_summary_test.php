<?php
// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.

namespace local_crmsync;

/**
 * A course's summary, counted from what Moodle holds when it is sent (run inside Moodle's PHPUnit, with
 * mod_attendance installed).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\moodle_state_source
 */
final class course_summary_test extends \advanced_testcase {
    /**
     * The message the newest pending summary row of a course becomes when sent.
     *
     * @param int $courseid
     * @return array|null
     */
    private function send(int $courseid): ?array {
        global $DB;
        $rows = $DB->get_records('local_crmsync_outbox', ['subject' => "course_summary:$courseid", 'status' => 'pending'],
            'id DESC', '*', 0, 1);
        $this->assertNotEmpty($rows, "no summary row for course $courseid");
        return local\state_reader::message(reset($rows), 1795344100000001);
    }

    public function test_the_summary_counts_learners_marks_and_grades_as_they_are_when_sent(): void {
        global $CFG, $DB;
        if (!\core_component::get_component_directory('mod_attendance')) {
            $this->markTestSkipped('mod_attendance is not installed');
        }
        require_once($CFG->dirroot . '/mod/attendance/locallib.php');
        require_once($CFG->libdir . '/gradelib.php');
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $this->setAdminUser();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course(['fullname' => 'R&D <Basics> "Q1"', 'shortname' => 'RD&1', 'idnumber' => 'C-1']);
        [$active1, $active2, $suspended, $ended] = [$generator->create_user(), $generator->create_user(),
            $generator->create_user(), $generator->create_user()];
        $generator->enrol_user($active1->id, $course->id, 'student');
        $generator->enrol_user($active2->id, $course->id, 'student');
        $generator->enrol_user($suspended->id, $course->id, 'student', 'manual', 0, 0, ENROL_USER_SUSPENDED);
        $generator->enrol_user($ended->id, $course->id, 'student', 'manual', time() - 7200, time() - 3600);

        $assign = $generator->create_module('assign', ['course' => $course->id, 'name' => 'Essay & <draft>',
            'grade' => 100, 'gradepass' => 50]);
        $item = \grade_item::fetch(['itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => $assign->id,
            'courseid' => $course->id]);
        $this->assertEquals(50, $item->gradepass);
        $item->update_final_grade($active1->id, 80, 'test');
        $item->update_final_grade($active2->id, 40, 'test');

        // One session taken (P, L, A, and a status of the teacher's own, T), one not taken yet.
        $record = $generator->create_module('attendance', ['course' => $course->id, 'grade' => 0]);
        $cm = get_coursemodule_from_instance('attendance', $record->id, $course->id);
        $attendance = new \mod_attendance_structure($DB->get_record('attendance', ['id' => $record->id]), $cm, $course,
            \context_module::instance($cm->id));
        $statuses = $DB->get_records_menu('attendance_statuses', ['attendanceid' => $record->id], '', 'acronym, id');
        $statuses['T'] = $DB->insert_record('attendance_statuses', ['attendanceid' => $record->id, 'acronym' => 'T',
            'description' => 'Online', 'grade' => 1, 'visible' => 1, 'deleted' => 0, 'setnumber' => 0]);
        $session = function(int $date) use ($DB, $record) {
            return $DB->insert_record('attendance_sessions', ['attendanceid' => $record->id, 'sessdate' => $date,
                'duration' => 3600, 'description' => '', 'timemodified' => time()]);
        };
        $taken = $session(time() - 3600);
        $session(time() + 86400);
        $attendance->pageparams = new \mod_attendance_take_page_params();
        $attendance->pageparams->sessionid = $taken;
        $attendance->pageparams->grouptype = 0;
        $marks = [];
        foreach ([[$active1, 'P'], [$active2, 'L'], [$suspended, 'A'], [$ended, 'T']] as [$user, $acronym]) {
            $marks[] = (object) ['studentid' => $user->id, 'statusid' => $statuses[$acronym],
                'statusset' => implode(',', $statuses), 'remarks' => '', 'sessionid' => $taken, 'timetaken' => time(),
                'takenby' => 2];
        }
        $attendance->save_log($marks);

        $message = $this->send((int) $course->id);
        $this->assertSame('course_summary.updated', $message['type']);
        $this->assertSame("course_summary:{$course->id}", $message['subject']);
        $data = $message['data'];
        $this->assertSame(['id' => (int) $course->id, 'shortname' => 'RD&1', 'fullname' => 'R&D <Basics> "Q1"',
            'idnumber' => 'C-1'], $data['course']);
        $this->assertSame(2, $data['learners']);
        $this->assertSame(['sessions' => 1, 'marks' => 4, 'present' => 1, 'late' => 1, 'excused' => 0, 'absent' => 1],
            $data['attendance']);
        $this->assertSame([['itemid' => (int) $item->id, 'cmid' => (int) $assign->cmid, 'name' => 'Essay & <draft>',
            'module' => 'assign', 'grademax' => 100.0, 'gradepass' => 50.0, 'graded' => 2, 'average' => 60.0,
            'average_percentage' => 60.0, 'passed' => 1]], $data['activities']);
    }

    public function test_the_learners_are_the_synced_holders_of_a_learner_role_with_an_active_enrolment(): void {
        global $DB;
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        [$student1, $student2, $teacher, $assistant, $norole, $suspended, $service] = [$generator->create_user(),
            $generator->create_user(), $generator->create_user(), $generator->create_user(), $generator->create_user(),
            $generator->create_user(), $generator->create_user()];
        $generator->enrol_user($student1->id, $course->id, 'student');
        $generator->enrol_user($student2->id, $course->id, 'student');
        $generator->enrol_user($teacher->id, $course->id, 'editingteacher');
        $generator->enrol_user($assistant->id, $course->id, 'teacher');
        $generator->enrol_user($norole->id, $course->id, 0);  // enrolled, no role
        $generator->enrol_user($suspended->id, $course->id, 'student', 'manual', 0, 0, ENROL_USER_SUSPENDED);
        $generator->enrol_user(get_admin()->id, $course->id, 'student');
        // The sync's own web service user (docs/moodle-admin-guide.md, "Let the CRM write to Moodle").
        $generator->enrol_user($service->id, $course->id, 'student');
        $DB->insert_record('external_services_users', ['externalserviceid' => $DB->get_field('external_services', 'id',
            ['shortname' => 'crmsync', 'component' => 'local_crmsync'], MUST_EXIST), 'userid' => $service->id,
            'timecreated' => time()]);

        $this->assertSame(2, $this->send((int) $course->id)['data']['learners']);
        // The learnerroles setting decides who the learners are, as for the backfill's grades and completions.
        $roles = $DB->get_records_menu('role', null, '', 'shortname, id');
        set_config('learnerroles', $roles['student'] . ',' . $roles['teacher'], 'local_crmsync');
        $this->assertSame(3, $this->send((int) $course->id)['data']['learners']);
    }

    public function test_grading_unenrolling_and_deleting_record_the_summary_and_a_gone_course_sends_none(): void {
        global $CFG, $DB;
        require_once($CFG->libdir . '/gradelib.php');
        require_once($CFG->dirroot . '/course/lib.php');
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $this->setAdminUser();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $user = $generator->create_user();
        $subject = "course_summary:{$course->id}";
        $count = function() use ($DB, $subject) {
            return $DB->count_records('local_crmsync_outbox', ['subject' => $subject]);
        };
        $generator->enrol_user($user->id, $course->id, 'student');
        $this->assertSame(1, $count(), 'enrolling');
        $assign = $generator->create_module('assign', ['course' => $course->id, 'grade' => 10]);
        $this->assertGreaterThan(1, $count(), 'a new graded activity');
        $before = $count();
        \grade_item::fetch(['itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => $assign->id,
            'courseid' => $course->id])->update_final_grade($user->id, 7, 'test');
        $this->assertGreaterThan($before, $count(), 'grading');
        $before = $count();
        course_delete_module($assign->cmid);
        $this->assertGreaterThan($before, $count(), 'deleting the activity');
        $this->assertSame([], $this->send((int) $course->id)['data']['activities']);

        delete_course($course, false);
        $this->assertNull($this->send((int) $course->id));
    }
    public function test_the_summary_names_the_tutors_and_a_tutor_role_change_re_sends_it(): void {
        global $DB;
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $editing = $generator->create_user(['firstname' => 'Zoë', 'lastname' => 'Brown & Co']);
        $assistant = $generator->create_user(['firstname' => 'Ann', 'lastname' => 'Adams']);
        $suspended = $generator->create_user(['firstname' => 'Sam', 'lastname' => 'Suspended']);
        $student = $generator->create_user();
        $generator->enrol_user($editing->id, $course->id, 'editingteacher');
        $generator->enrol_user($suspended->id, $course->id, 'editingteacher', 'manual', 0, 0, ENROL_USER_SUSPENDED);
        $generator->enrol_user($student->id, $course->id, 'student');
        $generator->enrol_user($assistant->id, $course->id, 'student');

        // Giving the student the non-editing teacher role asks for the summary again.
        $DB->delete_records('local_crmsync_outbox');
        $context = \context_course::instance($course->id);
        role_assign($DB->get_field('role', 'id', ['shortname' => 'teacher']), $assistant->id, $context->id);
        $this->assertSame([
            ['id' => (int) $assistant->id, 'firstname' => 'Ann', 'lastname' => 'Adams', 'roles' => ['teacher']],
            ['id' => (int) $editing->id, 'firstname' => 'Zoë', 'lastname' => 'Brown & Co', 'roles' => ['editingteacher']],
        ], $this->send($course->id)['data']['tutors']);

        // A student's role change does not (the student's enrolment says it); taking the tutor role away does.
        $DB->delete_records('local_crmsync_outbox');
        role_assign($DB->get_field('role', 'id', ['shortname' => 'student']), $editing->id, $context->id);
        $this->assertFalse($DB->record_exists('local_crmsync_outbox', ['subject' => "course_summary:{$course->id}"]));
        role_unassign($DB->get_field('role', 'id', ['shortname' => 'teacher']), $assistant->id, $context->id);
        $this->assertSame(['Brown & Co'], array_column($this->send($course->id)['data']['tutors'], 'lastname'));
    }
}
