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
 * A group reaches the CRM as itself (group.updated / group.deleted) and through its members' enrolments
 * when it is renamed or deleted (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\observer
 */
final class group_events_test extends \advanced_testcase {
    /**
     * A course with three enrolled users, two of them in a group, and an empty outbox.
     *
     * @return array [course, users, group]
     */
    private function course_with_group(): array {
        global $DB;
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $users = [];
        for ($i = 0; $i < 3; $i++) {
            $users[] = $user = $generator->create_user();
            $generator->enrol_user($user->id, $course->id, $i === 2 ? 'editingteacher' : 'student');
        }
        $group = $generator->create_group(['courseid' => $course->id, 'name' => 'Group A']);
        $generator->create_group_member(['groupid' => $group->id, 'userid' => $users[0]->id]);
        $generator->create_group_member(['groupid' => $group->id, 'userid' => $users[1]->id]);
        $DB->delete_records('local_crmsync_outbox');
        return [$course, $users, $group];
    }

    /**
     * @return string[] subjects of the pending enrolment rows
     */
    private function enrolment_subjects(): array {
        global $DB;
        $subjects = $DB->get_fieldset_select('local_crmsync_outbox', 'subject', "status = 'pending' AND type = ?",
            ['enrolment.updated']);
        sort($subjects);
        return $subjects;
    }

    /**
     * The message the pending row of a group becomes when sent.
     *
     * @param int $groupid
     * @return array
     */
    private function group_message(int $groupid): array {
        global $DB;
        $rows = $DB->get_records('local_crmsync_outbox', ['subject' => "group:$groupid", 'status' => 'pending'], 'id DESC',
            '*', 0, 1);
        $this->assertNotEmpty($rows, "no row for group $groupid");
        return local\state_reader::message(reset($rows), 1);
    }

    public function test_a_created_group_is_sent_with_its_course_plain_description_and_member_count(): void {
        global $DB;
        [$course, $users] = $this->course_with_group();
        $group = $this->getDataGenerator()->create_group(['courseid' => $course->id, 'name' => 'R&D <evening>',
            'idnumber' => 'EV-1', 'description' => '<p>Mondays &amp; Thursdays</p><p>Room 4</p>']);
        $message = $this->group_message($group->id);
        $this->assertSame('group.updated', $message['type']);
        $this->assertSame(['R&D <evening>', 'EV-1', "Mondays & Thursdays\nRoom 4", 0, (int) $course->id],
            [$message['data']['name'], $message['data']['idnumber'], $message['data']['description'],
                $message['data']['members'], $message['data']['course']['id']]);

        // A member joins: the group is sent again with its count; the row keeps no learner's event.
        $DB->delete_records('local_crmsync_outbox');
        $this->getDataGenerator()->create_group_member(['groupid' => $group->id, 'userid' => $users[0]->id]);
        $message = $this->group_message($group->id);
        $this->assertSame(1, $message['data']['members']);
        $this->assertNull($message['moodle_event']);
    }

    public function test_a_deleted_group_is_sent_as_a_deletion_with_its_name(): void {
        global $CFG;
        require_once($CFG->dirroot . '/group/lib.php');
        [$course, , $group] = $this->course_with_group();
        groups_delete_group($group->id);
        $message = $this->group_message($group->id);
        $this->assertSame('group.deleted', $message['type']);
        $this->assertSame(['id' => (int) $group->id, 'courseid' => (int) $course->id, 'name' => 'Group A',
            'idnumber' => (string) $group->idnumber, 'deleted' => true], $message['data']);
    }

    public function test_deleting_a_course_sends_the_deletion_of_each_of_its_groups(): void {
        [$course, , $group] = $this->course_with_group();
        delete_course($course, false);
        $this->assertSame('group.deleted', $this->group_message($group->id)['type']);
    }

    public function test_renaming_a_group_re_sends_its_members_enrolments_with_the_new_name(): void {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/group/lib.php');
        [$course, $users, $group] = $this->course_with_group();
        groups_update_group((object) ['id' => $group->id, 'courseid' => $course->id, 'name' => 'Group B']);
        $expected = ["enrolment:{$users[0]->id}:{$course->id}", "enrolment:{$users[1]->id}:{$course->id}"];
        sort($expected);
        $this->assertSame($expected, $this->enrolment_subjects());
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "enrolment:{$users[0]->id}:{$course->id}"]);
        $message = local\state_reader::message($row, 1);
        $this->assertSame(['Group B'], array_column($message['data']['groups'], 'name'));
    }

    public function test_deleting_a_group_re_sends_every_enrolment_of_the_course_without_it(): void {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/group/lib.php');
        [$course, $users, $group] = $this->course_with_group();
        groups_delete_group($group->id);
        $expected = array_map(function($user) use ($course) {
            return "enrolment:{$user->id}:{$course->id}";
        }, $users);
        sort($expected);
        $this->assertSame($expected, $this->enrolment_subjects());
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "enrolment:{$users[0]->id}:{$course->id}"]);
        $this->assertSame([], local\state_reader::message($row, 1)['data']['groups']);
    }
}
