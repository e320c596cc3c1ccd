<?php
/**
 * Delivers the CRM's outbox to the receiver's /webhooks/crm: signed POSTs of batches
 * (Standard Webhooks); no row leaves the outbox before a 2xx for the message that carried it.
 *
 * The rows of one record make one message, built when it is sent: the record's state then (plain
 * text), the union of the rows' changed fields, the newest row's id as its sequence. What the receiver
 * refuses is narrowed down to the messages at fault, as the Moodle plugin's delivery does
 * (moodle_plugin/classes/local/delivery.php): a 413 splits the POST in halves (a message too large
 * on its own fails), a 422 fails the messages it names and sends the others again, 400/415 fail the
 * POST's messages; anything else (no answer, 401, 5xx, 503 while the receiver's database is down)
 * is retried after a capped, jittered exponential backoff.
 *
 * Plain PHP: SuiteCRM's part (reading a record) is the injected $state callable, the synced modules
 * and fields (CrmSyncFields::MODULES, generated from the field mapping and crm_schema.yaml) are
 * injected too. A Contact's message is crm/defs/contact.json (its Moodle identity in data.moodle); an
 * enrolment's, group's or intake's (a module with `related`) crm/defs/record.json (its parents' ids in
 * data.related).
 */
require_once __DIR__ . '/CrmSyncOutbox.php';

class CrmSyncDelivery
{
    const JSON_FLAGS = JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE | JSON_INVALID_UTF8_SUBSTITUTE;
    /** Bytes of '{"events":[]}'. */
    const EMPTY_BATCH_BYTES = 13;
    const DEFAULTS = array('receiver_url' => '', 'secret' => '', 'previous_secret' => '', 'batch_size' => 100,
                           'max_batch_bytes' => 524288, 'timeout' => 30, 'backoff_base' => 60, 'backoff_cap' => 3600);

    /** @var CrmSyncOutbox */
    private $outbox;
    /** @var callable function(string $module, string $id): ?array, what state() returns */
    private $state;
    /** @var array */
    private $settings;
    /** @var array ['id' => …, 'url' => …] the CRM that sends */
    private $crm;
    /** @var array module => ['subject' => 'contact', 'fields' => [CRM field, …], 'moodle' | 'related' => …] */
    private $modules;
    /** @var callable function(): float in [0, 1) */
    private $random;
    /** @var callable function(): int, seconds since 1970: the signature's timestamp */
    private $clock;

    /**
     * @param array $settings $sugar_config['crmsync'] (see DEFAULTS)
     * @param array $crm ['unique_key' => $sugar_config['unique_key'], 'site_url' => $sugar_config['site_url']]
     * @param array $modules CrmSyncFields::MODULES
     */
    public function __construct(CrmSyncOutbox $outbox, callable $state, array $settings, array $crm, array $modules,
                                ?callable $random = null, ?callable $clock = null)
    {
        $this->modules = $modules;
        $this->outbox = $outbox;
        $this->state = $state;
        $this->settings = array_merge(self::DEFAULTS, array_filter($settings, function ($v) {
            return $v !== null && $v !== '';
        }));
        $this->crm = array('id' => self::crmId((string) ($crm['unique_key'] ?? '')), 'url' => (string) ($crm['site_url'] ?? ''));
        $this->random = $random ?? function (): float {
            return mt_rand() / (mt_getrandmax() + 1);
        };
        $this->clock = $clock ?? 'time';
    }

    /** The CRM's id in messages: stable, and not the unique_key itself (which salts SuiteCRM's sessions). */
    public static function crmId(string $uniqueKey): string
    {
        return substr(hash('sha256', $uniqueKey), 0, 20);
    }

    /** Why the job cannot deliver, or null when it can. */
    public function misconfiguration(): ?string
    {
        if (!preg_match('#^https?://#', (string) $this->settings['receiver_url'])) {
            return "\$sugar_config['crmsync']['receiver_url'] is not an http(s) URL";
        }
        foreach (array('secret', 'previous_secret') as $key) {
            $secret = (string) $this->settings[$key];
            if (($key === 'secret' || $secret !== '') && self::key($secret) === null) {
                return "\$sugar_config['crmsync']['$key'] is not a whsec_ secret (whsec_ and base64)";
            }
        }
        return null;
    }

    /**
     * Deliver what is due, batch after batch, until nothing is due, the receiver cannot take more, or
     * $maxBatches were sent.
     *
     * @param int $now which rows are due, and the outbox's bookkeeping
     * @param bool $ignoreBackoff "Send now": rows waiting for a retry go too
     * @return array counts: messages delivered, rows delivered, retry (rows), failed (rows)
     */
    public function run(int $now, bool $ignoreBackoff = false, int $maxBatches = 20): array
    {
        $counts = array('delivered' => 0, 'rows' => 0, 'retry' => 0, 'failed' => 0);
        $dueBy = $ignoreBackoff ? $now + (int) $this->settings['backoff_cap'] + 1 : $now;
        for ($batch = 0; $batch < $maxBatches; $batch++) {
            $groups = $this->outbox->due((int) $this->settings['batch_size'], $dueBy);
            if (!$groups) {
                break;
            }
            $result = $this->sendGroups($groups, $now);
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
     * A record's state for its message, from its row as the database holds it (a bean's fetched_row,
     * with email1, which is no column), including a deleted record's.
     *
     * @param array $module CrmSyncFields::MODULES[<module>]
     * @param array $parents for a module with `related`: related name => the parent's id ('' or null
     *     for none), as the join tables hold them (parentIds)
     * @return array ['fields', 'moodle' => ['site_id', 'user_id'] or null (Contacts) | 'related' => [name
     *     => id or null] (modules with `related`), 'date_modified' => epoch, 'deleted']
     */
    public static function state(array $module, array $row, array $parents = array()): array
    {
        $fields = array();
        foreach ($module['fields'] as $field) {
            $fields[$field] = CrmSyncOutbox::plain($row[$field] ?? '');
        }
        $modified = strtotime(((string) ($row['date_modified'] ?? '')) . ' UTC');
        $state = array('fields' => $fields);
        if (isset($module['related'])) {
            $state['related'] = array();
            foreach (array_keys($module['related']) as $name) {
                $state['related'][$name] = (string) ($parents[$name] ?? '') !== '' ? (string) $parents[$name] : null;
            }
        } else {
            $site = CrmSyncOutbox::plain($row[$module['moodle']['site_id']] ?? '');
            $user = trim((string) ($row[$module['moodle']['user_id']] ?? ''));
            $state['moodle'] = $site !== '' && ctype_digit($user) && (int) $user > 0
                ? array('site_id' => $site, 'user_id' => (int) $user) : null;
        }
        return $state + array(
            'date_modified' => $modified === false ? null : $modified,
            'deleted' => (string) ($row['deleted'] ?? '0') === '1',
        );
    }

    /**
     * The ids of a record's parents, as its relationships' join tables hold them now (the newest row that
     * is not deleted; a one-to-many relationship keeps one).
     *
     * @param object $db SuiteCRM's DBManager, or anything with its query/fetchByAssoc/quote
     * @param array $module CrmSyncFields::MODULES[<module>], a module with `related`
     * @param array $joins CrmSyncFields::RELATIONSHIPS: relationship => ['table', 'parent', 'child']
     * @return array related name => parent id, '' for none
     */
    public static function parentIds($db, array $module, array $joins, string $id): array
    {
        $parents = array();
        foreach ($module['related'] as $name => $related) {
            $join = $joins[$related['relationship']];
            $result = $db->query('SELECT ' . $join['parent'] . ' AS parent_id FROM ' . $join['table'] . ' WHERE '
                . $join['child'] . " = '" . $db->quote($id) . "' AND deleted = 0 ORDER BY date_modified DESC LIMIT 1");
            if ($result === false) {
                throw new RuntimeException("the parent of a record could not be read from {$join['table']}");
            }
            $row = $db->fetchByAssoc($result, false);
            $parents[$name] = $row ? (string) $row['parent_id'] : '';
        }
        return $parents;
    }

    /** The message for one record's waiting rows, with the record's state now. */
    public function message(array $group): array
    {
        $rows = $group['rows'];
        $newest = end($rows);
        $changed = array();
        foreach ($rows as $row) {
            foreach ((array) json_decode((string) $row['changed'], true) as $field) {
                $changed[$field] = true;
            }
        }
        $module = $this->modules[$group['module']];
        $state = ($this->state)($group['module'], $group['record_id']);
        $deleted = $state === null || !empty($state['deleted']);
        $fields = array();
        foreach ($module['fields'] as $field) {
            if ($state !== null) {
                $fields[$field] = CrmSyncOutbox::plain($state['fields'][$field] ?? '');
            }
        }
        $data = array('id' => $group['record_id']);
        if (isset($module['related'])) {
            // crm/defs/record.json: the parents by name, null for none (and for a record gone from the database).
            $related = array();
            foreach (array_keys($module['related']) as $name) {
                $related[$name] = $state['related'][$name] ?? null;
            }
            $data += array('changed' => array_keys($changed), 'fields' => (object) $fields, 'related' => (object) $related);
        } else {
            // crm/defs/contact.json
            $data += array('moodle' => $state['moodle'] ?? null, 'changed' => array_keys($changed), 'fields' => (object) $fields);
        }
        return array(
            'id' => $newest['uuid'],
            'type' => $module['subject'] . ($deleted ? '.deleted' : '.updated'),
            'occurred_at' => gmdate('Y-m-d\TH:i:s\Z', strtotime($newest['created'] . ' UTC')),
            'sequence' => (int) $newest['id'],
            'subject' => $module['subject'] . ':' . $group['record_id'],
            'crm' => $this->crm,
            'data' => $data + array(
                'date_modified' => isset($state['date_modified']) ? (int) $state['date_modified'] : null,
                'deleted' => $deleted,
            ),
        );
    }

    private function sendGroups(array $groups, int $now): array
    {
        $counts = array('delivered' => 0, 'rows' => 0, 'retry' => 0, 'failed' => 0);
        $encoded = array();
        foreach ($groups as $group) {
            $message = $this->message($group);
            $encoded[] = array('json' => json_encode($message, self::JSON_FLAGS), 'id' => $message['id'],
                               'rows' => array_column($group['rows'], 'id'),
                               'attempts' => max(array_map('intval', array_column($group['rows'], 'attempts'))));
        }
        $chunks = $this->chunks($encoded);
        while ($chunks) {
            $error = $this->post(array_shift($chunks), $now, $counts);
            if ($error !== null) {
                // The receiver cannot take more now: what was not sent waits with the same backoff.
                foreach ($chunks as $rest) {
                    $this->retry($rest, $error, $now, $counts);
                }
                break;
            }
        }
        return $counts;
    }

    /** POST bodies of at most max_batch_bytes (a message larger on its own gets a POST of its own), in order. */
    private function chunks(array $encoded): array
    {
        $chunks = array();
        $current = array();
        $size = self::EMPTY_BATCH_BYTES;
        foreach ($encoded as $message) {
            $add = strlen($message['json']) + ($current ? 1 : 0);
            if ($current && $size + $add > (int) $this->settings['max_batch_bytes']) {
                $chunks[] = $current;
                $current = array();
                $size = self::EMPTY_BATCH_BYTES;
                $add = strlen($message['json']);
            }
            $current[] = $message;
            $size += $add;
        }
        if ($current) {
            $chunks[] = $current;
        }
        return $chunks;
    }

    /** @return string|null the error when the chunk's rows are to be retried (the receiver cannot take more now) */
    private function post(array $chunk, int $now, array &$counts): ?string
    {
        $body = '{"events":[' . implode(',', array_column($chunk, 'json')) . ']}';
        $answer = $this->transport($body);
        $status = $answer['status'];
        if ($status >= 200 && $status < 300) {
            $rows = array_merge(...array_column($chunk, 'rows'));
            $this->outbox->markDelivered($rows, $now);
            $counts['delivered'] += count($chunk);
            $counts['rows'] += count($rows);
            return null;
        }
        if ($status === 413) {
            if (count($chunk) > 1) {
                return $this->postHalves($chunk, $now, $counts);
            }
            $this->fail($chunk, 'HTTP 413: this message alone (' . strlen($body) . ' bytes) is larger than the '
                . 'receiver accepts, so it is not retried. Raise the receiver\'s body limit (MAX_BODY_BYTES), then '
                . 'retry the failed rows.', $counts);
            return null;
        }
        if ($status === 422) {
            $invalid = self::invalidMessages($answer['body'], count($chunk));
            if ($invalid) {
                foreach ($invalid as $position => $reason) {
                    $this->fail(array($chunk[$position]), "HTTP 422: $reason", $counts);
                    unset($chunk[$position]);
                }
                // The receiver stores a batch all or nothing: the valid messages were not stored. Again without the others.
                return $chunk ? $this->post(array_values($chunk), $now, $counts) : null;
            }
            if (count($chunk) > 1) {
                // Refused as a whole without naming a message (e.g. more events than it takes in one POST).
                return $this->postHalves($chunk, $now, $counts);
            }
        }
        if (in_array($status, array(400, 415, 422), true)) {
            $this->fail($chunk, "HTTP $status: " . trim($answer['body']), $counts);
            return null;
        }
        $error = $status ? "HTTP $status: " . trim($answer['body']) : 'no answer: ' . $answer['error'];
        $this->retry($chunk, $error, $now, $counts);
        return $error;
    }

    private function postHalves(array $chunk, int $now, array &$counts): ?string
    {
        $half = intdiv(count($chunk), 2);
        $second = array_slice($chunk, $half);
        $error = $this->post(array_slice($chunk, 0, $half), $now, $counts);
        if ($error !== null) {
            $this->retry($second, $error, $now, $counts);
            return $error;
        }
        return $this->post($second, $now, $counts);
    }

    private function fail(array $messages, string $reason, array &$counts): void
    {
        $rows = array_merge(...array_column($messages, 'rows'));
        $this->outbox->markFailed($rows, $reason);
        $counts['failed'] += count($rows);
    }

    /** Try again after a backoff that grows with the most attempts any of the messages had. */
    private function retry(array $messages, string $error, int $now, array &$counts): void
    {
        $rows = array_merge(...array_column($messages, 'rows'));
        $this->outbox->markRetry($rows, $error, $now + $this->delay(1 + max(array_column($messages, 'attempts'))));
        $counts['retry'] += count($rows);
    }

    /** Seconds to wait after the given number of failed attempts: half fixed, half random, capped. */
    public function delay(int $attempts): int
    {
        $ceiling = min((int) $this->settings['backoff_cap'],
                       (int) $this->settings['backoff_base'] * (2 ** min(max($attempts - 1, 0), 30)));
        return (int) round($ceiling / 2 + ($this->random)() * $ceiling / 2);
    }

    /**
     * The messages a 422 answer names, by position: {"errors": {"events.<index>[.<path>]": [reasons]}}
     * as receiver/webhooks.py answers (a key "events" alone names the batch, no message).
     *
     * @return array position => reasons, in position order
     */
    public static function invalidMessages(string $body, int $count): array
    {
        $answer = json_decode($body, true);
        $found = array();
        foreach ((is_array($answer) && is_array($answer['errors'] ?? null) ? $answer['errors'] : array()) as $key => $reasons) {
            if (preg_match('/^events\.(\d+)(?:\.(.*))?$/', (string) $key, $match) && (int) $match[1] < $count) {
                $found[(int) $match[1]][] = (($match[2] ?? '') !== '' ? $match[2] . ': ' : '')
                    . implode(', ', array_map('strval', (array) $reasons));
            }
        }
        ksort($found);
        return array_map(function (array $parts) {
            return implode('; ', $parts);
        }, $found);
    }

    /** The three Standard Webhooks headers; while a secret is being replaced, signed with both. */
    public function headers(string $id, int $timestamp, string $body): array
    {
        $signatures = array();
        foreach (array($this->settings['secret'], $this->settings['previous_secret']) as $secret) {
            if ((string) $secret !== '') {
                $signatures[] = 'v1,' . base64_encode(hash_hmac('sha256', "$id.$timestamp.$body", self::key($secret), true));
            }
        }
        return array('webhook-id' => $id, 'webhook-timestamp' => (string) $timestamp,
                     'webhook-signature' => implode(' ', $signatures));
    }

    private static function key(string $secret): ?string
    {
        $key = strpos($secret, 'whsec_') === 0 ? base64_decode(substr($secret, 6), true) : false;
        return $key === false || $key === '' ? null : $key;
    }

    /** @return array ['status' => int (0: no answer), 'body' => string, 'error' => string] */
    private function transport(string $body): array
    {
        $lines = array('Content-Type: application/json');
        foreach ($this->headers(CrmSyncOutbox::uuid(), (int) ($this->clock)(), $body) as $name => $value) {
            $lines[] = "$name: $value";
        }
        $curl = curl_init($this->settings['receiver_url']);
        curl_setopt_array($curl, array(
            CURLOPT_POST => true, CURLOPT_POSTFIELDS => $body, CURLOPT_HTTPHEADER => $lines,
            CURLOPT_RETURNTRANSFER => true, CURLOPT_CONNECTTIMEOUT => min(10, (int) $this->settings['timeout']),
            CURLOPT_TIMEOUT => (int) $this->settings['timeout'], CURLOPT_FOLLOWLOCATION => false,
            CURLOPT_PROTOCOLS => CURLPROTO_HTTP | CURLPROTO_HTTPS,
        ));
        $answer = curl_exec($curl);
        $result = array('status' => (int) curl_getinfo($curl, CURLINFO_RESPONSE_CODE),
                        'body' => mb_substr(is_string($answer) ? $answer : '', 0, 2000), 'error' => curl_error($curl));
        curl_close($curl);
        return $result;
    }
}
