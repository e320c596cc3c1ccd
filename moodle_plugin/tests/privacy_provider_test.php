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

use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\writer;
use local_crmsync\privacy\provider;

/**
 * The privacy provider exports and deletes a user's outbox rows (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\privacy\provider
 */
final class privacy_provider_test extends \core_privacy\tests\provider_testcase {
    public function test_export_and_delete(): void {
        global $DB;
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        $user = $this->getDataGenerator()->create_user();
        $other = $this->getDataGenerator()->create_user();
        $context = \context_system::instance();
        $list = new approved_contextlist($user, 'local_crmsync', [$context->id]);

        provider::export_user_data($list);
        $exported = writer::with_context($context)->get_data([get_string('pluginname', 'local_crmsync')]);
        $this->assertSame('user.created', $exported->messages[0]->type);

        provider::delete_data_for_user($list);
        $this->assertSame(0, $DB->count_records('local_crmsync_outbox', ['userid' => $user->id]));
        $this->assertSame(1, $DB->count_records('local_crmsync_outbox', ['userid' => $other->id]));
    }

    public function test_deleting_a_student_leaves_no_row_that_names_them_after_they_took_their_own_attendance(): void {
        global $DB;
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $student = $generator->create_user();
        $generator->enrol_user($student->id, $course->id, 'student');
        $attendance = $generator->create_module('attendance', ['course' => $course->id]);
        $session = $DB->insert_record('attendance_sessions', ['attendanceid' => $attendance->id, 'sessdate' => time(),
            'duration' => 3600, 'lasttaken' => time(), 'lasttakenby' => $student->id, 'timemodified' => time(),
            'description' => '', 'descriptionformat' => FORMAT_HTML, 'studentscanmark' => 1]);
        $DB->delete_records('local_crmsync_outbox');
        // As mod_attendance's structure::take_from_student() fires it: the event's userid is the student.
        $this->setUser($student);
        \mod_attendance\event\attendance_taken_by_student::create(['objectid' => $attendance->id,
            'context' => \context_module::instance($attendance->cmid),
            'other' => ['sessionid' => $session, 'grouptype' => 0]])->trigger();
        $this->setAdminUser();
        $this->assertTrue($DB->record_exists('local_crmsync_outbox', ['subject' => "attendance:$session"]));

        $system = \context_system::instance();
        provider::delete_data_for_user(new approved_contextlist($student, 'local_crmsync', [$system->id]));
        foreach ($DB->get_records('local_crmsync_outbox') as $row) {
            $event = json_decode((string) $row->eventdata, true);
            $this->assertNotEquals($student->id, $event['userid'] ?? null, "$row->subject names the deleted student");
            $this->assertNotEquals($student->id, $event['relateduserid'] ?? null, "$row->subject names the deleted student");
        }
        // The session's message still goes out, with the course it belongs to.
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "attendance:$session"]);
        $this->assertSame(['courseid' => (int) $course->id], json_decode($row->snapshot, true));
    }
}
