<?php
use local_crmsync\local\backoff;
use local_crmsync\local\delivery;
use local_crmsync\local\state_reader;
use local_crmsync\local\transport;
use local_crmsync\webhook\signer;
use PHPUnit\Framework\TestCase;

require_once(__DIR__ . '/contract_schema.php');
require_once(__DIR__ . '/memory_state_source.php');
require_once(__DIR__ . '/memory_outbox.php');

final class DeliveryTest extends TestCase {
    const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
    private $dir;
    private $port;
    private $server;

    protected function setUp(): void {
        $this->dir = sys_get_temp_dir() . '/crmsync-delivery-' . bin2hex(random_bytes(4));
        mkdir($this->dir);
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $this->port = (int) substr(strrchr(stream_socket_get_name($socket, false), ':'), 1);
        fclose($socket);
    }

    protected function tearDown(): void {
        $this->stop_receiver();
        array_map('unlink', glob("{$this->dir}/*"));
        rmdir($this->dir);
    }

    private function start_receiver(int $status = 202): void {
        file_put_contents("{$this->dir}/status", (string) $status);
        $this->server = proc_open(['php', '-S', "127.0.0.1:{$this->port}", __DIR__ . '/receiver/router.php'],
            [['pipe', 'r'], ['file', '/dev/null', 'w'], ['file', '/dev/null', 'w']], $pipes, null,
            ['CRMSYNC_TEST_DIR' => $this->dir]);
        for ($i = 0; $i < 50 && !@fsockopen('127.0.0.1', $this->port); $i++) {
            usleep(100000);
        }
    }

    private function stop_receiver(): void {
        if ($this->server) {
            proc_terminate($this->server);
            proc_close($this->server);
            $this->server = null;
        }
    }

    private function requests(): array {
        $file = "{$this->dir}/requests.jsonl";
        return is_file($file) ? array_map(function($line) {
            return json_decode($line, true);
        }, file($file, FILE_IGNORE_NEW_LINES)) : [];
    }

    private function delivery(memory_outbox $outbox, ?callable $clock = null, ?callable $messages = null,
            ?transport $transport = null, int $maxbatchbytes = delivery::DEFAULT_MAX_BATCH_BYTES): delivery {
        $messages = $messages ?? function($row, int $sequence) {
            return ['id' => "msg-{$row->id}", 'subject' => $row->subject, 'sequence' => $sequence];
        };
        return new delivery($outbox, $transport ?? new curl_test_transport(), new signer(self::SECRET), $messages,
            new backoff(60, 21600, function() { return 0.0; }), "http://127.0.0.1:{$this->port}/webhooks/moodle", $clock,
            $maxbatchbytes);
    }

    /** Messages that carry $bytes of padding, so that their size is known. */
    private function padded(int $bytes): callable {
        return function($row, int $sequence) use ($bytes) {
            return ['id' => "msg-{$row->id}", 'subject' => $row->subject, 'sequence' => $sequence,
                'data' => ['padding' => str_repeat('x', $bytes)]];
        };
    }

    private function rules(array $rules): void {
        file_put_contents("{$this->dir}/rules.json", json_encode($rules));
    }

    /** The ids of the messages of each request the receiver got. */
    private function sent_ids(): array {
        return array_map(function($request) {
            return array_column(json_decode($request['body'], true)['events'], 'id');
        }, $this->requests());
    }

    /** The sequences of every message the receiver got, in order. */
    private function sent_sequences(): array {
        $sequences = [];
        foreach ($this->requests() as $request) {
            foreach (json_decode($request['body'], true)['events'] as $event) {
                $sequences[] = $event['sequence'];
            }
        }
        return $sequences;
    }

    public function test_a_batch_is_one_signed_post_and_leaves_the_outbox_on_2xx(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:3');
        $outbox->add(2, 'user:4');
        $counts = $this->delivery($outbox)->run(100, time());
        $this->assertSame(2, $counts['delivered']);
        $requests = $this->requests();
        $this->assertCount(1, $requests);
        $sent = $requests[0];
        $expected = (new signer(self::SECRET))->signature($sent['headers']['webhook-id'],
            (int) $sent['headers']['webhook-timestamp'], $sent['body']);
        $this->assertSame($expected, $sent['headers']['webhook-signature']);
        $this->assertSame(['msg-1', 'msg-2'], array_column(json_decode($sent['body'], true)['events'], 'id'));
        $this->assertSame(['delivered', 'delivered'], array_column($outbox->rows, 'status'));
    }

    public function test_receiver_down_then_back_delivers_each_row_exactly_once(): void {
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:3');
        $now = time();
        $down = $this->delivery($outbox)->run(100, $now);
        $this->assertSame(1, $down['retry']);
        $this->assertSame('pending', $outbox->rows[1]->status);
        $this->assertSame($now + 30, $outbox->rows[1]->nextattempt);  // first backoff: 60 s, half of it fixed
        $this->assertSame(0, $this->delivery($outbox)->run(100, $now + 10)['delivered']);  // not due yet

        $this->start_receiver(202);
        $this->assertSame(1, $this->delivery($outbox)->run(100, $now + 31)['delivered']);
        $this->assertSame(0, $this->delivery($outbox)->run(100, $now + 100)['delivered']);
        $this->assertCount(1, $this->requests());
    }

    public function test_rejected_messages_are_failed_for_an_admin_not_retried(): void {
        $this->start_receiver(422);
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:3');
        $this->assertSame(1, $this->delivery($outbox)->run(100, time())['failed']);
        $this->assertSame('failed', $outbox->rows[1]->status);
        $this->assertStringContainsString('HTTP 422', $outbox->rows[1]->lasterror);
    }

    /** Nothing in the product answers 410: if a proxy does, it is one more answer to retry, never a pause. */
    public function test_gone_is_retried_like_any_other_unexpected_answer(): void {
        $this->start_receiver(410);
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:3');
        $now = time();
        $this->assertSame(1, $this->delivery($outbox)->run(100, $now)['retry']);
        $this->assertSame('pending', $outbox->rows[1]->status);
        $this->assertSame($now + 30, $outbox->rows[1]->nextattempt);
        $this->assertStringContainsString('HTTP 410', $outbox->rows[1]->lasterror);

        file_put_contents("{$this->dir}/status", '202');
        $this->assertSame(1, $this->delivery($outbox)->run(100, $now + 31)['delivered']);
        $this->assertSame('delivered', $outbox->rows[1]->status);
    }

    public function test_rows_of_one_subject_are_sent_once(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        foreach ([1, 2, 3] as $id) {
            $outbox->add($id, 'enrolment:3:2');
        }
        $counts = $this->delivery($outbox)->run(100, time());
        $this->assertSame(['delivered' => 1, 'coalesced' => 2, 'retry' => 0, 'failed' => 0], $counts);
        $events = json_decode($this->requests()[0]['body'], true)['events'];
        $this->assertSame(['msg-3'], array_column($events, 'id'));
    }

    public function test_sequences_are_assigned_when_sending_and_only_grow(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        foreach ([1 => 'user:3', 2 => 'user:4', 3 => 'user:5'] as $id => $subject) {
            $outbox->add($id, $subject);
        }
        $clock = function() {
            return 1795344100000000;  // a clock that does not move: each message still gets its own sequence
        };
        $this->delivery($outbox, $clock)->run(2, 1795344100);
        $outbox->add(4, 'user:3');
        $this->delivery($outbox, $clock)->run(2, 1795344100);
        $this->assertSame([1795344100000000, 1795344100000001, 1795344100000002, 1795344100000003], $this->sent_sequences());
        $this->assertSame(1795344100000003, $outbox->lastsequence);
    }

    public function test_after_a_database_restore_new_messages_carry_newer_sequences(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        $outbox->lastsequence = 1795340000000000;  // what the backup holds
        $backup = clone $outbox;
        foreach ([1 => 'user:3', 2 => 'enrolment:3:2', 3 => 'user:4'] as $id => $subject) {
            $outbox->add($id, $subject);
        }
        $now = 1795344100;
        $this->delivery($outbox, function() use ($now) {
            return $now * 1000000;
        })->run(100, $now);
        $before = $this->sent_sequences();
        $this->assertCount(3, $before);

        // Moodle's database is restored from the backup a minute later: the outbox ids and the stored
        // last sequence go back, and new events get the ids 1 and 2 again.
        $restored = $backup;
        $restored->add(1, 'user:3');
        $restored->add(2, 'enrolment:3:2');
        $later = $now + 60;
        $this->delivery($restored, function() use ($later) {
            return $later * 1000000;
        })->run(100, $later);
        $after = array_slice($this->sent_sequences(), 3);
        $this->assertCount(2, $after);
        $this->assertGreaterThan(max($before), min($after));
        $this->assertSame($after, array_values(array_unique($after)));
    }

    public function test_after_a_plugin_reinstall_new_messages_carry_newer_sequences(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        $outbox->add(41, 'user:3');
        $outbox->add(42, 'user:4');
        $this->delivery($outbox)->run(100, time());  // the system clock
        $before = $this->sent_sequences();

        // Uninstalled and installed again: the outbox table and the plugin's settings start empty.
        $reinstalled = new memory_outbox();
        $this->assertNull($reinstalled->lastsequence);
        $reinstalled->add(1, 'user:3');
        $this->delivery($reinstalled)->run(100, time());
        $after = array_slice($this->sent_sequences(), 2);
        $this->assertCount(1, $after);
        $this->assertGreaterThan(max($before), $after[0]);
    }

    public function test_the_system_clock_counts_microseconds_since_1970(): void {
        $before = time();
        $micros = delivery::microseconds();
        $this->assertGreaterThanOrEqual($before * 1000000, $micros);
        $this->assertLessThan(($before + 2) * 1000000, $micros);
    }

    public function test_a_subject_gone_before_sending_is_sent_as_its_deletion(): void {
        $this->start_receiver(202);
        $moodle = memory_state_source::course_with_a_learner();
        // The learner was unenrolled (grade, completion and enrolment rows gone), user 5 was deleted,
        // the course access of a deleted course is left over.
        unset($moodle->enrolments['3:2'], $moodle->roles['3:2'], $moodle->grades['3:3'], $moodle->coursecompletions['3:2']);
        $outbox = new memory_outbox();
        $outbox->add(1, 'enrolment:3:2', 'enrolment.deleted');
        $outbox->add(2, 'course_completion:3:2', 'course_completion.updated');
        $outbox->add(3, 'grade:3:3', 'grade.deleted');
        $outbox->add(4, 'user:5', 'user.deleted', ['username' => 'student3', 'email' => 's3@example.invalid', 'idnumber' => '']);
        $outbox->add(5, 'user:5', 'user.updated');  // newer, coalesced: the deletion's snapshot is kept
        $outbox->add(6, 'course_access:3:9', 'course_access.updated');
        $messages = function($row, int $sequence) use ($moodle) {
            return state_reader::message($row, $sequence, $moodle);
        };
        $counts = $this->delivery($outbox, null, $messages)->run(100, time());

        $this->assertSame(['delivered' => 4, 'coalesced' => 2, 'retry' => 0, 'failed' => 0], $counts);
        $events = json_decode($this->requests()[0]['body'], true)['events'];
        $this->assertSame(['enrolment.deleted', 'course_completion.deleted', 'grade.deleted', 'user.deleted'],
            array_column($events, 'type'));
        $this->assertSame('CRM101', $events[0]['data']['course']['shortname']);
        $this->assertSame(['userid' => 3, 'courseid' => 2, 'deleted' => true], $events[1]['data']);
        $this->assertTrue($events[2]['data']['deleted']);
        $this->assertSame('s3@example.invalid', $events[3]['data']['email']);
        $schema = new contract_schema();
        foreach ($events as $event) {
            $this->assertSame([], $schema->errors($event), $event['type']);
        }
        $this->assertSame(['delivered'], array_values(array_unique(array_column($outbox->rows, 'status'))));
    }

    /** The receiver refuses a timestamp more than 5 minutes off its clock: a long run must not sign with its start time. */
    public function test_each_post_is_signed_with_the_time_it_is_sent(): void {
        $start = 1795344100;
        $micros = $start * 1000000;
        $clock = function() use (&$micros) {
            return $micros;
        };
        $sentat = [];
        $transport = new scripted_transport(function() use (&$micros, &$sentat) {
            $sentat[] = intdiv($micros, 1000000);
            $micros += 4 * 60 * 1000000;  // a slow receiver: every POST takes four minutes
            return ['status' => 202, 'body' => '{}', 'error' => ''];
        });
        $outbox = new memory_outbox();
        foreach ([1 => 'user:3', 2 => 'user:4', 3 => 'user:5'] as $id => $subject) {
            $outbox->add($id, $subject);
        }
        $this->assertSame(3, $this->delivery($outbox, $clock, null, $transport)->run(1, $start)['delivered']);
        $this->assertSame([$start, $start + 240, $start + 480], $sentat);
        $signer = new signer(self::SECRET);
        foreach ($transport->requests as $i => $request) {
            $timestamp = (int) $request['headers']['webhook-timestamp'];
            $this->assertSame($sentat[$i], $timestamp, "POST $i");
            $this->assertSame($signer->signature($request['headers']['webhook-id'], $timestamp, $request['body']),
                $request['headers']['webhook-signature']);
        }
    }

    public function test_batches_are_cut_by_bytes_under_the_limit(): void {
        $this->start_receiver(202);
        $outbox = new memory_outbox();
        foreach (range(1, 5) as $id) {
            $outbox->add($id, "user:$id");
        }
        $counts = $this->delivery($outbox, null, $this->padded(100), null, 400)->run(100, time());
        $this->assertSame(5, $counts['delivered']);
        $this->assertSame([['msg-1', 'msg-2'], ['msg-3', 'msg-4'], ['msg-5']], $this->sent_ids());
        foreach ($this->requests() as $request) {
            $this->assertLessThanOrEqual(400, strlen($request['body']));
            $this->assertCount(1, json_decode($request['body'], true), 'a body is one {"events": [...]}');
        }
    }

    public function test_a_413_splits_the_batch_in_halves_until_each_part_passes(): void {
        $this->start_receiver(202);
        $this->rules(['maxbytes' => 700]);
        $outbox = new memory_outbox();
        foreach (range(1, 4) as $id) {
            $outbox->add($id, "user:$id");
        }
        $counts = $this->delivery($outbox, null, $this->padded(250))->run(100, time());
        $this->assertSame(['delivered' => 4, 'coalesced' => 0, 'retry' => 0, 'failed' => 0], $counts);
        $this->assertSame([['msg-1', 'msg-2', 'msg-3', 'msg-4'], ['msg-1', 'msg-2'], ['msg-3', 'msg-4']], $this->sent_ids());
        $this->assertSame(['delivered'], array_values(array_unique(array_column($outbox->rows, 'status'))));
    }

    public function test_a_message_too_large_on_its_own_is_failed_once_and_the_others_delivered(): void {
        $this->start_receiver(202);
        $this->rules(['maxbytes' => 1000]);
        $outbox = new memory_outbox();
        foreach (range(1, 3) as $id) {
            $outbox->add($id, "user:$id");
        }
        $sizes = [1 => 100, 2 => 2000, 3 => 100];  // a large attendance session, say
        $messages = function($row, int $sequence) use ($sizes) {
            return ['id' => "msg-{$row->id}", 'subject' => $row->subject, 'sequence' => $sequence,
                'data' => ['padding' => str_repeat('x', $sizes[$row->id])]];
        };
        $now = time();
        $counts = $this->delivery($outbox, null, $messages)->run(100, $now);
        $this->assertSame(['delivered' => 2, 'coalesced' => 0, 'retry' => 0, 'failed' => 1], $counts);
        $this->assertSame(['delivered', 'failed', 'delivered'], array_column($outbox->rows, 'status'));
        $this->assertStringContainsString('HTTP 413', $outbox->rows[2]->lasterror);
        $this->assertStringContainsString('larger than the receiver accepts', $outbox->rows[2]->lasterror);
        // Failed, not waiting: no later run sends it again, however long the backoff would have been.
        $before = count($this->requests());
        $this->assertSame(0, $this->delivery($outbox, null, $messages)->run(100, $now + 86400)['delivered']);
        $this->assertCount($before, $this->requests());
    }

    public function test_a_422_fails_only_the_messages_it_names_and_delivers_the_others(): void {
        $this->start_receiver(202);
        $this->rules(['invalid' => ['user:2', 'user:4']]);
        $outbox = new memory_outbox();
        foreach (range(1, 5) as $id) {
            $outbox->add($id, "user:$id");
        }
        $counts = $this->delivery($outbox)->run(100, time());
        $this->assertSame(['delivered' => 3, 'coalesced' => 0, 'retry' => 0, 'failed' => 2], $counts);
        $this->assertSame([['msg-1', 'msg-2', 'msg-3', 'msg-4', 'msg-5'], ['msg-1', 'msg-3', 'msg-5']], $this->sent_ids());
        $this->assertSame(['delivered', 'failed', 'delivered', 'failed', 'delivered'], array_column($outbox->rows, 'status'));
        $this->assertSame("HTTP 422: data.id: Not a valid integer.; data: 'lastaccess' is a required property",
            $outbox->rows[2]->lasterror);
    }

    public function test_a_resent_bad_message_no_longer_holds_back_the_others(): void {
        $this->start_receiver(202);
        $this->rules(['invalid' => ['user:2']]);
        $outbox = new memory_outbox();
        $outbox->add(1, 'user:1');
        $outbox->add(2, 'user:2');
        $this->delivery($outbox)->run(100, time());
        // The admin presses "Resend all failed" before the cause is fixed; new messages are waiting too.
        $outbox->rows[2]->status = 'pending';
        $outbox->add(3, 'user:3');
        $outbox->add(4, 'user:4');
        $counts = $this->delivery($outbox)->run(100, time());
        $this->assertSame(['delivered' => 2, 'coalesced' => 0, 'retry' => 0, 'failed' => 1], $counts);
        $this->assertSame(['delivered', 'failed', 'delivered', 'delivered'], array_column($outbox->rows, 'status'));
        $this->assertSame(['msg-3', 'msg-4'], array_slice($this->sent_ids(), -1)[0]);
    }

    public function test_a_422_naming_no_message_splits_the_batch(): void {
        $this->start_receiver(202);
        $this->rules(['maxevents' => 2]);  // the admin's batch size is above the receiver's MAX_BATCH_EVENTS
        $outbox = new memory_outbox();
        foreach (range(1, 5) as $id) {
            $outbox->add($id, "user:$id");
        }
        $counts = $this->delivery($outbox)->run(5, time());
        $this->assertSame(['delivered' => 5, 'coalesced' => 0, 'retry' => 0, 'failed' => 0], $counts);
        $this->assertSame(['delivered'], array_values(array_unique(array_column($outbox->rows, 'status'))));
    }

    public function test_when_the_receiver_fails_midway_the_unsent_rest_waits_too(): void {
        $answers = [202, 503];
        $transport = new scripted_transport(function() use (&$answers) {
            return ['status' => array_shift($answers) ?? 503, 'body' => '{"error":"database unavailable"}', 'error' => ''];
        });
        $outbox = new memory_outbox();
        foreach (range(1, 3) as $id) {
            $outbox->add($id, "user:$id");
        }
        $now = time();
        $counts = $this->delivery($outbox, null, $this->padded(100), $transport, 300)->run(100, $now);
        $this->assertSame(['delivered' => 1, 'coalesced' => 0, 'retry' => 2, 'failed' => 0], $counts);
        $this->assertCount(2, $transport->requests, 'the third message is not tried after the second failed');
        $this->assertSame([0, 1, 1], array_column($outbox->rows, 'attempts'));
        $this->assertSame([$now + 30, $now + 30], [$outbox->rows[2]->nextattempt, $outbox->rows[3]->nextattempt]);
    }

    /** The shapes of receiver/messages.py's 422 answers. */
    public function test_the_messages_a_422_names(): void {
        $ids = ['a1', 'b2', 'c3'];
        $this->assertSame([1 => "type: unknown message type 'no.such'"],
            delivery::invalid_messages('{"error":"invalid messages","errors":{"events.1.type":["unknown message type \'no.such\'"]}}', $ids));
        $this->assertSame([0 => 'a message must be a JSON object', 2 => 'data.userid: 3 is not of type \'integer\''],
            delivery::invalid_messages('{"errors":{"events.2.data.userid":["3 is not of type \'integer\'"],'
                . '"events.0":["a message must be a JSON object"]}}', $ids));
        $this->assertSame([1 => 'Not a valid mapping type.'],
            delivery::invalid_messages('{"error":"invalid batch","errors":{"events":{"1":["Not a valid mapping type."]}}}', $ids));
        $this->assertSame([2 => 'data.id: bad'], delivery::invalid_messages('{"errors":{"c3.data.id":["bad"]}}', $ids));
        $this->assertSame([2 => 'bad'], delivery::invalid_messages('{"errors":{"events.c3":["bad"]}}', $ids));
        // Nothing that names a message: a limit on the batch, an index out of range, no JSON.
        $this->assertSame([], delivery::invalid_messages('{"error":"a batch holds at most 2 events","errors":{"events":["3 given"]}}', $ids));
        $this->assertSame([], delivery::invalid_messages('{"errors":{"events.7.type":["x"]}}', $ids));
        $this->assertSame([], delivery::invalid_messages('<html>422</html>', $ids));
    }

    public function test_a_batch_body_built_from_its_pieces_is_what_json_encode_gives(): void {
        $messages = [['id' => 'é/1', 'data' => ['x' => 1.5, 'list' => [], 'map' => new stdClass()]], ['id' => '2']];
        $chunk = array_map(function($m) {
            return ['json' => json_encode($m, delivery::JSON_FLAGS), 'id' => $m['id']];
        }, $messages);
        $this->assertSame(json_encode(['events' => $messages], delivery::JSON_FLAGS), delivery::body($chunk));
        $this->assertSame(delivery::EMPTY_BATCH_BYTES, strlen(delivery::body([])));
    }
}
