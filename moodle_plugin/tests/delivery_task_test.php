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
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\task\deliver_scheduled
 */
final class delivery_task_test extends \advanced_testcase {
    public function test_task_delivers_signed_batches_to_the_receiver_once(): void {
        global $DB;
        $this->resetAfterTest();
        $this->preventResetByRollback();
        $dir = make_request_directory();
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($socket, false), ':'), 1);
        fclose($socket);
        $server = proc_open(['php', '-S', "127.0.0.1:$port", __DIR__ . '/fixtures/receiver.php'],
            [['pipe', 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']], $pipes, null,
            ['CRMSYNC_TEST_DIR' => $dir]);
        for ($i = 0; $i < 50 && !@fsockopen('127.0.0.1', $port); $i++) {
            usleep(100000);
        }
        try {
            set_config('curlsecurityblockedhosts', '');
            set_config('curlsecurityallowedport', '');
            $secret = webhook\signer::generate_secret();
            set_config('receiverurl', "http://127.0.0.1:$port/webhooks/moodle", 'local_crmsync');
            set_config('secret', $secret, 'local_crmsync');
            $user = $this->getDataGenerator()->create_user(['firstname' => 'Alice']);

            ob_start();
            (new task\deliver_scheduled())->execute();
            (new task\deliver_scheduled())->execute();
            ob_end_clean();
        } finally {
            proc_terminate($server);
            proc_close($server);
        }
        $requests = array_map(function($line) {
            return json_decode($line, true);
        }, file("$dir/requests.jsonl", FILE_IGNORE_NEW_LINES));
        $this->assertCount(1, $requests);
        $request = $requests[0];
        $expected = (new webhook\signer($secret))->signature($request['headers']['webhook-id'],
            (int) $request['headers']['webhook-timestamp'], $request['body']);
        $this->assertSame($expected, $request['headers']['webhook-signature']);
        $events = json_decode($request['body'], true)['events'];
        $this->assertSame("user:{$user->id}", $events[0]['subject']);
        $this->assertSame('Alice', $events[0]['data']['firstname']);
        $this->assertSame(0, $DB->count_records('local_crmsync_outbox', ['status' => 'pending']));
    }
}
