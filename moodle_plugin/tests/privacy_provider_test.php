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
}
