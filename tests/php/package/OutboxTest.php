<?php
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/support/OutboxDb.php';
require_once __DIR__ . '/support/log.php';

/**
 * The CRM → Moodle channel of the SuiteCRM package: the hooks record CRM users' changes in a real
 * crmsync_outbox table (MariaDB, a database of its own per test), the delivery POSTs them to a real
 * local HTTP server (the stand-in receiver the plugin's delivery tests use).
 */
final class OutboxTest extends TestCase {
    const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    const CONTACT = 'c0ffee00-0000-4000-8000-000000000042';
    const API_USER = 'a91e0000-0000-4000-8000-0000000000a9';

    /** @var OutboxDb */
    private $db;
    private $dir;
    private $port;
    private $server;
    /** @var array record id => database row, what the state source reads */
    private $records = [];

    protected function setUp(): void {
        $this->db = OutboxDb::create();
        $dictionary = [];
        include CRMSYNC_REPO . '/suitecrm_package/templates/crmsync_outboxMetaData.php';
        $this->db->createTable($dictionary['crmsync_outbox']);
        $this->dir = sys_get_temp_dir() . '/crmsync-outbox-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $this->port = (int) substr(strrchr(stream_socket_get_name($socket, false), ':'), 1);
        fclose($socket);
        $GLOBALS['db'] = $this->db;
        $GLOBALS['log'] = new RecordingLog();
        $GLOBALS['sugar_config'] = ['crmsync' => $this->settings()];
        $GLOBALS['current_user'] = (object) ['id' => '1'];
    }

    protected function tearDown(): void {
        $this->stopReceiver();
        array_map('unlink', glob("{$this->dir}/*"));
        rmdir($this->dir);
        $this->db->drop();
        unset($GLOBALS['db'], $GLOBALS['log'], $GLOBALS['sugar_config'], $GLOBALS['current_user']);
    }

    private function settings(): array {
        return ['receiver_url' => "http://127.0.0.1:{$this->port}/webhooks/crm", 'secret' => self::SECRET,
                'api_user_id' => self::API_USER];
    }

    private function startReceiver(int $status = 202): void {
        file_put_contents("{$this->dir}/status", (string) $status);
        $this->server = proc_open(['php', '-S', "127.0.0.1:{$this->port}", CRMSYNC_REPO . '/tests/php/plugin/receiver/router.php'],
            [['pipe', 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']], $pipes, null,
            ['CRMSYNC_TEST_DIR' => $this->dir]);
        for ($i = 0; $i < 50 && !@fsockopen('127.0.0.1', $this->port); $i++) {
            usleep(100000);
        }
    }

    private function stopReceiver(): void {
        if ($this->server) {
            proc_terminate($this->server);
            proc_close($this->server);
            $this->server = null;
        }
    }

    private function rules(array $rules): void {
        file_put_contents("{$this->dir}/rules.json", json_encode($rules));
    }

    private function requests(): array {
        $file = "{$this->dir}/requests.jsonl";
        return is_file($file) ? array_map(function ($line) {
            return json_decode($line, true);
        }, file($file, FILE_IGNORE_NEW_LINES)) : [];
    }

    private function sentEvents(): array {
        $events = [];
        foreach ($this->requests() as $request) {
            foreach (json_decode($request['body'], true)['events'] as $event) {
                $events[] = $event;
            }
        }
        return $events;
    }

    private function rows(): array {
        return $this->db->rows('SELECT * FROM crmsync_outbox ORDER BY id');
    }

    /** A Contact as SuiteCRM hands it to after_save: the saved values (HTML-encoded), fetched_row as read. */
    private function contact(array $values, ?array $before, string $id = self::CONTACT): object {
        $bean = new stdClass();
        $bean->module_dir = 'Contacts';
        $bean->id = $id;
        foreach ($values as $field => $value) {
            $bean->$field = $value;
        }
        $bean->fetched_row = $before ?? false;
        return $bean;
    }

    private function save(array $values, ?array $before, string $id = self::CONTACT): void {
        (new CrmSyncHook())->afterSave($this->contact($values, $before, $id), 'after_save', ['isUpdate' => $before !== null]);
    }

    private function delivery(array $settings = [], ?callable $random = null): CrmSyncDelivery {
        return new CrmSyncDelivery(new CrmSyncOutbox($this->db), function (string $module, string $id) {
            return isset($this->records[$id]) ? CrmSyncDelivery::state(CrmSyncFields::MODULES[$module], $this->records[$id]) : null;
        }, $settings + $this->settings(), ['unique_key' => 'the-crm-unique-key', 'site_url' => 'https://crm.example.org'],
            CrmSyncFields::MODULES, $random ?? function () {
                return 0.0;
            });
    }

    /** A Contact row as the database holds it: core columns raw, _cstm columns with `&` as `&amp;`. */
    private function stored(string $id, array $values = []): void {
        $this->records[$id] = $values + ['id' => $id, 'first_name' => 'Ada', 'last_name' => "O'Neil & Co", 'email1' => 'ada@example.org',
            'department' => 'R&D', 'moodle_idnumber_c' => "O'Neil &amp; Co", 'moodle_site_id_c' => 'site-1',
            'moodle_user_id_c' => '42', 'date_modified' => '2026-12-01 10:00:00', 'deleted' => '0'];
    }

    public function test_a_save_records_one_row_and_makes_no_http_call(): void {
        $this->startReceiver(202);
        $started = microtime(true);
        $this->save(['first_name' => 'Augusta', 'last_name' => 'Lovelace'], ['first_name' => 'Ada', 'last_name' => 'Lovelace']);
        $elapsed = microtime(true) - $started;
        [$row] = $this->rows();
        $this->assertSame(['Contacts', self::CONTACT, 'save', '["first_name"]', 'waiting', '0'],
            [$row['module'], $row['record_id'], $row['action'], $row['changed'], $row['status'], $row['attempts']]);
        $this->assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/', $row['uuid']);
        $this->assertSame($row['created'], $row['next_attempt'], 'due at once');
        $this->assertSame([], $this->requests(), 'nothing is sent from the user\'s request');
        $this->assertLessThan(0.2, $elapsed);
        $this->assertSame([], $GLOBALS['log']->lines);
    }

    public function test_the_sync_api_users_saves_and_deletions_are_not_recorded(): void {
        $GLOBALS['current_user'] = (object) ['id' => self::API_USER];
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        (new CrmSyncHook())->afterDelete($this->contact([], ['first_name' => 'Ada']), 'after_delete', ['id' => self::CONTACT]);
        $this->assertSame([], $this->rows());
        $GLOBALS['current_user'] = (object) ['id' => '1'];
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        $this->assertCount(1, $this->rows());
    }

    public function test_nothing_is_recorded_until_a_receiver_is_configured(): void {
        $GLOBALS['sugar_config'] = ['crmsync' => ['receiver_url' => '']];
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        $this->assertSame([], $this->rows());
    }

    public function test_values_saved_as_they_were_are_not_changed_however_suitecrm_encodes_them(): void {
        // The edit view's save of a Contact whose name and ID number hold O'Neil & Co: the bean holds them
        // encoded twice by now, fetched_row as the columns hold them (contacts raw, contacts_cstm `&amp;`).
        $this->save(['first_name' => 'Ada', 'last_name' => 'O&#039;Neil &amp;amp; Co', 'email1' => 'ada@example.org',
                     'department' => 'Sales', 'moodle_idnumber_c' => 'O&#039;Neil &amp;amp; Co', 'title' => 'Dr'],
                    ['first_name' => 'Ada', 'last_name' => "O'Neil & Co", 'department' => 'R&amp;D',
                     'moodle_idnumber_c' => "O'Neil &amp; Co", 'title' => 'Mr']);
        $this->assertSame(['["department"]'], array_column($this->rows(), 'changed'),
            'email1 is not in fetched_row: not known to have changed; title is not synced');
    }

    public function test_a_save_that_changes_no_synced_field_records_nothing(): void {
        $this->save(['first_name' => 'Ada', 'title' => 'Dr'], ['first_name' => 'Ada', 'title' => 'Mr']);
        $this->assertSame([], $this->rows());
    }

    public function test_an_email_change_is_known_from_the_address_the_contact_was_retrieved_with(): void {
        $hook = new CrmSyncHook();
        $bean = $this->contact(['first_name' => 'Ada', 'email1' => 'ada@example.org'], ['first_name' => 'Ada']);
        $hook->afterRetrieve($bean, 'after_retrieve', []);
        $bean->email1 = 'ada@new.example.org';
        $hook->afterSave($bean, 'after_save', ['isUpdate' => true]);
        $unchanged = $this->contact(['first_name' => 'Ada', 'email1' => 'ada@example.org'], ['first_name' => 'Ada']);
        $hook->afterRetrieve($unchanged, 'after_retrieve', []);
        $hook->afterSave($unchanged, 'after_save', ['isUpdate' => true]);
        $this->assertSame(['["email1"]'], array_column($this->rows(), 'changed'));
    }

    public function test_a_failing_outbox_is_logged_at_fatal_and_never_stops_the_save(): void {
        $this->db->link->query('DROP TABLE crmsync_outbox');
        $this->save(['first_name' => 'Augusta', 'last_name' => 'Lovelace'], ['first_name' => 'Ada', 'last_name' => 'Lovelace']);
        [[$level, $message]] = $GLOBALS['log']->lines;
        $this->assertSame('fatal', $level);
        $this->assertStringContainsString('not recorded in the outbox', $message);
        $this->assertStringNotContainsString('Augusta', $message);
        $this->assertStringNotContainsString('Lovelace', $message);
    }

    public function test_the_message_carries_the_records_plain_state_when_sent_signed(): void {
        $this->startReceiver(202);
        $this->save(['first_name' => 'Ada', 'department' => 'Sales'], ['first_name' => 'Ada', 'department' => 'R&D']);
        $this->stored(self::CONTACT, ['department' => 'Sales &amp; Marketing']);  // changed again since, by the API
        $counts = $this->delivery()->run(time());
        $this->assertSame(['delivered' => 1, 'rows' => 1, 'retry' => 0, 'failed' => 0], $counts);
        [$request] = $this->requests();
        $headers = $request['headers'];
        $expected = 'v1,' . base64_encode(hash_hmac('sha256', "{$headers['webhook-id']}.{$headers['webhook-timestamp']}.{$request['body']}",
            base64_decode(substr(self::SECRET, 6)), true));
        $this->assertSame($expected, $headers['webhook-signature']);
        $this->assertSame('application/json', $headers['content-type']);
        [$row] = $this->rows();
        [$event] = json_decode($request['body'], true)['events'];
        $this->assertSame([
            'id' => $row['uuid'], 'type' => 'contact.updated', 'occurred_at' => str_replace(' ', 'T', $row['created']) . 'Z',
            'sequence' => (int) $row['id'], 'subject' => 'contact:' . self::CONTACT,
            'crm' => ['id' => substr(hash('sha256', 'the-crm-unique-key'), 0, 20), 'url' => 'https://crm.example.org'],
            'data' => ['id' => self::CONTACT, 'moodle' => ['site_id' => 'site-1', 'user_id' => 42], 'changed' => ['department'],
                       'fields' => ['first_name' => 'Ada', 'last_name' => "O'Neil & Co", 'email1' => 'ada@example.org',
                                    'department' => 'Sales & Marketing', 'moodle_idnumber_c' => "O'Neil & Co"],
                       'date_modified' => 1796119200, 'deleted' => false],
        ], $event);
        $this->assertSame(['delivered'], array_column($this->rows(), 'status'));
        $this->assertSame(0, $this->delivery()->run(time() + 3600)['delivered'], 'sent once');
    }

    public function test_a_contact_without_moodle_identity_has_moodle_null_and_a_deletion_is_contact_deleted(): void {
        $this->startReceiver(202);
        $this->save(['first_name' => 'Ada'], ['first_name' => 'Augusta'], 'c0ffee00-0000-4000-8000-000000000001');
        $this->stored('c0ffee00-0000-4000-8000-000000000001', ['moodle_site_id_c' => '', 'moodle_user_id_c' => '']);
        (new CrmSyncHook())->afterDelete($this->contact([], ['first_name' => 'Ada']), 'after_delete', ['id' => self::CONTACT]);
        $this->stored(self::CONTACT, ['deleted' => '1']);
        $this->delivery()->run(time());
        [$updated, $deleted] = $this->sentEvents();
        $this->assertNull($updated['data']['moodle']);
        $this->assertSame(['contact.deleted', ['deleted'], true, ['site_id' => 'site-1', 'user_id' => 42]],
            [$deleted['type'], $deleted['data']['changed'], $deleted['data']['deleted'], $deleted['data']['moodle']]);
    }

    public function test_rows_of_one_record_make_one_message_with_the_newest_id_and_every_change(): void {
        $this->startReceiver(202);
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        $this->save(['department' => 'Sales'], ['department' => 'R&D']);
        $this->save(['first_name' => 'Ada'], ['first_name' => 'Augusta']);
        $this->stored(self::CONTACT);
        $this->assertSame(['delivered' => 1, 'rows' => 3, 'retry' => 0, 'failed' => 0], $this->delivery()->run(time()));
        $newest = $this->rows()[2];
        [$event] = $this->sentEvents();
        $this->assertSame([$newest['uuid'], (int) $newest['id'], ['first_name', 'department']],
            [$event['id'], $event['sequence'], $event['data']['changed']]);
        $this->assertSame(['delivered', 'delivered', 'delivered'], array_column($this->rows(), 'status'));
    }

    public function test_receiver_down_keeps_the_rows_with_a_growing_capped_backoff_then_delivers_once(): void {
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        $this->stored(self::CONTACT);
        $now = 1795344000;  // 2026-11-22 10:40 UTC, a little after the change was recorded
        $this->db->link->query("UPDATE crmsync_outbox SET created = '2026-11-22 10:39:00', next_attempt = '2026-11-22 10:39:00'");
        $waits = [];
        for ($attempt = 1; $attempt <= 8; $attempt++) {
            $this->assertSame(1, $this->delivery(['backoff_base' => 60, 'backoff_cap' => 3600])->run($now)['retry']);
            [$row] = $this->rows();
            $next = strtotime($row['next_attempt'] . ' UTC');
            $waits[] = $next - $now;
            $this->assertSame(0, $this->delivery()->run($next - 1)['retry'], 'not tried again before its time');
            $now = $next;
        }
        // Half fixed, half random (here 0): 30 s, 60 s, … up to half the cap of one hour.
        $this->assertSame([30, 60, 120, 240, 480, 960, 1800, 1800], $waits);
        [$row] = $this->rows();
        $this->assertSame(['waiting', '8'], [$row['status'], $row['attempts']]);
        $this->assertStringStartsWith('no answer', $row['last_error']);

        $this->startReceiver(202);
        $this->assertSame(1, $this->delivery()->run($now)['delivered']);
        $this->assertSame(0, $this->delivery()->run($now + 7200)['delivered']);
        $this->assertCount(1, $this->requests());
        $this->assertSame(['delivered', null], [$this->rows()[0]['status'], $this->rows()[0]['last_error']]);
    }

    public function test_the_jitter_spreads_retries_between_half_and_all_of_the_backoff(): void {
        $delivery = $this->delivery(['backoff_base' => 60, 'backoff_cap' => 3600], function () {
            return 0.5;
        });
        $this->assertSame([45, 90, 2700, 2700], [$delivery->delay(1), $delivery->delay(2), $delivery->delay(7), $delivery->delay(40)]);
    }

    public function test_a_database_outage_of_the_receiver_503_is_retried(): void {
        $this->startReceiver(503);
        $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada']);
        $this->stored(self::CONTACT);
        $this->assertSame(1, $this->delivery()->run(time())['retry']);
        [$row] = $this->rows();
        $this->assertSame(['waiting', '1'], [$row['status'], $row['attempts']]);
        $this->assertStringStartsWith('HTTP 503', $row['last_error']);
    }

    public function test_a_422_fails_only_the_rows_of_the_messages_it_names(): void {
        $this->startReceiver(202);
        $ids = ['c0ffee00-0000-4000-8000-000000000001', 'c0ffee00-0000-4000-8000-000000000002', 'c0ffee00-0000-4000-8000-000000000003'];
        foreach ($ids as $id) {
            $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada'], $id);
            $this->stored($id);
        }
        $this->save(['department' => 'Sales'], ['department' => 'R&D'], $ids[1]);
        $this->rules(['invalid' => ["contact:{$ids[1]}"]]);
        $counts = $this->delivery()->run(time());
        $this->assertSame(['delivered' => 2, 'rows' => 2, 'retry' => 0, 'failed' => 2], $counts);
        $this->assertSame(['delivered', 'failed', 'delivered', 'failed'], array_column($this->rows(), 'status'));
        $this->assertStringStartsWith('HTTP 422: data.id: Not a valid integer.', $this->rows()[1]['last_error']);
        // The first POST was refused as a whole; the second carries the valid messages only.
        $this->assertSame([[$ids[0], $ids[1], $ids[2]], [$ids[0], $ids[2]]], array_map(function ($request) {
            return array_column(array_column(json_decode($request['body'], true)['events'], 'data'), 'id');
        }, $this->requests()));

        $summary = (new CrmSyncOutbox($this->db))->summary();
        $this->assertSame([0, 2], [$summary['waiting'], $summary['failed']]);
        $this->assertSame([$ids[1], $ids[1]], array_column($summary['failed_rows'], 'record_id'));
        $this->assertNotNull($summary['last_delivered']);

        // The admin fixed the record and retries: the failed rows go again.
        $this->rules([]);
        (new CrmSyncOutbox($this->db))->retryFailed(time());
        $this->assertSame(['delivered' => 1, 'rows' => 2, 'retry' => 0, 'failed' => 0], $this->delivery()->run(time()));
    }

    public function test_a_413_splits_the_batch_and_a_message_too_large_alone_fails(): void {
        $this->startReceiver(202);
        $ids = [];
        for ($i = 1; $i <= 4; $i++) {
            $ids[] = $id = sprintf('c0ffee00-0000-4000-8000-%012d', $i);
            $this->save(['first_name' => 'Augusta'], ['first_name' => 'Ada'], $id);
            $this->stored($id, $i === 3 ? ['department' => str_repeat('x', 2000)] : []);
        }
        $this->rules(['maxbytes' => 1500]);
        $counts = $this->delivery()->run(time());
        $this->assertSame(['delivered' => 3, 'rows' => 3, 'retry' => 0, 'failed' => 1], $counts);
        $this->assertSame(['delivered', 'delivered', 'failed', 'delivered'], array_column($this->rows(), 'status'));
        $this->assertStringStartsWith('HTTP 413: this message alone', $this->rows()[2]['last_error']);
        $delivered = array_map(function ($request) {
            return array_column(array_column(json_decode($request['body'], true)['events'], 'data'), 'id');
        }, array_filter($this->requests(), function ($request) {
            return strlen($request['body']) <= 1500;
        }));
        $this->assertSame([$ids[0], $ids[1], $ids[3]], array_merge(...array_values($delivered)));
    }

    public function test_during_a_secret_rotation_both_secrets_sign(): void {
        $previous = 'whsec_' . base64_encode(random_bytes(32));
        $headers = $this->delivery(['previous_secret' => $previous])->headers('batch-1', 1795344000, '{"events":[]}');
        $signatures = explode(' ', $headers['webhook-signature']);
        $this->assertCount(2, $signatures);
        $this->assertSame('v1,' . base64_encode(hash_hmac('sha256', 'batch-1.1795344000.{"events":[]}',
            base64_decode(substr($previous, 6)), true)), $signatures[1]);
    }

    public function test_a_misconfigured_channel_says_what_to_fix(): void {
        $this->assertNull($this->delivery()->misconfiguration());
        $this->assertStringContainsString("['secret'] is not a whsec_ secret", $this->delivery(['secret' => 'hunter2'])->misconfiguration());
        $this->assertStringContainsString("['receiver_url']", $this->delivery(['receiver_url' => 'sync.example.org'])->misconfiguration());
    }

    public function test_delivered_rows_are_pruned_but_the_newest_stays_so_the_sequence_never_restarts(): void {
        $this->startReceiver(202);
        foreach (['Augusta', 'Ada'] as $i => $name) {
            $this->save(['first_name' => $name], ['first_name' => 'x'], "c0ffee00-0000-4000-8000-00000000000$i");
            $this->stored("c0ffee00-0000-4000-8000-00000000000$i");
        }
        $this->delivery()->run(time());
        (new CrmSyncOutbox($this->db))->prune(time() + 60);
        $this->assertSame([2], array_map('intval', array_column($this->rows(), 'id')));
    }

    public function test_only_one_delivery_runs_at_a_time(): void {
        $first = new CrmSyncOutbox($this->db);
        $this->assertTrue($first->lock());
        $other = OutboxDb::create();
        try {
            // Another connection to the same CRM database (a second cron run, "Send now").
            $other->link->select_db($this->db->name);
            $this->assertFalse((new CrmSyncOutbox($other))->lock());
            $first->unlock();
            $this->assertTrue((new CrmSyncOutbox($other))->lock());
        } finally {
            $other->drop();
        }
    }

    public function test_the_install_adds_the_schedulers_row_once_and_the_uninstall_removes_it(): void {
        $this->db->link->query('CREATE TABLE schedulers (id char(36) NOT NULL PRIMARY KEY, deleted tinyint(1) DEFAULT 0,
            date_entered datetime, date_modified datetime, created_by char(36), modified_user_id char(36), name varchar(255),
            job varchar(255), date_time_start datetime, date_time_end datetime, job_interval varchar(100), time_from time,
            time_to time, last_run datetime, status varchar(100), catch_up tinyint(1) DEFAULT 1)');
        $this->assertTrue(CrmSyncScheduler::add($this->db, 'Moodle sync: deliver CRM changes', 1795344000));
        $this->db->link->query("UPDATE schedulers SET job_interval = '*/5::*::*::*::*'");  // the admin's own choice
        $this->assertFalse(CrmSyncScheduler::add($this->db, 'Moodle sync: deliver CRM changes', 1795344100), 'an upgrade');
        [$row] = $this->db->rows('SELECT * FROM schedulers');
        $this->assertSame(['function::crmsync_deliver_outbox', '*/5::*::*::*::*', 'Active', '0', '0'],
            [$row['job'], $row['job_interval'], $row['status'], $row['catch_up'], $row['deleted']]);
        CrmSyncScheduler::remove($this->db, 1795344200);
        $this->assertSame(['1'], array_column($this->db->rows('SELECT deleted FROM schedulers'), 'deleted'));
    }
}
