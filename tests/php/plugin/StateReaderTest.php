<?php
use local_crmsync\local\event_map;
use local_crmsync\local\state_reader;

require_once(__DIR__ . '/state_messages_test_case.php');

/**
 * What an outbox row becomes at sending time: its subject's current state, or, when the entity is
 * gone, an explicit deletion built from the subject's ids and what the event recorded. Every message
 * is checked against the contract's schema for its type.
 */
final class StateReaderTest extends state_messages_test_case {
    /** An outbox row as moodle_outbox stores it (ids as strings, JSON columns). */
    private function row(string $type, string $subject, ?array $snapshot = null, ?array $event = null): stdClass {
        return (object) ['id' => '7', 'messageid' => '0b9c6a0e-5d41-4c3a-9f1e-0c8d5f1a2b3c', 'type' => $type,
            'subject' => $subject, 'eventdata' => $event === null ? null : json_encode($event),
            'snapshot' => $snapshot === null ? null : json_encode($snapshot), 'timecreated' => '1795344057'];
    }

    /** The message for a row, checked against the schema of the type it was sent as. */
    private function send(string $type, string $subject, ?array $snapshot = null, ?array $event = null): ?array {
        $message = state_reader::message($this->row($type, $subject, $snapshot, $event), 1795344100000001, $this->moodle);
        if ($message !== null) {
            $this->assertSame([], self::$schema->errors($message), "$type $subject sent as {$message['type']}");
        }
        return $message;
    }

    public function test_the_sequence_is_the_one_assigned_at_sending_not_the_row_id(): void {
        $message = state_reader::message($this->row('user.updated', 'user:3'), 1795344100000042, $this->moodle);
        $this->assertSame(1795344100000042, $message['sequence']);
        $this->assertSame('0b9c6a0e-5d41-4c3a-9f1e-0c8d5f1a2b3c', $message['id']);
        $this->assertSame('a1b2c3d4e5f6a7b8c9d0', $message['site']['id']);
    }

    public function test_a_deleted_user_is_sent_from_the_event_snapshot_or_at_least_by_id(): void {
        $this->assertSame('Alice', $this->send('user.updated', 'user:3')['data']['firstname']);
        $deleted = $this->send('user.deleted', 'user:5', ['username' => 'student3', 'email' => 's3@example.invalid',
            'idnumber' => 'EXT-003']);
        $this->assertSame(['id' => 5, 'username' => 'student3', 'email' => 's3@example.invalid', 'idnumber' => 'EXT-003',
            'deleted' => true], $deleted['data']);
        $gone = $this->send('user.updated', 'user:5');
        $this->assertSame('user.deleted', $gone['type']);
        $this->assertSame(['id' => 5, 'deleted' => true], $gone['data']);
    }

    public function test_a_course_gone_before_sending_is_sent_as_its_deletion(): void {
        $gone = $this->send('course.updated', 'course:9');
        $this->assertSame('course.deleted', $gone['type']);
        $this->assertSame(['id' => 9, 'deleted' => true], $gone['data']);
        $deleted = $this->send('course.deleted', 'course:9', ['shortname' => 'OLD', 'fullname' => 'Old', 'idnumber' => '']);
        $this->assertSame('OLD', $deleted['data']['shortname']);
    }

    public function test_an_ended_enrolment_is_sent_as_a_deletion_naming_the_course_while_it_exists(): void {
        $this->assertSame('active', $this->send('enrolment.created', 'enrolment:3:2')['data']['status']);
        unset($this->moodle->enrolments['3:2']);
        $ended = $this->send('enrolment.updated', 'enrolment:3:2');
        $this->assertSame('enrolment.deleted', $ended['type']);
        $this->assertSame(['userid' => 3, 'courseid' => 2, 'status' => 'deleted',
            'course' => ['id' => 2, 'shortname' => 'CRM101', 'fullname' => 'CRM for beginners', 'idnumber' => 'C-101'],
            'enrolments' => [], 'roles' => [], 'groups' => []], $ended['data']);
        unset($this->moodle->courses[2]);
        $coursegone = $this->send('enrolment.deleted', 'enrolment:3:2');
        $this->assertSame('enrolment.deleted', $coursegone['type']);
        $this->assertArrayNotHasKey('course', $coursegone['data']);
    }

    public function test_an_enrolment_deletion_whose_learner_is_back_reports_the_enrolment(): void {
        $back = $this->send('enrolment.deleted', 'enrolment:3:2');
        $this->assertSame('enrolment.updated', $back['type']);
        $this->assertSame('active', $back['data']['status']);
    }

    public function test_a_deleted_grade_carries_its_item_while_the_item_exists(): void {
        $this->assertSame(80.0, $this->send('grade.updated', 'grade:3:3')['data']['finalgrade']);
        unset($this->moodle->grades['3:3']);
        $deleted = $this->send('grade.deleted', 'grade:3:3');
        $this->assertSame('grade.deleted', $deleted['type']);
        $this->assertTrue($deleted['data']['deleted']);
        $this->assertSame(2, $deleted['data']['item']['cmid']);
        $this->assertSame('grade.deleted', $this->send('grade.updated', 'grade:3:3')['type']);
    }

    public function test_a_grade_whose_item_is_gone_is_sent_by_its_ids(): void {
        unset($this->moodle->items[3], $this->moodle->grades['3:3']);
        $event = ['eventname' => '\\core\\event\\grade_deleted', 'courseid' => '2', 'relateduserid' => '3',
            'objectid' => '5', 'other' => ['itemid' => '3', 'overridden' => false, 'finalgrade' => null]];
        $deleted = $this->send('grade.deleted', 'grade:3:3', null, $event);
        $this->assertSame(['userid' => 3, 'courseid' => 2, 'itemid' => 3, 'deleted' => true], $deleted['data']);
        // A backfilled row has no event: the course comes from the row's snapshot.
        $backfilled = $this->send('grade.updated', 'grade:3:3', ['courseid' => 2]);
        $this->assertSame('grade.deleted', $backfilled['type']);
        $this->assertSame(2, $backfilled['data']['courseid']);
    }

    public function test_the_completion_of_a_deleted_activity_is_sent_as_its_deletion(): void {
        $this->assertSame('complete', $this->send('module_completion.updated', 'module_completion:3:2')['data']['state']);
        unset($this->moodle->cms[2]);
        $event = ['eventname' => '\\core\\event\\course_module_completion_updated', 'courseid' => '2',
            'contextinstanceid' => '2', 'relateduserid' => '3'];
        $deleted = $this->send('module_completion.updated', 'module_completion:3:2', null, $event);
        $this->assertSame('module_completion.deleted', $deleted['type']);
        $this->assertSame(['userid' => 3, 'cmid' => 2, 'courseid' => 2, 'deleted' => true], $deleted['data']);
    }

    public function test_an_activity_completion_reset_while_the_activity_exists_is_incomplete(): void {
        unset($this->moodle->modulecompletions['2:3']);
        $reset = $this->send('module_completion.updated', 'module_completion:3:2');
        $this->assertSame('module_completion.updated', $reset['type']);
        $this->assertSame('incomplete', $reset['data']['state']);
    }

    public function test_an_unenrolment_sends_the_course_completion_deletion_not_an_empty_state(): void {
        $this->assertSame('course_completion.updated', $this->send('course_completion.updated', 'course_completion:3:2')['type']);
        unset($this->moodle->enrolments['3:2'], $this->moodle->coursecompletions['3:2']);
        $entries = event_map::entries(['eventname' => '\\core\\event\\user_enrolment_deleted', 'relateduserid' => '3',
            'courseid' => '2', 'objectid' => '1', 'other' => ['userenrolment' => [], 'enrol' => 'manual']]);
        $sent = [];
        foreach ($entries as $entry) {
            $message = $this->send($entry['type'], $entry['subject'], $entry['snapshot'], $entry['eventdata']);
            $sent[$message['type']] = $message['data'];
        }
        $this->assertSame(['enrolment.deleted', 'course_completion.deleted', 'course_summary.updated'], array_keys($sent));
        $this->assertSame(0, $sent['course_summary.updated']['learners']);
        $this->assertSame(['userid' => 3, 'courseid' => 2, 'deleted' => true], $sent['course_completion.deleted']);
    }

    /** Grades, completions and attendance name their course as it is when sent, its names as Moodle stores them. */
    public function test_learner_records_name_their_course_as_it_stands_when_sent(): void {
        $this->moodle->courses[2]->fullname = 'R&D <Basics> "Q1"';
        $this->moodle->courses[2]->shortname = 'RD&1';
        $course = ['id' => 2, 'shortname' => 'RD&1', 'fullname' => 'R&D <Basics> "Q1"', 'idnumber' => 'C-101'];
        foreach (['grade.updated' => 'grade:3:3', 'module_completion.updated' => 'module_completion:3:2',
                'course_completion.updated' => 'course_completion:3:2', 'attendance.recorded' => 'attendance:1'] as $type => $subject) {
            $message = $this->send($type, $subject);
            $this->assertSame($type, $message['type']);
            $this->assertSame($course, $message['data']['course'], $type);
        }
    }

    public function test_course_access_of_a_gone_course_is_the_one_thing_not_sent(): void {
        $this->assertSame(1795344060, $this->send('course_access.updated', 'course_access:3:2')['data']['lastaccess']);
        unset($this->moodle->courses[2], $this->moodle->access['3:2']);
        $this->assertNull($this->send('course_access.updated', 'course_access:3:2'));
    }

    public function test_a_gone_attendance_session_is_sent_as_its_deletion(): void {
        $this->assertSame('attendance.recorded', $this->send('attendance.recorded', 'attendance:1')['type']);
        $event = ['eventname' => '\\mod_attendance\\event\\attendance_taken', 'courseid' => '2', 'objectid' => '1',
            'other' => ['sessionid' => '1', 'grouptype' => '0']];
        unset($this->moodle->cms[4], $this->moodle->cmids['attendance:1']);
        $activitygone = $this->send('attendance.recorded', 'attendance:1', null, $event);
        $this->assertSame('attendance.deleted', $activitygone['type']);
        $this->assertSame(['sessionid' => 1, 'courseid' => 2, 'deleted' => true], $activitygone['data']);
        unset($this->moodle->sessions[1]);
        $sessiongone = $this->send('attendance.recorded', 'attendance:1', null, $event);
        $this->assertSame(['sessionid' => 1, 'courseid' => 2, 'deleted' => true], $sessiongone['data']);
    }

    public function test_a_deleted_activity_and_grade_item_are_sent_from_their_event_snapshots(): void {
        $cm = event_map::entries($this->course_module_deleted())[0];
        $activity = $this->send($cm['type'], $cm['subject'], $cm['snapshot'], $cm['eventdata']);
        $this->assertSame(['id' => 2, 'courseid' => 2, 'modname' => 'assign', 'instance' => 1, 'deleted' => true],
            $activity['data']);
        $gi = event_map::entries($this->grade_item_deleted(), ['iteminstance' => '1'])[0];
        $item = $this->send($gi['type'], $gi['subject'], $gi['snapshot'], $gi['eventdata']);
        $this->assertSame(['id' => 3, 'courseid' => 2, 'itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => 1,
            'itemname' => 'Essay 1', 'deleted' => true], $item['data']);
    }

    /** In the shape of the recorded course_module_created dump (00032), as course_delete_module() fires it. */
    private function course_module_deleted(): array {
        return ['eventname' => '\\core\\event\\course_module_deleted', 'component' => 'core', 'action' => 'deleted',
            'target' => 'course_module', 'objecttable' => 'course_modules', 'objectid' => '2', 'crud' => 'd',
            'edulevel' => 1, 'contextid' => 15, 'contextlevel' => 70, 'contextinstanceid' => '2', 'userid' => '2',
            'courseid' => '2', 'relateduserid' => null, 'anonymous' => 0,
            'other' => ['modulename' => 'assign', 'instanceid' => '1'], 'timecreated' => 1795344090];
    }

    /** In the shape of the recorded grade_item_created dump (00030), as grade_item::delete() fires it. */
    private function grade_item_deleted(): array {
        return ['eventname' => '\\core\\event\\grade_item_deleted', 'component' => 'core', 'action' => 'deleted',
            'target' => 'grade_item', 'objecttable' => 'grade_items', 'objectid' => '3', 'crud' => 'd', 'edulevel' => 0,
            'contextid' => 11, 'contextlevel' => 50, 'contextinstanceid' => '2', 'userid' => '2', 'courseid' => '2',
            'relateduserid' => null, 'anonymous' => 0,
            'other' => ['itemname' => 'Essay 1', 'itemtype' => 'mod', 'itemmodule' => 'assign'], 'timecreated' => 1795344090];
    }
}
