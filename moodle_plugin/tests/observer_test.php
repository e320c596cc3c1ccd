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
 * Observers write the right outbox rows, and the delivery task posts them (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\observer
 */
final class observer_test extends \advanced_testcase {
    /**
     * @return array subjects of pending outbox rows, by type
     */
    private function outbox(): array {
        global $DB;
        $rows = [];
        foreach ($DB->get_records('local_crmsync_outbox', ['status' => 'pending'], 'id') as $row) {
            $rows[] = $row->type . ' ' . $row->subject;
        }
        return $rows;
    }

    public function test_enrolling_a_new_user_records_user_and_enrolment(): void {
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $course = $this->getDataGenerator()->create_course();
        $user = $this->getDataGenerator()->create_user();
        $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        $rows = $this->outbox();
        $this->assertContains("user.created user:{$user->id}", $rows);
        $this->assertContains("course.created course:{$course->id}", $rows);
        $this->assertContains("enrolment.created enrolment:{$user->id}:{$course->id}", $rows);
    }

    public function test_message_carries_current_state_at_sending_time(): void {
        global $DB;
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $course = $this->getDataGenerator()->create_course(['shortname' => 'CRM101']);
        $user = $this->getDataGenerator()->create_user(['firstname' => 'Alice']);
        $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "enrolment:{$user->id}:{$course->id}",
            'type' => 'enrolment.created']);
        $message = local\state_reader::message($row, 1795344100000042);
        $this->assertSame('active', $message['data']['status']);
        $this->assertSame(['student'], $message['data']['roles']);
        $this->assertSame('CRM101', $message['data']['course']['shortname']);
        // The sequence is the one assigned at sending time, not the row id; the message id is the row's.
        $this->assertSame(1795344100000042, $message['sequence']);
        $this->assertSame($row->messageid, $message['id']);
    }

    public function test_sequences_move_forward_across_a_database_restore_and_a_reinstall(): void {
        $this->resetAfterTest();
        $outbox = new local\moodle_outbox();
        unset_config('lastsequence', 'local_crmsync');
        $this->assertSame(1795344100000000, $outbox->allocate_sequences(3, 1795344100000000));
        $this->assertSame('1795344100000002', get_config('local_crmsync', 'lastsequence'));
        // A clock that lags (or a burst within one microsecond) still counts up.
        $this->assertSame(1795344100000003, $outbox->allocate_sequences(1, 1795344000000000));

        // Moodle's database restored from an older backup: the stored last sequence goes back too.
        set_config('lastsequence', '1795340000000000', 'local_crmsync');
        $restored = $outbox->allocate_sequences(1, 1795344160000000);
        $this->assertGreaterThan(1795344100000003, $restored);

        // The plugin uninstalled and installed again: nothing is stored.
        unset_config('lastsequence', 'local_crmsync');
        $this->assertGreaterThan($restored, $outbox->allocate_sequences(1, 1795344220000000));
    }

    public function test_an_unenrolment_and_a_deleted_activity_are_sent_as_deletions(): void {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/course/lib.php');
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $course = $this->getDataGenerator()->create_course(['shortname' => 'CRM101', 'enablecompletion' => 1]);
        $user = $this->getDataGenerator()->create_user();
        $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        $page = $this->getDataGenerator()->create_module('page', ['course' => $course->id]);
        $instance = $DB->get_record('enrol', ['courseid' => $course->id, 'enrol' => 'manual'], '*', MUST_EXIST);
        enrol_get_plugin('manual')->unenrol_user($instance, $user->id);
        course_delete_module($page->cmid);

        $sent = [];
        $sequence = 1795344100000000;
        foreach ($DB->get_records('local_crmsync_outbox', ['status' => 'pending'], 'id') as $row) {
            // The newest row of each subject is the one sent.
            $sent[$row->subject] = local\state_reader::message($row, $sequence++);
        }
        $enrolment = $sent["enrolment:{$user->id}:{$course->id}"];
        $this->assertSame('enrolment.deleted', $enrolment['type']);
        $this->assertSame('deleted', $enrolment['data']['status']);
        $this->assertSame('CRM101', $enrolment['data']['course']['shortname']);
        $completion = $sent["course_completion:{$user->id}:{$course->id}"];
        $this->assertSame('course_completion.deleted', $completion['type']);
        $this->assertSame(['userid' => (int) $user->id, 'courseid' => (int) $course->id, 'deleted' => true], $completion['data']);
        $activity = $sent["activity:{$page->cmid}"];
        $this->assertSame('activity.deleted', $activity['type']);
        $this->assertSame(['courseid' => (int) $course->id, 'modname' => 'page', 'instance' => (int) $page->id],
            array_intersect_key($activity['data'], ['courseid' => 0, 'modname' => 0, 'instance' => 0]));
    }

    public function test_a_deleted_graded_activity_sends_its_grade_item_and_grades_as_deletions(): void {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/course/lib.php');
        require_once($CFG->libdir . '/gradelib.php');
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $course = $this->getDataGenerator()->create_course();
        $user = $this->getDataGenerator()->create_user();
        $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        $assign = $this->getDataGenerator()->create_module('assign', ['course' => $course->id]);
        $item = \grade_item::fetch(['itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => $assign->id,
            'courseid' => $course->id]);
        $item->update_final_grade($user->id, 70, 'test');
        course_delete_module($assign->cmid);

        $sent = [];
        $sequence = 1795344100000000;
        foreach ($DB->get_records('local_crmsync_outbox', ['status' => 'pending'], 'id') as $row) {
            $sent[$row->subject] = local\state_reader::message($row, $sequence++);
        }
        $this->assertSame('grade_item.deleted', $sent["grade_item:{$item->id}"]['type']);
        $this->assertSame(['id' => (int) $item->id, 'courseid' => (int) $course->id, 'itemtype' => 'mod',
            'itemmodule' => 'assign', 'iteminstance' => (int) $assign->id, 'itemname' => $assign->name, 'deleted' => true],
            $sent["grade_item:{$item->id}"]['data']);
        $this->assertSame('grade.deleted', $sent["grade:{$user->id}:{$item->id}"]['type']);
        $this->assertSame(['userid' => (int) $user->id, 'courseid' => (int) $course->id, 'itemid' => (int) $item->id,
            'deleted' => true], $sent["grade:{$user->id}:{$item->id}"]['data']);
        $this->assertSame(['id' => (int) $assign->cmid, 'courseid' => (int) $course->id, 'modname' => 'assign',
            'instance' => (int) $assign->id, 'deleted' => true], $sent["activity:{$assign->cmid}"]['data']);
    }

    public function test_course_views_are_coalesced(): void {
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $course = $this->getDataGenerator()->create_course();
        $user = $this->getDataGenerator()->create_user();
        $this->setUser($user);
        $context = \context_course::instance($course->id);
        for ($i = 0; $i < 3; $i++) {
            \core\event\course_viewed::create(['context' => $context])->trigger();
        }
        $views = array_filter($this->outbox(), function($row) {
            return strpos($row, 'course_access.updated') === 0;
        });
        $this->assertCount(1, $views);
    }

    public function test_switched_off_groups_are_not_recorded(): void {
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        set_config('eventgroups', 'enrolments', 'local_crmsync');
        $user = $this->getDataGenerator()->create_user();
        $this->assertNotContains("user.created user:{$user->id}", $this->outbox());
    }

    public function test_delivery_without_receiver_keeps_rows_and_schedules_a_retry(): void {
        global $DB;
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        set_config('receiverurl', 'http://127.0.0.1:1/webhooks/moodle', 'local_crmsync');
        set_config('secret', \local_crmsync\webhook\signer::generate_secret(), 'local_crmsync');
        set_config('curlsecurityblockedhosts', '', 'core');
        $user = $this->getDataGenerator()->create_user();
        $counts = local\sender::run();
        $this->assertSame(0, $counts['delivered']);
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "user:{$user->id}"]);
        $this->assertSame('pending', $row->status);
        $this->assertGreaterThan(time(), (int) $row->nextattempt);
        $this->assertNotEmpty($row->lasterror);
    }
}
