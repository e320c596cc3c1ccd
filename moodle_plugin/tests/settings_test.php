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
 * The admin settings and the status page, as Moodle's admin tree sees them (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\moodle_outbox
 */
final class settings_test extends \advanced_testcase {
    /**
     * @return int pending outbox rows about the given user
     */
    private function rows_about(int $userid): int {
        global $DB;
        return $DB->count_records('local_crmsync_outbox', ['subject' => "user:$userid"]);
    }

    public function test_unticking_every_group_on_the_settings_page_sends_nothing(): void {
        global $CFG;
        require_once($CFG->libdir . '/adminlib.php');
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $this->setAdminUser();
        admin_get_root(true, true);
        // What the settings form posts when every box is unticked: only the hidden placeholder.
        $count = admin_write_settings((object) ['s_local_crmsync_eventgroups' => ['xxxxx' => 1]]);
        $this->assertSame(1, $count);
        $this->assertSame('', get_config('local_crmsync', 'eventgroups'));
        $user = $this->getDataGenerator()->create_user();
        $this->assertSame(0, $this->rows_about($user->id));
    }

    public function test_a_setting_never_saved_sends_every_group(): void {
        $this->resetAfterTest();
        $this->preventResetByRollback();
        unset_config('eventgroups', 'local_crmsync');
        $user = $this->getDataGenerator()->create_user();
        $this->assertSame(1, $this->rows_about($user->id));
    }
}
