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
 * Drains the outbox: signed POSTs of batches; nothing leaves the outbox before a 2xx.
 *
 * A batch is cut by count (the batch size) and by bytes (under the receiver's body limit); each POST
 * is signed with the time it is sent, so a long run stays inside the receiver's ±5 minute window.
 * What the receiver refuses is narrowed down to the messages at fault: a 413 splits the POST in
 * halves (a message too large on its own is failed, never retried for ever), a 422 fails the
 * messages it names and sends the others again.
 *
 * Plain PHP around three injected parts (outbox, transport, message factory), so the same code runs
 * in Moodle's tasks and in plain PHPUnit against a real local HTTP server.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class delivery {
    /** Default byte limit of one POST: half the receiver's default MAX_BODY_BYTES (1 MiB). */
    const DEFAULT_MAX_BATCH_BYTES = 524288;
    /** JSON flags of the bodies. */
    const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE;
    /** Bytes of an empty batch body, '{"events":[]}'. */
    const EMPTY_BATCH_BYTES = 13;

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
    /** @var int */
    private $maxbatchbytes;

    /**
     * @param outbox_repository $outbox
     * @param transport $transport
     * @param signer $signer
     * @param callable $messages function(object $row, int $sequence): ?array
     * @param backoff $backoff
     * @param string $url the receiver's webhook URL
     * @param callable|null $clock function(): int, microseconds since 1970 (the system clock when null); read
     *     for the sequences and for the signature's timestamp of every POST
     * @param int $maxbatchbytes the largest body of one POST (a single larger message is still tried alone)
     */
    public function __construct(outbox_repository $outbox, transport $transport, signer $signer, callable $messages,
            backoff $backoff, string $url, ?callable $clock = null, int $maxbatchbytes = self::DEFAULT_MAX_BATCH_BYTES) {
        $this->outbox = $outbox;
        $this->transport = $transport;
        $this->signer = $signer;
        $this->messages = $messages;
        $this->backoff = $backoff;
        $this->url = $url;
        $this->clock = $clock ?? [self::class, 'microseconds'];
        $this->maxbatchbytes = max(1, $maxbatchbytes);
    }

    /**
     * Deliver due rows in batches until none is due, the receiver cannot take more (an answer to retry),
     * a whole batch was refused, or $maxbatches were sent.
     *
     * @param int $batchsize
     * @param int $now the run's time: which rows are due, and the outbox's bookkeeping (not the signatures)
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
            if ($result['retry'] || ($result['failed'] && !$result['delivered'])) {
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
        $sent = [];
        foreach ($newest as $row) {
            $message = ($this->messages)($row, $sequence++);
            if ($message === null) {
                $gone[] = $row->id;
            } else {
                $events[$row->id] = $message;
                $sent[$row->id] = $row;
            }
        }
        if ($superseded || $gone) {
            $this->outbox->mark_delivered(array_merge($superseded, $gone), $now);
        }
        $counts = ['delivered' => 0, 'coalesced' => count($superseded) + count($gone), 'retry' => 0, 'failed' => 0];
        $encoded = [];
        foreach ($events as $id => $message) {
            $json = json_encode($message, self::JSON_FLAGS);
            if ($json === false) {
                $this->outbox->mark_failed([$id], 'The message cannot be encoded as JSON: ' . json_last_error_msg());
                $counts['failed']++;
            } else {
                $encoded[$id] = ['json' => $json, 'id' => (string) ($message['id'] ?? '')];
            }
        }
        $chunks = $this->chunks($encoded);
        while ($chunks) {
            $chunk = array_shift($chunks);
            $error = $this->post($chunk, $now, $sent, $counts);
            if ($error !== null) {
                // The receiver cannot take more now: what was not sent waits with the same backoff.
                foreach ($chunks as $rest) {
                    $this->retry(array_keys($rest), $error, $now, $sent, $counts);
                }
                break;
            }
        }
        return $counts;
    }

    /**
     * Cut encoded messages into POST bodies of at most maxbatchbytes (a message larger on its own
     * gets a POST of its own), keeping their order.
     *
     * @param array $encoded row id => ['json' => string, 'id' => message id]
     * @return array of chunks, each row id => ['json' => string, 'id' => message id]
     */
    private function chunks(array $encoded): array {
        $chunks = [];
        $current = [];
        $size = self::EMPTY_BATCH_BYTES;
        foreach ($encoded as $rowid => $message) {
            $add = strlen($message['json']) + ($current ? 1 : 0);
            if ($current && $size + $add > $this->maxbatchbytes) {
                $chunks[] = $current;
                $current = [];
                $size = self::EMPTY_BATCH_BYTES;
                $add = strlen($message['json']);
            }
            $current[$rowid] = $message;
            $size += $add;
        }
        if ($current) {
            $chunks[] = $current;
        }
        return $chunks;
    }

    /**
     * The body of one POST: the batch of the given encoded messages (what json_encode of
     * ['events' => [...]] gives, built from the pieces so that its size is known before).
     *
     * @param array $chunk row id => ['json' => string, 'id' => message id]
     * @return string
     */
    public static function body(array $chunk): string {
        return '{"events":[' . implode(',', array_column($chunk, 'json')) . ']}';
    }

    /**
     * POST one chunk, signed now, and settle every row of it, narrowing a refusal down to the
     * messages at fault.
     *
     * @param array $chunk row id => ['json' => string, 'id' => message id]
     * @param int $now
     * @param array $rows the sent rows, by id (for their attempts)
     * @param array $counts updated
     * @return string|null the error when the rows are to be retried (the receiver cannot take more now)
     */
    private function post(array $chunk, int $now, array $rows, array &$counts): ?string {
        $body = self::body($chunk);
        $signedat = intdiv((int) ($this->clock)(), 1000000);
        $headers = $this->signer->headers(self::uuid(), $signedat, $body) + ['Content-Type' => 'application/json'];
        $answer = $this->transport->post($this->url, $body, $headers);
        $ids = array_keys($chunk);
        $status = (int) $answer['status'];
        if ($status >= 200 && $status < 300) {
            $this->outbox->mark_acknowledged($ids, $now);
            $counts['delivered'] += count($ids);
            return null;
        }
        if ($status === 413) {
            if (count($chunk) > 1) {
                return $this->post_halves($chunk, $now, $rows, $counts);
            }
            $this->outbox->mark_failed($ids, 'HTTP 413: this message alone (' . strlen($body) . ' bytes) is larger than '
                . 'the receiver accepts, so it is not retried. Raise the receiver\'s body limit (MAX_BODY_BYTES, and '
                . 'nginx\'s client_max_body_size), then resend it.');
            $counts['failed']++;
            return null;
        }
        if ($status === 422) {
            $invalid = self::invalid_messages($answer['body'], array_column($chunk, 'id'));
            if ($invalid) {
                $positions = array_keys($chunk);
                foreach ($invalid as $position => $reason) {
                    $this->outbox->mark_failed([$positions[$position]], "HTTP 422: $reason");
                    $counts['failed']++;
                    unset($chunk[$positions[$position]]);
                }
                // The receiver stores a batch all or nothing: the valid messages were not stored. Again without the others.
                return $chunk ? $this->post($chunk, $now, $rows, $counts) : null;
            }
            if (count($chunk) > 1) {
                // Refused as a whole without naming a message (e.g. more events than it takes in one POST).
                return $this->post_halves($chunk, $now, $rows, $counts);
            }
        }
        if (in_array($status, [400, 415, 422], true)) {
            $this->outbox->mark_failed($ids, "HTTP {$status}: " . self::shorten($answer['body']));
            $counts['failed'] += count($ids);
            return null;
        }
        $error = $status ? "HTTP {$status}: " . self::shorten($answer['body']) : ($answer['error'] ?: 'no answer');
        $this->retry($ids, $error, $now, $rows, $counts);
        return $error;
    }

    /**
     * POST the first half, then (unless the receiver cannot take more) the second.
     *
     * @param array $chunk
     * @param int $now
     * @param array $rows
     * @param array $counts
     * @return string|null
     */
    private function post_halves(array $chunk, int $now, array $rows, array &$counts): ?string {
        $half = intdiv(count($chunk), 2);
        $second = array_slice($chunk, $half, null, true);
        $error = $this->post(array_slice($chunk, 0, $half, true), $now, $rows, $counts);
        if ($error !== null) {
            $this->retry(array_keys($second), $error, $now, $rows, $counts);
            return $error;
        }
        return $this->post($second, $now, $rows, $counts);
    }

    /**
     * Try the rows again after a backoff that grows with the most attempts any of them had.
     *
     * @param array $ids
     * @param string $error
     * @param int $now
     * @param array $rows by id
     * @param array $counts
     */
    private function retry(array $ids, string $error, int $now, array $rows, array &$counts): void {
        $attempts = 1;
        foreach ($ids as $id) {
            $attempts = max($attempts, 1 + (int) ($rows[$id]->attempts ?? 0));
        }
        $this->outbox->mark_retry($ids, $error, $now + $this->backoff->delay($attempts));
        $counts['retry'] += count($ids);
    }

    /**
     * The messages a 422 answer of the receiver names, by their position in the POSTed batch.
     *
     * The receiver answers {"error": "invalid messages", "errors": {"events.<index>.<path>": [reasons],
     * "events.<index>": [reasons], …}} (receiver/messages.py); a batch it cannot read as such comes as
     * {"errors": {"events": {"<index>": [reasons]}}}, and a limit on the batch itself as
     * {"errors": {"events": ["…"]}}, which names no message. A message named by its id instead of its
     * index ("events.<id>…" or "<id>…") is found too.
     *
     * @param string $body the answer's body
     * @param array $messageids the ids of the POSTed messages, in order
     * @return array position => the receiver's reasons for that message, in position order
     */
    public static function invalid_messages(string $body, array $messageids): array {
        $answer = json_decode($body);
        $errors = is_object($answer) && isset($answer->errors) && is_object($answer->errors) ? $answer->errors : null;
        if ($errors === null) {
            return [];
        }
        $count = count($messageids);
        $byid = array_flip(array_filter(array_map('strval', $messageids), 'strlen'));
        $found = [];
        // A key names a message as "events.<index>[.<path>]", or "[events.]<message id>[.<path>]".
        $name = function(string $key) use ($count, $byid): ?array {
            if (preg_match('/^events\.(\d+)(?:\.(.*))?$/', $key, $match)) {
                return (int) $match[1] < $count ? [(int) $match[1], $match[2] ?? ''] : null;
            }
            $rest = strpos($key, 'events.') === 0 ? substr($key, strlen('events.')) : $key;
            foreach ($byid as $id => $position) {
                if ($rest === (string) $id || strpos($rest, $id . '.') === 0) {
                    return [$position, (string) substr($rest, strlen($id) + 1)];
                }
            }
            return null;
        };
        foreach (get_object_vars($errors) as $key => $reasons) {
            if ($key === 'events' && is_object($reasons)) {
                foreach (get_object_vars($reasons) as $index => $inner) {
                    $named = $name("events.$index");
                    if ($named !== null) {
                        $found[$named[0]][] = self::reasons($inner);
                    }
                }
                continue;
            }
            $named = $name((string) $key);
            if ($named !== null) {
                $found[$named[0]][] = ($named[1] !== '' ? $named[1] . ': ' : '') . self::reasons($reasons);
            }
        }
        ksort($found);
        return array_map(function(array $parts) {
            return self::shorten(implode('; ', $parts));
        }, $found);
    }

    /**
     * @param mixed $reasons what the receiver said about one field: a string, a list, or nested fields
     * @return string
     */
    private static function reasons($reasons): string {
        if (is_scalar($reasons)) {
            return (string) $reasons;
        }
        $parts = [];
        foreach ((array) $reasons as $key => $value) {
            $parts[] = (is_string($key) && $key !== '' ? "$key: " : '') . self::reasons($value);
        }
        return implode(', ', $parts);
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
