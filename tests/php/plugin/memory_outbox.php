<?php
// Test doubles of the plugin's outbox and transport, shared by DeliveryTest and tests/php/tools.
use local_crmsync\local\delivery;
use local_crmsync\local\outbox_repository;
use local_crmsync\local\transport;

/** The outbox kept in memory, as the Moodle implementation keeps it in a table (and lastsequence in config). */
final class memory_outbox implements outbox_repository {
    public $rows = [];
    /** @var int|null the plugin's lastsequence setting; null when not set (a fresh install) */
    public $lastsequence = null;
    /** @var int|null when the receiver last acknowledged a delivery (the lastacknowledged setting) */
    public $acknowledged = null;

    public function add(int $id, string $subject, string $type = 'user.updated', ?array $snapshot = null): void {
        $this->rows[$id] = (object) ['id' => $id, 'messageid' => delivery::uuid(), 'subject' => $subject, 'type' => $type,
            'status' => 'pending', 'attempts' => 0, 'nextattempt' => 0, 'lasterror' => '', 'eventdata' => null,
            'snapshot' => $snapshot === null ? null : json_encode($snapshot), 'timecreated' => 1795344057];
    }

    public function allocate_sequences(int $count, int $nowmicros): int {
        $first = $this->lastsequence === null ? $nowmicros : max($this->lastsequence + 1, $nowmicros);
        $this->lastsequence = $first + $count - 1;
        return $first;
    }

    public function due(int $limit, int $now): array {
        $due = array_filter($this->rows, function($r) use ($now) {
            return $r->status === 'pending' && $r->nextattempt <= $now;
        });
        return array_slice(array_values($due), 0, $limit);
    }

    public function mark_delivered(array $ids, int $now): void {
        foreach ($ids as $id) {
            $this->rows[$id]->status = 'delivered';
        }
    }

    public function mark_acknowledged(array $ids, int $now): void {
        $this->mark_delivered($ids, $now);
        if ($ids) {
            $this->acknowledged = $now;
        }
    }

    public function mark_retry(array $ids, string $error, int $nextattempt): void {
        foreach ($ids as $id) {
            $this->rows[$id]->attempts++;
            $this->rows[$id]->nextattempt = $nextattempt;
            $this->rows[$id]->lasterror = $error;
        }
    }

    public function mark_failed(array $ids, string $error): void {
        foreach ($ids as $id) {
            $this->rows[$id]->status = 'failed';
            $this->rows[$id]->lasterror = $error;
        }
    }

}

/** Real HTTP with PHP's curl extension (Moodle's transport wraps Moodle's curl class instead). */
final class curl_test_transport implements transport {
    public function post(string $url, string $body, array $headers): array {
        $lines = [];
        foreach ($headers as $name => $value) {
            $lines[] = "$name: $value";
        }
        $curl = curl_init($url);
        curl_setopt_array($curl, [CURLOPT_POST => true, CURLOPT_POSTFIELDS => $body, CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true, CURLOPT_TIMEOUT => 5]);
        $answer = curl_exec($curl);
        $result = ['status' => (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE), 'body' => (string) $answer,
            'error' => curl_error($curl)];
        curl_close($curl);
        return $result;
    }
}


/** A transport that answers through a callback and keeps what was sent (headers and body), without HTTP. */
final class scripted_transport implements transport {
    /** @var array each ['headers' => array, 'body' => string] */
    public $requests = [];
    /** @var callable function(string $body, array $headers): array the answer */
    private $answer;

    public function __construct(?callable $answer = null) {
        $this->answer = $answer ?? function() {
            return ['status' => 202, 'body' => '{"accepted":1}', 'error' => ''];
        };
    }

    public function post(string $url, string $body, array $headers): array {
        $this->requests[] = ['headers' => $headers, 'body' => $body];
        return ($this->answer)($body, $headers);
    }
}
