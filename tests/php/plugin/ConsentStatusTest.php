<?php
use local_crmsync\local\event_map;
use local_crmsync\local\state_reader;
use PHPUnit\Framework\TestCase;

require_once(__DIR__ . '/contract_schema.php');
require_once(__DIR__ . '/memory_state_source.php');

/**
 * A learner's answer to a policy, told from tool_policy's own record of it: the recorded Moodle 4.3 consent
 * flow (moodle-4.3-events-2, 00291-00301, with its tables and standard log), and the histories tool_policy
 * also produces whose timestamps mislead (a revoked decline, a withdrawal within the second of the
 * acceptance, a backfill).
 */
final class ConsentStatusTest extends TestCase {
    /** @var contract_schema */
    private static $schema;
    /** @var memory_state_source */
    private $moodle;
    /** @var array the recorded standard log rows (tool_policy's) */
    private $log;

    public static function setUpBeforeClass(): void {
        self::$schema = new contract_schema();
    }

    protected function setUp(): void {
        $this->moodle = new memory_state_source();
        foreach ($this->fixture('_policy_tables.json')['tool_policy_versions'] as $version) {
            $this->moodle->versions[(int) $version['id']] = (object) $version;
        }
        $this->log = array_values(array_filter($this->fixture('_logstore_standard_log.json'), function($row) {
            return $row['objecttable'] === 'tool_policy_acceptances';
        }));
    }

    private function fixture(string $name): array {
        $file = CRMSYNC_SHARED . "/fixtures/moodle-4.3-events-2/$name";
        $this->assertFileExists($file, 'the recorded event dumps were not found beside the repository');
        return json_decode(file_get_contents($file), true);
    }

    /** The standard log as Moodle holds it up to a time: `other` decoded as logstore_standard's reader does. */
    private function log_until(int $time): array {
        return array_values(array_map(function($row) {
            return ['other' => json_decode($row['other'], true)] + $row;
        }, array_filter($this->log, function($row) use ($time) {
            return (int) $row['timecreated'] <= $time;
        })));
    }

    /**
     * The consent message of an outbox row, built with the acceptance as it stands and the log as it is.
     *
     * @param array $acceptance the tool_policy_acceptances row now
     * @param array|null $event the row's eventdata (null for a backfilled row)
     * @return array the message's data
     */
    private function send(array $acceptance, ?array $event): array {
        $this->moodle->acceptances["{$acceptance['userid']}:{$acceptance['policyversionid']}"] = (object) $acceptance;
        $subject = "consent:{$acceptance['userid']}:{$acceptance['policyversionid']}";
        $row = (object) ['id' => '9', 'messageid' => '3f0c8c1e-6f0e-4c1b-9a59-5f0c8e1c2d3a', 'type' => 'consent.updated',
            'subject' => $subject, 'eventdata' => $event === null ? null : json_encode($event), 'snapshot' => null,
            'timecreated' => (string) ($event['timecreated'] ?? $acceptance['timemodified'])];
        $message = state_reader::message($row, 1795345200000001, $this->moodle);
        $this->assertSame([], self::$schema->errors($message));
        return $message['data'];
    }

    public function test_the_recorded_consent_flow(): void {
        $answers = [];
        foreach (glob(CRMSYNC_SHARED . '/fixtures/moodle-4.3-events-2/*_tool_policy_event_acceptance_*.json') as $file) {
            $dump = json_decode(file_get_contents($file), true);
            $entry = event_map::entries($dump['data'])[0];
            $this->moodle->standardlog = $this->log_until((int) $dump['data']['timecreated']);
            $acceptance = reset($dump['attached_record_snapshots']['tool_policy_acceptances']);
            $data = $this->send($acceptance, $entry['eventdata']);
            $answers[basename($file)] = [$entry['subject'], $data['status'], $data['optional'], $data['onbehalfof']];
        }
        $this->assertSame([
            '00291_tool_policy_event_acceptance_created.json' => ['consent:3:1', 'accepted', false, false],
            '00292_tool_policy_event_acceptance_created.json' => ['consent:3:2', 'accepted', true, false],
            '00293_tool_policy_event_acceptance_created.json' => ['consent:6:1', 'accepted', false, true],
            '00297_tool_policy_event_acceptance_created.json' => ['consent:4:1', 'accepted', false, false],
            // The web consent form's decline of the optional policy: acceptance_created with status 0.
            '00298_tool_policy_event_acceptance_created.json' => ['consent:4:2', 'declined', true, false],
            // decline_policies() on an accepted row, and an admin's revoke_acceptance().
            '00300_tool_policy_event_acceptance_updated.json' => ['consent:3:2', 'withdrawn', true, false],
            '00301_tool_policy_event_acceptance_updated.json' => ['consent:4:1', 'withdrawn', false, true],
        ], $answers);
    }

    /** A row sent after Moodle changed the acceptance again answers with the acceptance as it is now. */
    public function test_the_answer_is_the_acceptances_current_one(): void {
        $dump = $this->fixture('00292_tool_policy_event_acceptance_created.json');
        $this->moodle->standardlog = $this->log_until(1795345165);
        $withdrawn = $this->fixture('_policy_tables.json')['tool_policy_acceptances'][1];
        $this->assertSame('2', $withdrawn['id']);
        $data = $this->send($withdrawn, $dump['data']);
        $this->assertSame('withdrawn', $data['status']);
        $this->assertSame(1795345165, $data['timemodified']);
    }

    /**
     * The consent page revokes the acceptance of a policy it showed but the learner left unanswered
     * (page_agreedocs::accept_and_revoke_policies()): of a declined row too. The row's timemodified moves,
     * the learner never accepted: still a decline.
     */
    public function test_a_revoked_decline_stays_a_decline(): void {
        $declined = $this->fixture('00298_tool_policy_event_acceptance_created.json');
        $revoked = $this->fixture('00301_tool_policy_event_acceptance_updated.json')['data'];
        $revoked = array_merge($revoked, ['objectid' => 5, 'userid' => '4', 'relateduserid' => '4',
            'contextinstanceid' => '4', 'other' => ['policyversionid' => '2', 'note' => null, 'status' => 0],
            'timecreated' => 1795345170]);
        $this->moodle->standardlog = array_merge($this->log_until(1795345165),
            [['eventname' => $revoked['eventname'], 'objecttable' => 'tool_policy_acceptances', 'objectid' => '5',
                'other' => $revoked['other'], 'timecreated' => '1795345170']]);
        $acceptance = ['timemodified' => 1795345170, 'usermodified' => '4']
            + reset($declined['attached_record_snapshots']['tool_policy_acceptances']);
        $this->assertSame('declined', $this->send($acceptance, $revoked)['status']);
    }

    /** Accepted and withdrawn within one second: the times are equal, the events tell the withdrawal. */
    public function test_a_withdrawal_within_the_second_of_the_acceptance_is_a_withdrawal(): void {
        $withdrawal = $this->fixture('00300_tool_policy_event_acceptance_updated.json')['data'];
        $acceptance = ['id' => '2', 'policyversionid' => '2', 'userid' => '3', 'status' => '0', 'lang' => 'en',
            'usermodified' => '3', 'timecreated' => '1795345143', 'timemodified' => '1795345143', 'note' => null];
        $withdrawal['timecreated'] = 1795345143;
        $this->moodle->standardlog = $this->log_until(1795345143);
        $this->assertSame('withdrawn', $this->send($acceptance, $withdrawal)['status']);
        // Without the log too: an update to 0 with no creation in view takes back an acceptance Moodle's
        // sign-up inserted without an event.
        $this->moodle->standardlog = [];
        $this->assertSame('withdrawn', $this->send($acceptance, $withdrawal)['status']);
    }

    /** A backfilled row has no event: the standard log tells, and without it nothing says it was accepted. */
    public function test_a_backfilled_consent_reads_the_log_and_without_it_is_a_decline(): void {
        $row = $this->fixture('_policy_tables.json')['tool_policy_acceptances'][1];
        $this->assertGreaterThan((int) $row['timecreated'], (int) $row['timemodified']);
        $this->moodle->standardlog = $this->log_until(1795345175);
        $this->assertSame('withdrawn', $this->send($row, null)['status']);
        $this->moodle->standardlog = [];
        $this->assertSame('declined', $this->send($row, null)['status']);
    }
}
