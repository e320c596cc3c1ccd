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
 * Upgrading from the previous release (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
final class upgrade_test extends \advanced_testcase {
    /**
     * Run db/upgrade.php from the given version, as Moodle's upgrade would.
     *
     * @param int $from
     */
    private function upgrade_from(int $from): void {
        global $CFG;
        require_once($CFG->libdir . '/upgradelib.php');
        require_once(__DIR__ . '/../db/upgrade.php');
        set_config('version', $from, 'local_crmsync');
        $this->assertTrue(xmldb_local_crmsync_upgrade($from));
    }

    /**
     * @covers ::xmldb_local_crmsync_upgrade
     */
    public function test_a_stored_pause_is_removed_and_no_pause_message_provider_is_left(): void {
        global $DB;
        $this->resetAfterTest();
        set_config('paused', 'The receiver answered 410 Gone: delivery is paused until an admin resumes it.',
            'local_crmsync');
        $this->upgrade_from(2026112600);
        $this->assertFalse(get_config('local_crmsync', 'paused'));
        // The only provider left is the reconciliation's (db/messages.php).
        $this->assertSame(['reconciliation'], array_values($DB->get_fieldset_select('message_providers', 'name',
            'component = ?', ['local_crmsync'])));
    }

    /**
     * @covers ::xmldb_local_crmsync_upgrade
     */
    public function test_new_settings_get_their_defaults_and_what_to_send_stays_unsaved(): void {
        $this->resetAfterTest();
        unset_config('secretoverlapdays', 'local_crmsync');
        unset_config('maxbatchkb', 'local_crmsync');
        unset_config('eventgroups', 'local_crmsync');
        set_config('batchsize', 50, 'local_crmsync');
        $this->upgrade_from(2026112600);
        $this->assertSame('7', get_config('local_crmsync', 'secretoverlapdays'));
        $this->assertSame('512', get_config('local_crmsync', 'maxbatchkb'));
        $this->assertFalse(get_config('local_crmsync', 'eventgroups'));  // never saved: every group is sent
        $this->assertSame('50', get_config('local_crmsync', 'batchsize'));
    }

    /**
     * @covers ::xmldb_local_crmsync_upgrade
     */
    public function test_settings_an_admin_saved_are_kept(): void {
        $this->resetAfterTest();
        set_config('secretoverlapdays', 0, 'local_crmsync');
        set_config('maxbatchkb', 900, 'local_crmsync');
        $this->upgrade_from(2026112600);
        $this->assertSame('0', get_config('local_crmsync', 'secretoverlapdays'));
        $this->assertSame('900', get_config('local_crmsync', 'maxbatchkb'));
    }

    /**
     * @covers ::xmldb_local_crmsync_upgrade
     */
    public function test_attendance_rows_recorded_before_keep_their_course_but_no_longer_the_event(): void {
        global $DB;
        $this->resetAfterTest();
        $event = ['eventname' => '\\mod_attendance\\event\\attendance_taken_by_student', 'userid' => 42,
            'courseid' => 7, 'other' => ['sessionid' => 3]];
        $row = ['messageid' => 'id', 'subject' => 'attendance:3', 'userid' => null, 'snapshot' => null, 'status' => 'pending',
            'attempts' => 0, 'nextattempt' => 0, 'timecreated' => time()];
        $attendance = $DB->insert_record('local_crmsync_outbox', $row + ['type' => 'attendance.recorded',
            'eventdata' => json_encode($event)]);
        $other = $DB->insert_record('local_crmsync_outbox', ['messageid' => 'id2', 'type' => 'user.updated',
            'subject' => 'user:42', 'userid' => 42, 'eventdata' => json_encode(['userid' => 42])] + $row);
        $this->upgrade_from(2026120101);
        $upgraded = $DB->get_record('local_crmsync_outbox', ['id' => $attendance]);
        $this->assertNull($upgraded->eventdata);
        $this->assertSame(['courseid' => 7], json_decode($upgraded->snapshot, true));
        $this->assertSame(json_encode(['userid' => 42]), $DB->get_field('local_crmsync_outbox', 'eventdata', ['id' => $other]));
    }
}
