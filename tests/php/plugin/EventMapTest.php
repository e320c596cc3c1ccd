<?php
use local_crmsync\local\event_map;
use PHPUnit\Framework\TestCase;

/** Every relevant event of the recorded Moodle 4.3 dumps lands on the right subject. */
final class EventMapTest extends TestCase {
    private function dumps(): array {
        $dumps = [];
        foreach (['moodle-4.3-events', 'moodle-4.3-events-2'] as $folder) {
            foreach (glob(CRMSYNC_SHARED . "/fixtures/$folder/[0-9]*.json") as $file) {
                $dumps[basename($file)] = json_decode(file_get_contents($file), true);
            }
        }
        $this->assertGreaterThan(200, count($dumps), 'the recorded event dumps were not found beside the repository');
        return $dumps;
    }

    public function test_subjects_of_the_recorded_events(): void {
        $subjects = [];
        foreach ($this->dumps() as $name => $dump) {
            foreach (event_map::entries($dump['data']) as $entry) {
                $subjects[$name][] = $entry['type'] . ' ' . $entry['subject'];
            }
        }
        $this->assertSame(['user.created user:3'], $subjects['00011_core_event_user_created.json']);
        $this->assertSame(['enrolment.created enrolment:3:2', 'course_summary.updated course_summary:2'],
            $subjects['00016_core_event_user_enrolment_created.json']);
        $this->assertSame(['enrolment.updated enrolment:3:2'], $subjects['00017_core_event_role_assigned.json']);
        $this->assertSame(['enrolment.updated enrolment:3:2', 'group.updated group:1'],
            $subjects['00024_core_event_group_member_added.json']);
        $this->assertSame(['group.updated group:1'], $subjects['00022_core_event_group_created.json']);
        $this->assertSame(['grade.updated grade:3:2', 'course_summary.updated course_summary:2'],
            $subjects['00045_core_event_user_graded.json']);
        // The course-total recalculation fired with userid -1 is kept: it is how that change arrives.
        $this->assertSame(['grade.updated grade:3:1', 'course_summary.updated course_summary:2'],
            $subjects['00046_core_event_user_graded.json']);
        $this->assertSame(['course_access.updated course_access:3:2'], $subjects['00059_core_event_course_viewed.json']);
        $this->assertSame(['enrolment.deleted enrolment:4:2', 'course_completion.updated course_completion:4:2',
            'course_summary.updated course_summary:2'], $subjects['00078_core_event_user_enrolment_deleted.json']);
        $this->assertSame(['user.deleted user:5'], $subjects['00085_core_event_user_deleted.json']);
        $this->assertArrayNotHasKey('00057_core_event_user_login_failed.json', $subjects);
        $this->assertSame(['attendance.recorded attendance:1', 'course_summary.updated course_summary:2'],
            $subjects['00264_mod_attendance_event_attendance_taken.json']);
        $this->assertSame(['consent.updated consent:3:1'], $subjects['00291_tool_policy_event_acceptance_created.json']);
    }

    public function test_user_deleted_keeps_the_only_copy_of_username_and_email(): void {
        $dump = $this->dumps()['00085_core_event_user_deleted.json'];
        $entry = event_map::entries($dump['data'])[0];
        $this->assertSame(['username' => 'student3', 'email' => 'student3@example.invalid', 'idnumber' => 'EXT-003'],
            $entry['snapshot']);
        $this->assertSame(5, $entry['userid']);
    }

    public function test_an_attendance_row_keeps_no_event_that_names_the_student_who_took_it(): void {
        $taken = $this->dumps()['00264_mod_attendance_event_attendance_taken.json']['data'];
        // attendance_taken_by_student is the same event, fired by the student marking themselves.
        $bystudent = ['eventname' => '\\mod_attendance\\event\\attendance_taken_by_student', 'userid' => 4] + $taken;
        foreach ([$taken, $bystudent] as $data) {
            $entry = event_map::entries($data)[0];
            $this->assertSame('attendance:' . $data['other']['sessionid'], $entry['subject']);
            $this->assertNull($entry['userid']);
            $this->assertNull($entry['eventdata']);
            $this->assertSame(['courseid' => (int) $data['courseid']], $entry['snapshot']);
        }
    }

    public function test_groups_cover_every_message_type(): void {
        $this->assertSame('enrolments', event_map::group('enrolment.deleted'));
        $this->assertSame('completions', event_map::group('course_completion.updated'));
        $this->assertSame('consent', event_map::group('consent.updated'));
        $this->assertSame('courses', event_map::group('activity.deleted'));
        $this->assertSame('grades', event_map::group('grade_item.deleted'));
        $this->assertSame('completions', event_map::group('module_completion.deleted'));
        $this->assertSame('completions', event_map::group('course_completion.deleted'));
        $this->assertSame('attendance', event_map::group('attendance.deleted'));
    }

    /**
     * No dump recorded a course_module_deleted: this one has the shape of the recorded
     * course_module_created (00032) with what course_delete_module() in Moodle 4.3 puts in it.
     */
    public function test_a_deleted_activity_keeps_its_course_module_and_instance(): void {
        $created = $this->dumps()['00032_core_event_course_module_created.json']['data'];
        $data = array_merge($created, ['eventname' => '\\core\\event\\course_module_deleted', 'action' => 'deleted',
            'crud' => 'd', 'other' => ['modulename' => 'assign', 'instanceid' => '1'], 'timecreated' => 1795344090]);
        $entries = event_map::entries($data);
        $this->assertCount(2, $entries);
        $this->assertSame('course_summary:2', $entries[1]['subject']);
        $this->assertSame('activity.deleted', $entries[0]['type']);
        $this->assertSame('activity:2', $entries[0]['subject']);
        $this->assertNull($entries[0]['userid']);
        $this->assertSame(['courseid' => 2, 'modname' => 'assign', 'instance' => 1], $entries[0]['snapshot']);
        $this->assertSame($data, $entries[0]['eventdata']);
    }

    /**
     * No dump recorded a grade_item_deleted: these have the shape of the recorded grade_item_created
     * (00031: the assignment's item; 00054: a manual item). Moodle 4.3's grade_item_deleted extends it and
     * carries the same `other` (itemname, itemtype, itemmodule); the item's instance only travels in the
     * grade item object the event was created from, which the observer hands over as the snapshot.
     */
    public function test_a_deleted_grade_item_keeps_what_its_event_carries(): void {
        $deleted = function(array $created): array {
            return array_merge($created, ['eventname' => '\\core\\event\\grade_item_deleted', 'action' => 'deleted',
                'crud' => 'd', 'timecreated' => 1795344090]);
        };
        $dumps = $this->dumps();
        $assign = event_map::entries($deleted($dumps['00031_core_event_grade_item_created.json']['data']),
            ['iteminstance' => '1']);
        $this->assertCount(2, $assign);
        $this->assertSame('course_summary.updated', $assign[1]['type']);
        $this->assertSame('grade_item.deleted', $assign[0]['type']);
        $this->assertSame('grade_item:2', $assign[0]['subject']);
        $this->assertNull($assign[0]['userid']);
        $this->assertSame(['courseid' => 2, 'itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => 1,
            'itemname' => 'Essay 1'], $assign[0]['snapshot']);
        $manual = event_map::entries($deleted($dumps['00054_core_event_grade_item_created.json']['data']));
        $this->assertSame('grade_item:3', $manual[0]['subject']);
        $this->assertSame(['courseid' => 2, 'itemtype' => 'manual', 'itemmodule' => null, 'itemname' => 'Oral exam'],
            $manual[0]['snapshot']);
    }

    /**
     * No dump recorded a group_updated or group_deleted: these have the shape of the recorded group_created
     * (00022) with what groups_update_group() and groups_delete_group() in Moodle 4.3 put in them. The
     * members come from the observer (a deleted group's are gone: every enrolled user of the course).
     */
    public function test_a_renamed_or_deleted_group_re_sends_the_enrolments_it_concerns(): void {
        $created = $this->dumps()['00022_core_event_group_created.json']['data'];
        foreach (['updated' => 'u', 'deleted' => 'd'] as $action => $crud) {
            $data = array_merge($created, ['eventname' => "\\core\\event\\group_$action", 'action' => $action,
                'crud' => $crud, 'timecreated' => 1795344090]);
            $entries = array_slice(event_map::entries($data, ['members' => ['3', '5', '3']]), 1);
            $this->assertSame(['enrolment.updated enrolment:3:2', 'enrolment.updated enrolment:5:2'],
                array_map(function($entry) {
                    return $entry['type'] . ' ' . $entry['subject'];
                }, $entries), $action);
            $this->assertSame([3, 5], array_column($entries, 'userid'));
            $this->assertNull($entries[0]['snapshot']);
            // Only the group's own message is left without members (GroupMessagesTest).
            $this->assertSame(["group.$action"], array_column(event_map::entries($data, ['members' => []]), 'type'));
            $this->assertSame(["group.$action"], array_column(event_map::entries($data), 'type'));
        }
    }

    /** The observers listen to the group events the map handles. */
    public function test_the_group_events_are_observed(): void {
        defined('MOODLE_INTERNAL') || define('MOODLE_INTERNAL', true);
        include(CRMSYNC_REPO . '/moodle_plugin/db/events.php');
        $observed = array_column($observers, 'eventname');
        $this->assertContains('\\core\\event\\group_created', $observed);
        $this->assertContains('\\core\\event\\group_updated', $observed);
        $this->assertContains('\\core\\event\\group_deleted', $observed);
    }
}
