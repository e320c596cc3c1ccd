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

use tool_policy\api;
use tool_policy\test\helper;

/**
 * A learner's answer to a policy, from tool_policy's acceptance and its events, as tool_policy itself
 * records them (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\state_reader
 * @covers     \local_crmsync\local\moodle_state_source
 */
final class consent_test extends \advanced_testcase {
    /** @var int[] policy version ids: site (compulsory), marketing (optional) */
    private $site, $marketing;

    protected function setUp(): void {
        parent::setUp();
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        // Moodle's standard log, written at once: where a withdrawal is told from a decline for a row without
        // an event.
        set_config('enabled_stores', 'logstore_standard', 'tool_log');
        set_config('buffersize', 0, 'logstore_standard');
        get_log_manager(true);
        set_config('sitepolicyhandler', 'tool_policy');
        $this->setAdminUser();
        $site = helper::add_policy(['name' => 'Site policy', 'revision' => 'v1']);
        api::make_current($site->get('id'));
        $marketing = helper::add_policy(['name' => 'Marketing', 'revision' => 'v2', 'optional' => 1]);
        api::make_current($marketing->get('id'));
        $this->site = (int) $site->get('id');
        $this->marketing = (int) $marketing->get('id');
    }

    /**
     * The newest pending row of a consent subject, sent now.
     *
     * @param int $userid
     * @param int $versionid
     * @param bool $withevent false: as a backfilled row, without the event's data
     * @return array the message's data
     */
    private function send(int $userid, int $versionid, bool $withevent = true): array {
        global $DB;
        $rows = $DB->get_records('local_crmsync_outbox', ['subject' => "consent:$userid:$versionid", 'status' => 'pending'],
            'id DESC', '*', 0, 1);
        $this->assertNotEmpty($rows, "no consent row for user $userid, version $versionid");
        $row = reset($rows);
        if (!$withevent) {
            $row->eventdata = null;
        }
        $message = local\state_reader::message($row, 1795344100000001);
        $this->assertSame('consent.updated', $message['type']);
        return $message['data'];
    }

    public function test_acceptances_declines_and_withdrawals_as_tool_policy_records_them(): void {
        $generator = $this->getDataGenerator();
        [$accepts, $withdraws, $declines, $comesback] = [$generator->create_user(), $generator->create_user(),
            $generator->create_user(), $generator->create_user()];

        $this->setUser($accepts);
        api::accept_policies([$this->site, $this->marketing]);
        // Accepted and withdrawn within the same second: the acceptance's times are equal.
        $this->setUser($withdraws);
        api::accept_policies([$this->site, $this->marketing]);
        api::decline_policies([$this->marketing]);
        // A decline, then the consent page's revoke of the policy shown but not answered: the row's
        // timemodified moves, the learner never accepted.
        $this->setUser($declines);
        api::accept_policies([$this->site]);
        api::decline_policies([$this->marketing]);
        $this->waitForSecond();
        api::revoke_acceptance($this->marketing, $declines->id);
        // Withdrawn, then accepted again.
        $this->setUser($comesback);
        api::accept_policies([$this->marketing]);
        api::decline_policies([$this->marketing]);
        api::accept_policies([$this->marketing]);

        $answers = [];
        foreach ([$accepts, $withdraws, $declines, $comesback] as $user) {
            foreach ([$this->site, $this->marketing] as $version) {
                if ($user === $comesback && $version === $this->site) {
                    continue;
                }
                $data = $this->send((int) $user->id, $version);
                $answers[] = [$user->username, $data['policyname'], $data['status'], $data['optional']];
            }
        }
        $this->assertSame([
            [$accepts->username, 'Site policy', 'accepted', false], [$accepts->username, 'Marketing', 'accepted', true],
            [$withdraws->username, 'Site policy', 'accepted', false], [$withdraws->username, 'Marketing', 'withdrawn', true],
            [$declines->username, 'Site policy', 'accepted', false], [$declines->username, 'Marketing', 'declined', true],
            [$comesback->username, 'Marketing', 'accepted', true],
        ], $answers);
    }

    /** A backfilled row has no event: Moodle's standard log tells, and without it nothing says it was accepted. */
    public function test_a_row_without_its_event_reads_the_standard_log(): void {
        global $DB;
        $user = $this->getDataGenerator()->create_user();
        $this->setUser($user);
        api::accept_policies([$this->marketing]);
        $this->waitForSecond();
        api::decline_policies([$this->marketing]);
        $this->assertSame('withdrawn', $this->send((int) $user->id, $this->marketing, false)['status']);

        $acceptance = $DB->get_record('tool_policy_acceptances', ['userid' => $user->id, 'policyversionid' => $this->marketing]);
        $DB->delete_records('logstore_standard_log', ['objecttable' => 'tool_policy_acceptances',
            'objectid' => $acceptance->id]);
        $this->assertGreaterThan((int) $acceptance->timecreated, (int) $acceptance->timemodified);
        $this->assertSame('declined', $this->send((int) $user->id, $this->marketing, false)['status']);
        // The row's own event still tells.
        $this->assertSame('withdrawn', $this->send((int) $user->id, $this->marketing)['status']);
    }
}
