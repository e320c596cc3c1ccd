<?php
use local_crmsync\local\event_map;
use local_crmsync\local\state_reader;

require_once(__DIR__ . '/state_messages_test_case.php');

/**
 * A course's summary: which events ask for it, and what it counts when it is sent (learners, taken
 * attendance, graded activities), checked against the contract's schema.
 */
final class CourseSummaryTest extends state_messages_test_case {
    private function summary(int $courseid = 2): ?array {
        $row = (object) ['id' => '11', 'messageid' => '6a1f0b9e-2d4a-41f3-b8c0-7c1f0b9e2d4a', 'type' => 'course_summary.updated',
            'subject' => "course_summary:$courseid", 'eventdata' => null, 'snapshot' => null, 'timecreated' => '1795344090'];
        $message = state_reader::message($row, 1795344100000001, $this->moodle);
        if ($message !== null) {
            $this->assertSame([], self::$schema->errors($message));
        }
        return $message;
    }

    /** Every event that changes a count records the course's summary; the front page has none. */
    public function test_the_events_that_change_a_course_record_its_summary(): void {
        $dumps = [];
        foreach (['moodle-4.3-events', 'moodle-4.3-events-2'] as $folder) {
            foreach (glob(CRMSYNC_SHARED . "/fixtures/$folder/[0-9]*.json") as $file) {
                $dumps[basename($file)] = json_decode(file_get_contents($file), true)['data'];
            }
        }
        $this->assertGreaterThan(200, count($dumps), 'the recorded event dumps were not found beside the repository');
        $deleted = function(string $name, array $data) {
            return array_merge($data, ['eventname' => "\\core\\event\\$name", 'crud' => 'd']);
        };
        $events = [
            $dumps['00016_core_event_user_enrolment_created.json'], $dumps['00151_core_event_user_enrolment_updated.json'],
            $dumps['00078_core_event_user_enrolment_deleted.json'], $dumps['00045_core_event_user_graded.json'],
            $dumps['00031_core_event_grade_item_created.json'], $dumps['00252_core_event_grade_item_updated.json'],
            $deleted('grade_item_deleted', $dumps['00031_core_event_grade_item_created.json']),
            $deleted('course_module_deleted', $dumps['00032_core_event_course_module_created.json']),
            $dumps['00264_mod_attendance_event_attendance_taken.json'],
            array_merge($dumps['00264_mod_attendance_event_attendance_taken.json'],
                ['eventname' => '\\mod_attendance\\event\\attendance_taken_by_student']),
            ['eventname' => '\\core\\event\\grade_deleted', 'courseid' => '2', 'relateduserid' => '3', 'objectid' => '5',
                'other' => ['itemid' => '3']],
        ];
        foreach ($events as $event) {
            $summaries = array_values(array_filter(event_map::entries($event), function($entry) {
                return $entry['type'] === 'course_summary.updated';
            }));
            $this->assertCount(1, $summaries, $event['eventname']);
            $this->assertSame('course_summary:2', $summaries[0]['subject']);
            $this->assertNull($summaries[0]['userid'], 'a summary is about no learner');
            $this->assertNull($summaries[0]['eventdata'], 'nor does it keep a learner\'s event');
        }
        $frontpage = array_merge($dumps['00045_core_event_user_graded.json'], ['courseid' => 1]);
        $this->assertSame(['grade.updated'], array_column(event_map::entries($frontpage), 'type'));
        $this->assertSame([], event_map::entries(array_merge($dumps['00252_core_event_grade_item_updated.json'],
            ['courseid' => 1])));
        $this->assertSame('courses', event_map::group('course_summary.updated'));
    }

    public function test_learners_are_the_users_enrolled_and_active_now(): void {
        $this->assertSame(1, $this->summary()['data']['learners']);
        $enrolment = $this->moodle->enrolments['3:2'][0];
        $this->moodle->enrolments['4:2'] = [(object) (['status' => '1'] + (array) $enrolment)];
        $this->moodle->enrolments['5:2'] = [(object) (['timeend' => '1795344000'] + (array) $enrolment)];
        $this->moodle->enrolments['6:2'] = [(object) (['enrolstatus' => '1'] + (array) $enrolment),
            (object) (['id' => '9', 'enrolid' => '2', 'method' => 'self'] + (array) $enrolment)];
        $this->moodle->enrolments['7:3'] = [$enrolment];
        $this->assertSame(2, $this->summary()['data']['learners']);
    }

    /** Marks count in taken sessions only; an acronym other than mod_attendance's P, L, E, A only in marks. */
    public function test_attendance_counts_the_marks_of_taken_sessions_by_acronym(): void {
        $mark = function(string $student, string $acronym) {
            return (object) ['id' => $student, 'studentid' => $student, 'statusid' => '1', 'timetaken' => '1795344070',
                'takenby' => '2', 'remarks' => '', 'acronym' => $acronym, 'description' => $acronym, 'grade' => '1.00'];
        };
        $this->moodle->logs[1] = [$mark('3', 'P'), $mark('4', 'L'), $mark('5', 'L'), $mark('6', 'E'), $mark('7', 'A'),
            $mark('8', 'T')];
        $this->moodle->sessions[2] = (object) ['id' => '2', 'attendanceid' => '1', 'sessdate' => '1795400000',
            'duration' => '3600', 'description' => '', 'groupid' => '0', 'lasttaken' => '0'];
        $this->moodle->logs[2] = [$mark('3', 'P')];
        $this->moodle->attendances[2] = (object) ['id' => '2', 'course' => '3', 'name' => 'Elsewhere'];
        $this->moodle->sessions[3] = (object) ['id' => '3', 'attendanceid' => '2', 'sessdate' => '1795400000',
            'duration' => '3600', 'description' => '', 'groupid' => '0', 'lasttaken' => '1795344070'];
        $this->moodle->logs[3] = [$mark('3', 'A')];
        $this->assertSame(['sessions' => 1, 'marks' => 6, 'present' => 1, 'late' => 2, 'excused' => 1, 'absent' => 1],
            $this->summary()['data']['attendance']);
    }

    public function test_each_graded_activity_has_its_count_mean_and_passes(): void {
        $grade = function(string $itemid, string $userid, ?string $final) {
            return (object) ['id' => "$itemid$userid", 'itemid' => $itemid, 'userid' => $userid, 'finalgrade' => $final,
                'hidden' => '0', 'overridden' => '0', 'timemodified' => '1795344050'];
        };
        // Essay 1 (pass 50): 80 is already graded.
        $this->moodle->grades['3:4'] = $grade('3', '4', '40.00000');
        $this->moodle->grades['3:5'] = $grade('3', '5', '50.00000');
        $this->moodle->grades['3:6'] = $grade('3', '6', null);
        // A quiz out of 10 from 0, no pass grade, its activity gone; a second without grades.
        $this->moodle->items[7] = (object) ['id' => '7', 'courseid' => '2', 'itemtype' => 'mod', 'itemmodule' => 'quiz',
            'iteminstance' => '3', 'itemname' => 'Quiz & "review" <1>', 'grademax' => '10.00000', 'grademin' => '0.00000',
            'gradepass' => '0.00000'];
        $this->moodle->grades['7:3'] = $grade('7', '3', '7.00000');
        $this->moodle->grades['7:4'] = $grade('7', '4', '8.00000');
        $this->moodle->grades['7:5'] = $grade('7', '5', '8.00000');
        $this->moodle->items[8] = (object) ['id' => '8', 'courseid' => '2', 'itemtype' => 'mod', 'itemmodule' => 'assign',
            'iteminstance' => '4', 'itemname' => 'Essay 2', 'grademax' => '20.00000', 'grademin' => '0.00000',
            'gradepass' => '10.00000'];
        $this->moodle->cmids['assign:4'] = 5;
        // The course total is no activity; another course's activity is not this course's.
        $this->moodle->items[1] = (object) ['id' => '1', 'courseid' => '2', 'itemtype' => 'course', 'itemmodule' => null,
            'iteminstance' => '2', 'itemname' => null, 'grademax' => '100.00000', 'grademin' => '0.00000', 'gradepass' => '0'];
        $this->moodle->grades['1:3'] = $grade('1', '3', '80.00000');
        $this->moodle->items[9] = (object) ['id' => '9', 'courseid' => '3', 'itemtype' => 'mod', 'itemmodule' => 'assign',
            'iteminstance' => '9', 'itemname' => 'Other', 'grademax' => '100', 'grademin' => '0', 'gradepass' => '0'];
        $this->moodle->grades['9:3'] = $grade('9', '3', '99.00000');
        $activities = $this->summary()['data']['activities'];
        $this->assertSame([
            ['itemid' => 3, 'cmid' => 2, 'name' => 'Essay 1', 'module' => 'assign', 'grademax' => 100.0, 'gradepass' => 50.0,
                'graded' => 3, 'average' => 56.66667, 'average_percentage' => 56.67, 'passed' => 2],
            ['itemid' => 7, 'cmid' => null, 'name' => 'Quiz & "review" <1>', 'module' => 'quiz', 'grademax' => 10.0,
                'gradepass' => 0.0, 'graded' => 3, 'average' => 7.66667, 'average_percentage' => 76.67, 'passed' => 0],
            ['itemid' => 8, 'cmid' => 5, 'name' => 'Essay 2', 'module' => 'assign', 'grademax' => 20.0, 'gradepass' => 10.0,
                'graded' => 0, 'average' => null, 'average_percentage' => null, 'passed' => 0],
        ], $activities);
    }

    /** The names arrive as Moodle stores them: the CRM shows text, not HTML entities. */
    public function test_the_course_is_named_as_moodle_stores_it(): void {
        $this->moodle->courses[2]->fullname = 'R&D <Basics> "Q1" l\'été';
        $data = $this->summary()['data'];
        $this->assertSame(['id' => 2, 'shortname' => 'CRM101', 'fullname' => 'R&D <Basics> "Q1" l\'été', 'idnumber' => 'C-101'],
            $data['course']);
        $this->assertSame(2, $data['courseid']);
        $this->assertSame(1795344100, $data['timegenerated']);
    }

    /** A course that is gone has no summary to send: its course.deleted removes the summary downstream. */
    public function test_no_summary_of_a_gone_course(): void {
        unset($this->moodle->courses[2]);
        $this->assertNull($this->summary());
    }
}
