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
 * Backfill (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\backfill
 */
final class backfill_test extends \advanced_testcase {
    public function test_backfill_queues_users_enrolments_and_grades_in_resumable_chunks(): void {
        global $DB;
        $this->resetAfterTest();
        set_config('eventgroups', 'grades', 'local_crmsync');  // keep the observers' own rows out of the way
        $course = $this->getDataGenerator()->create_course();
        $users = [];
        for ($i = 0; $i < 3; $i++) {
            $users[] = $user = $this->getDataGenerator()->create_user();
            $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        }
        set_config('eventgroups', 'users,enrolments,completions,grades', 'local_crmsync');
        $DB->delete_records('local_crmsync_outbox');

        [$count, $lastid, $total] = local\backfill::chunk(0, 2, $course->id);
        $this->assertSame([2, (int) $users[1]->id, 3], [$count, $lastid, $total]);
        [$count] = local\backfill::chunk($lastid, 2, $course->id);
        $this->assertSame(1, $count);
        foreach ($users as $user) {
            $this->assertTrue($DB->record_exists('local_crmsync_outbox', ['subject' => "user:{$user->id}"]));
            $this->assertTrue($DB->record_exists('local_crmsync_outbox',
                ['subject' => "enrolment:{$user->id}:{$course->id}", 'type' => 'enrolment.updated']));
        }
    }

    /**
     * A site with a course, a learner with a grade, an activity completion, a course completion, course access
     * and a policy acceptance, a teacher with a course completion record of their own, a site admin enrolled
     * too, and a taken attendance session; nothing recorded by the observers.
     *
     * @return array [course, student, teacher, page, grade item, policy version id, taken session id]
     */
    private function site(): array {
        global $DB;
        $this->resetAfterTest();
        set_config('eventgroups', '', 'local_crmsync');  // the observers record nothing while the site is built
        $generator = $this->getDataGenerator();
        $course = $generator->create_course(['enablecompletion' => 1]);
        $student = $generator->create_user();
        $teacher = $generator->create_user();
        $generator->enrol_user($student->id, $course->id, 'student');
        $generator->enrol_user($teacher->id, $course->id, 'editingteacher');
        $generator->enrol_user(get_admin()->id, $course->id, 'student');
        $page = $generator->create_module('page', ['course' => $course->id, 'completion' => COMPLETION_TRACKING_MANUAL]);
        $item = $generator->create_grade_item(['courseid' => $course->id, 'itemname' => 'Oral exam']);
        $group = $generator->create_group(['courseid' => $course->id, 'name' => 'Group A']);
        $generator->create_group_member(['groupid' => $group->id, 'userid' => $student->id]);
        $now = time();
        $DB->insert_record('grade_grades', ['itemid' => $item->id, 'userid' => $student->id, 'finalgrade' => 75,
            'rawgrade' => 75, 'timemodified' => $now]);
        $DB->insert_record('course_modules_completion', ['coursemoduleid' => $page->cmid, 'userid' => $student->id,
            'completionstate' => COMPLETION_COMPLETE, 'timemodified' => $now]);
        foreach ([$student, $teacher] as $user) {
            // Moodle's completion cron gives every enrolled user a course_completions row, teachers too.
            $DB->insert_record('course_completions', ['userid' => $user->id, 'course' => $course->id,
                'timeenrolled' => $now, 'reaggregate' => 0]);
            $DB->insert_record('user_lastaccess', ['userid' => $user->id, 'courseid' => $course->id, 'timeaccess' => $now]);
        }
        $DB->insert_record('user_lastaccess', ['userid' => get_admin()->id, 'courseid' => $course->id, 'timeaccess' => $now]);
        $policy = $DB->insert_record('tool_policy', ['sortorder' => 1, 'currentversionid' => null]);
        $version = $DB->insert_record('tool_policy_versions', ['name' => 'Site policy', 'type' => 0, 'audience' => 0,
            'archived' => 0, 'usermodified' => get_admin()->id, 'timecreated' => $now, 'timemodified' => $now,
            'policyid' => $policy, 'revision' => 'v1', 'summary' => '', 'summaryformat' => FORMAT_HTML,
            'content' => '', 'contentformat' => FORMAT_HTML, 'optional' => 0]);
        foreach ([$student, get_admin()] as $user) {
            $DB->insert_record('tool_policy_acceptances', ['policyversionid' => $version, 'userid' => $user->id,
                'status' => 1, 'lang' => 'en', 'usermodified' => $user->id, 'timecreated' => $now, 'timemodified' => $now]);
        }
        $attendance = $generator->create_module('attendance', ['course' => $course->id]);
        $sessions = [];
        foreach ([$now, null] as $lasttaken) {  // one session taken, one not yet
            $sessions[] = $DB->insert_record('attendance_sessions', ['attendanceid' => $attendance->id, 'sessdate' => $now,
                'duration' => 3600, 'lasttaken' => $lasttaken, 'lasttakenby' => 0, 'timemodified' => $now,
                'description' => '', 'descriptionformat' => FORMAT_HTML]);
        }
        unset_config('eventgroups', 'local_crmsync');  // never saved: every group is sent
        $DB->delete_records('local_crmsync_outbox');
        return [$course, $student, $teacher, $page, $item, $version, $sessions[0]];
    }

    /**
     * Run a whole backfill, as cli/backfill.php does.
     *
     * @return array counts by type
     */
    private function backfill(): array {
        $counts = local\backfill::courses();
        foreach (local\backfill::groups() as $type => $n) {
            $counts[$type] += $n;
        }
        $from = 0;
        do {
            [$count, $from, , $chunk] = local\backfill::chunk($from, 2);
            foreach ($chunk as $type => $n) {
                $counts[$type] += $n;
            }
        } while ($count === 2);
        foreach (local\backfill::attendance() as $type => $n) {
            $counts[$type] += $n;
        }
        return $counts;
    }

    public function test_backfill_queues_every_subject_type_for_the_synced_people_only(): void {
        global $DB;
        [$course, $student, $teacher, $page, $item, $version, $session] = $this->site();
        $counts = $this->backfill();
        $subjects = $DB->get_fieldset_select('local_crmsync_outbox', $DB->sql_concat('type', "' '", 'subject'),
            "status = 'pending'");
        $group = $DB->get_field('groups', 'id', ['courseid' => $course->id]);
        foreach (["course.updated course:{$course->id}", "course_summary.updated course_summary:{$course->id}",
                "group.updated group:{$group}",
                "user.updated user:{$student->id}",
                "enrolment.updated enrolment:{$student->id}:{$course->id}", "grade.updated grade:{$student->id}:{$item->id}",
                "module_completion.updated module_completion:{$student->id}:{$page->cmid}",
                "course_completion.updated course_completion:{$student->id}:{$course->id}",
                "course_access.updated course_access:{$student->id}:{$course->id}",
                "consent.updated consent:{$student->id}:{$version}", "attendance.recorded attendance:{$session}",
                "user.updated user:{$teacher->id}", "enrolment.updated enrolment:{$teacher->id}:{$course->id}",
                "course_access.updated course_access:{$teacher->id}:{$course->id}"] as $expected) {
            $this->assertContains($expected, $subjects);
        }
        // The teacher's course completion record is not a learner's; the site admin and the guest are not synced.
        $this->assertNotContains("course_completion.updated course_completion:{$teacher->id}:{$course->id}", $subjects);
        $admin = get_admin()->id;
        $guest = guest_user()->id;
        foreach ($subjects as $subject) {
            $this->assertDoesNotMatchRegularExpression("/:($admin|$guest)(:|\$)/", $subject);
        }
        $this->assertNotContains('course.updated course:' . SITEID, $subjects);
        $this->assertSame(1, $counts['attendance']);  // the session not yet taken is not sent
        $this->assertSame(count($subjects), array_sum($counts));
        foreach (local\backfill::TYPES as $type) {
            $this->assertGreaterThan(0, $counts[$type], $type);
        }

        // Run again while the messages wait: nothing is queued twice.
        $this->assertSame(0, array_sum($this->backfill()));
        $this->assertSame(count($subjects), $DB->count_records('local_crmsync_outbox'));
    }

    public function test_the_learner_roles_setting_decides_whose_grades_and_completions_are_sent(): void {
        global $DB;
        [$course, $student, $teacher] = $this->site();
        set_config('learnerroles', $DB->get_field('role', 'id', ['shortname' => 'editingteacher']), 'local_crmsync');
        $this->backfill();
        $this->assertTrue($DB->record_exists('local_crmsync_outbox',
            ['subject' => "course_completion:{$teacher->id}:{$course->id}"]));
        $this->assertFalse($DB->record_exists('local_crmsync_outbox',
            ['subject' => "course_completion:{$student->id}:{$course->id}"]));
    }

    public function test_switched_off_groups_are_not_queued_by_a_backfill(): void {
        global $DB;
        $this->site();
        set_config('eventgroups', 'users,enrolments', 'local_crmsync');
        $counts = $this->backfill();
        $this->assertGreaterThan(0, $counts['user']);
        $this->assertSame(0, $counts['course'] + $counts['course_summary'] + $counts['group'] + $counts['grade']
            + $counts['attendance'] + $counts['consent']);
        $this->assertSame(['enrolment.updated', 'user.updated'], array_values($DB->get_fieldset_sql(
            'SELECT DISTINCT type FROM {local_crmsync_outbox} ORDER BY type')));
    }
}
