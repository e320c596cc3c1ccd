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
 * @covers     \local_crmsync\admin\setting_secret
 * @covers     \local_crmsync\local\status_report
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

    public function test_a_user_with_only_the_capability_reaches_the_status_page_and_not_the_settings(): void {
        global $CFG;
        require_once($CFG->libdir . '/adminlib.php');
        $this->resetAfterTest();
        $system = \context_system::instance();
        $operator = $this->getDataGenerator()->create_user();
        $roleid = $this->getDataGenerator()->create_role(['shortname' => 'crmsyncoperator']);
        assign_capability('local/crmsync:manage', CAP_ALLOW, $roleid, $system->id);
        role_assign($roleid, $operator->id, $system->id);
        $this->setUser($operator);
        $this->assertFalse(has_capability('moodle/site:config', $system));
        $root = admin_get_root(true, false);
        $page = $root->locate('local_crmsync_status');
        $this->assertInstanceOf(\admin_externalpage::class, $page);
        $this->assertTrue($page->check_access());
        $this->assertSame(['local/crmsync:manage'], $page->req_capability);
        $this->assertSame('/local/crmsync/index.php', (new \moodle_url($page->url))->out_as_local_url(false));
        $this->assertNull($root->locate('local_crmsync'), 'the settings are for site admins only');

        $this->setUser($this->getDataGenerator()->create_user());
        $page = admin_get_root(true, false)->locate('local_crmsync_status');
        $this->assertTrue($page === null || !$page->check_access());

        $this->setAdminUser();
        $root = admin_get_root(true, false);
        $this->assertTrue($root->locate('local_crmsync_status')->check_access());
        $this->assertTrue($root->locate('local_crmsync')->check_access());
    }

    public function test_the_failures_table_headings_are_lang_strings(): void {
        $this->resetAfterTest();
        $row = (object) ['id' => 3, 'type' => 'user.updated', 'subject' => 'user:2', 'status' => 'failed', 'attempts' => 1,
            'lasterror' => 'HTTP 413: too large'];
        $table = local\status_report::failures_table([$row], function(string $identifier) {
            return get_string($identifier, 'local_crmsync');
        }, function(int $id) {
            return "resend $id";
        });
        $this->assertSame(['Message', 'Type', 'Subject', 'Status', 'Attempts', "Receiver's answer", 'Action'], $table['head']);
        $this->assertSame('Failed: waits for an admin', $table['data'][0][3]);
        $this->assertSame('resend 3', $table['data'][0][6]);
    }

    public function test_a_secret_typed_over_another_keeps_the_replaced_one_for_the_overlap(): void {
        global $CFG;
        require_once($CFG->libdir . '/adminlib.php');
        $this->resetAfterTest();
        $this->setAdminUser();
        $old = webhook\signer::generate_secret();
        set_config('secret', $old, 'local_crmsync');
        set_config('secretoverlapdays', 3, 'local_crmsync');
        admin_get_root(true, true);
        $new = webhook\signer::generate_secret();
        $this->assertSame(1, admin_write_settings((object) ['s_local_crmsync_secret' => $new]));
        $this->assertSame($new, get_config('local_crmsync', 'secret'));
        $previous = json_decode(get_config('local_crmsync', 'previoussecrets'), true);
        $this->assertSame($old, $previous[0]['secret']);
        $this->assertEqualsWithDelta(time() + 3 * DAYSECS, $previous[0]['until'], 60);
    }

    public function test_a_secret_that_is_not_a_whsec_secret_is_refused(): void {
        global $CFG;
        require_once($CFG->libdir . '/adminlib.php');
        $this->resetAfterTest();
        $this->setAdminUser();
        $old = webhook\signer::generate_secret();
        set_config('secret', $old, 'local_crmsync');
        $root = admin_get_root(true, true);
        admin_write_settings((object) ['s_local_crmsync_secret' => 'my-password']);
        $this->assertSame($old, get_config('local_crmsync', 'secret'));
        $this->assertArrayHasKey('s_local_crmsync_secret', admin_get_root()->errors);
    }
}
