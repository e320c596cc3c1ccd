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
 * The delivery task posts the outbox to a real local HTTP endpoint, signed (run inside Moodle's PHPUnit).
 *
 * Covers the whole of a delivery inside Moodle: the settings it reads, the secret rotation, the byte
 * limit and the receiver's refusals.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\task\deliver_scheduled
 * @covers     \local_crmsync\local\sender
 */
final class delivery_task_test extends \advanced_testcase {
    /** @var string */
    private $dir;
    /** @var resource|null */
    private $server;

    /**
     * Start the stand-in receiver and point the plugin at it.
     *
     * @param array $rules see fixtures/receiver.php
     * @return string the signing secret set
     */
    private function start_receiver(array $rules = []): string {
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $this->dir = make_request_directory();
        file_put_contents("{$this->dir}/rules.json", json_encode($rules));
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($socket, false), ':'), 1);
        fclose($socket);
        $this->server = proc_open(['php', '-S', "127.0.0.1:$port", __DIR__ . '/fixtures/receiver.php'],
            [['pipe', 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']], $pipes, null,
            ['CRMSYNC_TEST_DIR' => $this->dir]);
        for ($i = 0; $i < 50 && !@fsockopen('127.0.0.1', $port); $i++) {
            usleep(100000);
        }
        set_config('curlsecurityblockedhosts', '');
        set_config('curlsecurityallowedport', '');
        $secret = webhook\signer::generate_secret();
        set_config('receiverurl', "http://127.0.0.1:$port/webhooks/moodle", 'local_crmsync');
        set_config('secret', $secret, 'local_crmsync');
        return $secret;
    }

    protected function tearDown(): void {
        if ($this->server) {
            proc_terminate($this->server);
            proc_close($this->server);
            $this->server = null;
        }
        parent::tearDown();
    }

    private function run_task(): void {
        ob_start();
        (new task\deliver_scheduled())->execute();
        ob_end_clean();
    }

    /**
     * @return array each ['headers' => array, 'body' => string]
     */
    private function requests(): array {
        $file = "{$this->dir}/requests.jsonl";
        return is_file($file) ? array_map(function($line) {
            return json_decode($line, true);
        }, file($file, FILE_IGNORE_NEW_LINES)) : [];
    }

    /**
     * Whether the request carries a valid signature made with $secret, as a Standard Webhooks receiver checks.
     *
     * @param array $request
     * @param string $secret
     * @return bool
     */
    private function signed_with(array $request, string $secret): bool {
        $expected = (new webhook\signer($secret))->signature($request['headers']['webhook-id'],
            (int) $request['headers']['webhook-timestamp'], $request['body']);
        return in_array($expected, explode(' ', $request['headers']['webhook-signature']), true);
    }

    public function test_task_delivers_signed_batches_to_the_receiver_once(): void {
        global $DB;
        $secret = $this->start_receiver();
        $user = $this->getDataGenerator()->create_user(['firstname' => 'Alice']);
        $this->run_task();
        $this->run_task();
        $requests = $this->requests();
        $this->assertCount(1, $requests);
        $request = $requests[0];
        $expected = (new webhook\signer($secret))->signature($request['headers']['webhook-id'],
            (int) $request['headers']['webhook-timestamp'], $request['body']);
        $this->assertSame($expected, $request['headers']['webhook-signature']);
        $this->assertEqualsWithDelta(time(), (int) $request['headers']['webhook-timestamp'], 60);
        $events = json_decode($request['body'], true)['events'];
        $this->assertSame("user:{$user->id}", $events[0]['subject']);
        $this->assertSame('Alice', $events[0]['data']['firstname']);
        $this->assertSame(0, $DB->count_records('local_crmsync_outbox', ['status' => 'pending']));
    }

    /**
     * @covers \local_crmsync\local\moodle_outbox
     */
    public function test_last_delivery_moves_only_when_the_receiver_acknowledges(): void {
        global $CFG, $DB;
        require_once($CFG->dirroot . '/user/lib.php');
        $this->start_receiver();
        $url = get_config('local_crmsync', 'receiverurl');
        set_config('receiverurl', 'http://127.0.0.1:1/webhooks/moodle', 'local_crmsync');  // nothing answers there
        unset_config(local\moodle_outbox::LAST_ACKNOWLEDGED, 'local_crmsync');
        $user = $this->getDataGenerator()->create_user();
        user_update_user((object) ['id' => $user->id, 'firstname' => 'Alicia'], false);
        $this->run_task();
        // The older row of the user was coalesced into the newer one (marked delivered), which waits.
        $this->assertSame(1, $DB->count_records('local_crmsync_outbox', ['subject' => "user:{$user->id}",
            'status' => 'delivered']));
        $this->assertNull(local\moodle_outbox::last_acknowledged());

        set_config('receiverurl', $url, 'local_crmsync');
        $DB->set_field('local_crmsync_outbox', 'nextattempt', 0);
        $this->run_task();
        $this->assertCount(1, $this->requests());
        $this->assertEqualsWithDelta(time(), local\moodle_outbox::last_acknowledged(), 60);
    }

    /**
     * @covers \local_crmsync\local\secret_rotation
     */
    public function test_after_a_new_secret_batches_are_signed_with_both_until_the_overlap_ends(): void {
        $old = $this->start_receiver();
        set_config('secretoverlapdays', 7, 'local_crmsync');
        $new = webhook\signer::generate_secret();
        local\secret_rotation::store($new, time());
        $this->assertSame($new, get_config('local_crmsync', 'secret'));
        $this->getDataGenerator()->create_user();
        $this->run_task();
        $request = $this->requests()[0];
        $this->assertCount(2, explode(' ', $request['headers']['webhook-signature']));
        $this->assertTrue($this->signed_with($request, $new));
        $this->assertTrue($this->signed_with($request, $old));
        $stored = json_decode(get_config('local_crmsync', 'previoussecrets'), true);
        $this->assertEqualsWithDelta(time() + 7 * DAYSECS, $stored[0]['until'], 60);

        // The overlap is over: the old secret no longer signs.
        $stored[0]['until'] = time() - 1;
        set_config('previoussecrets', json_encode($stored), 'local_crmsync');
        $this->getDataGenerator()->create_user();
        $this->run_task();
        $request = $this->requests()[1];
        $this->assertSame(1, count(explode(' ', $request['headers']['webhook-signature'])));
        $this->assertTrue($this->signed_with($request, $new));
        $this->assertFalse($this->signed_with($request, $old));
    }

    public function test_requests_stay_under_the_byte_limit_and_a_message_too_large_alone_fails_once(): void {
        global $DB;
        $this->start_receiver(['maxbytes' => 3000]);
        set_config('maxbatchkb', 2, 'local_crmsync');
        set_config('eventgroups', 'users', 'local_crmsync');
        $users = [];
        for ($i = 0; $i < 6; $i++) {
            $users[] = $this->getDataGenerator()->create_user();
        }
        // Its message carries a long custom profile field (read when sending): 4 KB, more than the receiver takes.
        $field = $this->getDataGenerator()->create_custom_profile_field(['datatype' => 'textarea', 'shortname' => 'notes',
            'name' => 'Notes']);
        set_config('profilefields', 'notes', 'local_crmsync');
        $big = $this->getDataGenerator()->create_user();
        $DB->insert_record('user_info_data', ['userid' => $big->id, 'fieldid' => $field->id,
            'data' => str_repeat('A very long note. ', 230), 'dataformat' => FORMAT_PLAIN]);
        $this->run_task();
        foreach ($this->requests() as $request) {
            $events = json_decode($request['body'], true)['events'];
            $this->assertTrue(strlen($request['body']) <= 2048 || count($events) === 1);
        }
        $this->assertGreaterThan(1, count($this->requests()));
        foreach ($users as $user) {
            $this->assertSame('delivered', $DB->get_field('local_crmsync_outbox', 'status', ['subject' => "user:{$user->id}"]));
        }
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "user:{$big->id}"]);
        $this->assertSame('failed', $row->status);
        $this->assertStringContainsString('HTTP 413', $row->lasterror);
        $sent = count($this->requests());
        $this->run_task();
        $this->assertCount($sent, $this->requests(), 'a failed message is not retried');
    }

    public function test_a_422_fails_the_named_message_only(): void {
        global $DB;
        set_config('eventgroups', 'users', 'local_crmsync');
        $this->start_receiver();
        $good = $this->getDataGenerator()->create_user();
        $bad = $this->getDataGenerator()->create_user();
        file_put_contents("{$this->dir}/rules.json", json_encode(['invalid' => ["user:{$bad->id}"]]));
        $this->run_task();
        $this->assertSame('delivered', $DB->get_field('local_crmsync_outbox', 'status', ['subject' => "user:{$good->id}"]));
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "user:{$bad->id}"]);
        $this->assertSame('failed', $row->status);
        $this->assertSame('HTTP 422: data.email: Not a valid email address.', $row->lasterror);
        $this->assertCount(2, $this->requests());
    }

    public function test_a_410_is_retried_and_pauses_nothing(): void {
        global $DB;
        set_config('eventgroups', 'users', 'local_crmsync');
        $this->start_receiver(['status' => 410]);
        $user = $this->getDataGenerator()->create_user();
        $this->run_task();
        $row = $DB->get_record('local_crmsync_outbox', ['subject' => "user:{$user->id}"]);
        $this->assertSame('pending', $row->status);
        $this->assertSame('1', (string) $row->attempts);
        $this->assertGreaterThan(time(), (int) $row->nextattempt);
        $this->assertFalse(get_config('local_crmsync', 'paused'));
    }
}
