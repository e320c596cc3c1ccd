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

namespace local_crmsync\local;

use local_crmsync\webhook\signer;

/**
 * Drains the outbox: one signed POST per batch; nothing leaves the outbox before a 2xx.
 *
 * Plain PHP around three injected parts (outbox, transport, message factory), so the same code runs
 * in Moodle's tasks and in plain PHPUnit against a real local HTTP server.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class delivery {
    /** @var outbox_repository */
    private $outbox;
    /** @var transport */
    private $transport;
    /** @var signer */
    private $signer;
    /**
     * @var callable function(object $row, int $sequence): ?array — the message for a row (its subject's
     *     state, or its deletion), null when there is nothing to send
     */
    private $messages;
    /** @var backoff */
    private $backoff;
    /** @var string */
    private $url;
    /** @var callable function(): int — the current time in microseconds since 1970 */
    private $clock;

    /**
     * @param outbox_repository $outbox
     * @param transport $transport
     * @param signer $signer
     * @param callable $messages function(object $row, int $sequence): ?array
     * @param backoff $backoff
     * @param string $url the receiver's webhook URL
     * @param callable|null $clock function(): int, microseconds since 1970 (the system clock when null)
     */
    public function __construct(outbox_repository $outbox, transport $transport, signer $signer, callable $messages,
            backoff $backoff, string $url, ?callable $clock = null) {
        $this->outbox = $outbox;
        $this->transport = $transport;
        $this->signer = $signer;
        $this->messages = $messages;
        $this->backoff = $backoff;
        $this->url = $url;
        $this->clock = $clock ?? [self::class, 'microseconds'];
    }

    /**
     * Deliver due rows in batches until none is due, a batch fails, or $maxbatches were sent.
     *
     * @param int $batchsize
     * @param int $now
     * @param int $maxbatches
     * @return array counts: delivered, coalesced, retry, failed
     */
    public function run(int $batchsize, int $now, int $maxbatches = 50): array {
        $counts = ['delivered' => 0, 'coalesced' => 0, 'retry' => 0, 'failed' => 0];
        for ($batch = 0; $batch < $maxbatches; $batch++) {
            $rows = $this->outbox->due($batchsize, $now);
            if (!$rows) {
                break;
            }
            $result = $this->send_batch($rows, $now);
            foreach ($result as $key => $count) {
                $counts[$key] += $count;
            }
            if ($result['retry'] || $result['failed']) {
                break;
            }
        }
        return $counts;
    }

    /**
     * @param array $rows
     * @param int $now
     * @return array counts
     */
    public function send_batch(array $rows, int $now): array {
        // Coalesce: of several rows for one subject only the newest is sent; its message carries the
        // current state anyway, so the older ones would only be skipped downstream. What an older row's
        // event recorded for a deletion (a deleted user's e-mail) is kept for the newest.
        $newest = [];
        foreach ($rows as $row) {
            $older = $newest[$row->subject] ?? null;
            if ($older !== null && empty($row->snapshot) && !empty($older->snapshot)) {
                $row->snapshot = $older->snapshot;
            }
            $newest[$row->subject] = $row;
        }
        $superseded = array_values(array_diff(array_map(function($r) {
            return $r->id;
        }, $rows), array_map(function($r) {
            return $r->id;
        }, $newest)));
        // Sequences are assigned now, under the delivery lock, in row order: a message built later
        // carries a later sequence and a newer state.
        $sequence = $this->outbox->allocate_sequences(count($newest), (int) ($this->clock)());
        $events = [];
        $gone = [];
        foreach ($newest as $row) {
            $message = ($this->messages)($row, $sequence++);
            if ($message === null) {
                $gone[] = $row->id;
            } else {
                $events[$row->id] = $message;
            }
        }
        if ($superseded || $gone) {
            $this->outbox->mark_delivered(array_merge($superseded, $gone), $now);
        }
        $counts = ['delivered' => 0, 'coalesced' => count($superseded) + count($gone), 'retry' => 0, 'failed' => 0];
        if (!$events) {
            return $counts;
        }
        $body = json_encode(['events' => array_values($events)], JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
        $batchid = self::uuid();
        $headers = $this->signer->headers($batchid, $now, $body) + ['Content-Type' => 'application/json'];
        $answer = $this->transport->post($this->url, $body, $headers);
        $ids = array_keys($events);
        $status = (int) $answer['status'];
        if ($status >= 200 && $status < 300) {
            $this->outbox->mark_delivered($ids, $now);
            $counts['delivered'] = count($ids);
        } else if (in_array($status, [400, 415, 422], true)) {
            $this->outbox->mark_failed($ids, "HTTP {$status}: " . self::shorten($answer['body']));
            $counts['failed'] = count($ids);
        } else {
            $error = $status ? "HTTP {$status}: " . self::shorten($answer['body']) : ($answer['error'] ?: 'no answer');
            $sent = array_filter($newest, function($row) use ($events) {
                return isset($events[$row->id]);
            });
            $attempts = 1 + max(array_map(function($row) {
                return (int) $row->attempts;
            }, $sent));
            $this->outbox->mark_retry($ids, $error, $now + $this->backoff->delay($attempts));
            $counts['retry'] = count($ids);
        }
        return $counts;
    }

    /**
     * @param string $text
     * @return string
     */
    private static function shorten(string $text): string {
        return mb_substr(trim($text), 0, 500);
    }

    /**
     * The system clock in microseconds since 1970 (exact: microtime() as a string, not a float).
     *
     * @return int
     */
    public static function microseconds(): int {
        [$fraction, $seconds] = explode(' ', microtime());
        return (int) $seconds * 1000000 + (int) substr($fraction, 2, 6);
    }

    /**
     * A random (version 4) UUID.
     *
     * @return string
     */
    public static function uuid(): string {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
