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
 * A renamed or deleted group reaches its members' enrolments (run inside Moodle's PHPUnit).
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
