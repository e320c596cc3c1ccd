<?php
/**
 * The CRM's outbox (table crmsync_outbox, declared in custom/metadata/crmsync_outboxMetaData.php):
 * one row per save or deletion of a synced record by a CRM user, kept until the receiver answered
 * 2xx for a message that carried it.
 *
 * Plain PHP over the three methods of SuiteCRM's DBManager it uses (query, fetchByAssoc, quote), so
 * the same code runs in the CRM and in plain PHPUnit on a real MariaDB. Row ids are the per-CRM
 * sequence of the messages: AUTO_INCREMENT, which MariaDB >= 10.2.4 and MySQL 8 keep across restarts.
 * The delivery lock is MySQL's GET_LOCK: the package supports SuiteCRM on MySQL/MariaDB only.
 */
class CrmSyncOutbox
{
    const TABLE = 'crmsync_outbox';
    const WAITING = 'waiting';
    const DELIVERED = 'delivered';
    const FAILED = 'failed';
    /** What `changed` names for a deletion (no CRM field). */
    const DELETED = 'deleted';

    /** @var object SuiteCRM's DBManager, or anything with its query/fetchByAssoc/quote */
    private $db;

    public function __construct($db)
    {
        $this->db = $db;
    }

    /**
     * Text as a CRM user typed it. SuiteCRM holds a value HTML-encoded once or twice depending on
     * where it is read (a bean after save: purify_html's htmlentities over the request's encoding;
     * a retrieve: to_html; a _cstm column: `&` as `&amp;`); its own save decodes entities twice
     * (purify_html), so no entity a user typed survives as one and decoding until nothing changes
     * gives back the text.
     */
    public static function plain($value): string
    {
        $text = (string) $value;
        for ($i = 0; $i < 3; $i++) {
            $decoded = html_entity_decode($text, ENT_QUOTES | ENT_HTML401, 'UTF-8');
            if ($decoded === $text) {
                break;
            }
            $text = $decoded;
        }
        return $text;
    }

    /**
     * The synced fields whose value this save changed.
     *
     * @param array $fields the synced fields of the module
     * @param array|null $before the values before the save (a bean's fetched_row), null for a new record
     * @param array $after the values saved
     * @return string[] in $fields' order; a field missing from $before is not known to have changed
     */
    public static function changedFields(array $fields, ?array $before, array $after): array
    {
        $changed = array();
        foreach ($fields as $field) {
            $new = self::plain($after[$field] ?? '');
            if ($before === null ? $new !== '' : array_key_exists($field, $before) && self::plain($before[$field]) !== $new) {
                $changed[] = $field;
            }
        }
        return $changed;
    }

    /** One insert: the change is delivered by the scheduler job, never in the user's request. */
    public function record(string $module, string $recordId, string $action, array $changed, int $now): void
    {
        $uuid = self::uuid();
        $created = gmdate('Y-m-d H:i:s', $now);
        $this->query('INSERT INTO ' . self::TABLE . ' (uuid, module, record_id, action, changed, created, attempts, '
            . 'next_attempt, status) VALUES (' . implode(', ', array(
                $this->text($uuid), $this->text($module), $this->text($recordId), $this->text($action),
                $this->text(json_encode(array_values($changed))), $this->text($created), '0', $this->text($created),
                $this->text(self::WAITING))) . ')');
    }

    /**
     * The waiting rows of the records that have a row due, oldest record first: every waiting row of
     * such a record, so that one message carries all of them.
     *
     * @return array of groups ['module', 'record_id', 'rows' => [row, ...] in id order]
     */
    public function due(int $limit, int $now): array
    {
        $keys = $this->rows('SELECT module, record_id, MIN(id) AS first FROM ' . self::TABLE
            . " WHERE status = '" . self::WAITING . "' AND next_attempt <= " . $this->text(gmdate('Y-m-d H:i:s', $now))
            . ' GROUP BY module, record_id ORDER BY first LIMIT ' . max(1, $limit));
        if (!$keys) {
            return array();
        }
        $groups = array();
        $where = array();
        foreach ($keys as $key) {
            $groups[$key['module'] . '|' . $key['record_id']] = array('module' => $key['module'],
                'record_id' => $key['record_id'], 'rows' => array());
            $where[] = '(module = ' . $this->text($key['module']) . ' AND record_id = ' . $this->text($key['record_id']) . ')';
        }
        foreach ($this->rows('SELECT * FROM ' . self::TABLE . " WHERE status = '" . self::WAITING . "' AND ("
            . implode(' OR ', $where) . ') ORDER BY id') as $row) {
            $groups[$row['module'] . '|' . $row['record_id']]['rows'][] = $row;
        }
        return array_values($groups);
    }

    public function markDelivered(array $ids, int $now): void
    {
        $this->update($ids, "status = '" . self::DELIVERED . "', delivered = " . $this->text(gmdate('Y-m-d H:i:s', $now))
            . ', last_error = NULL');
    }

    public function markRetry(array $ids, string $error, int $nextAttempt): void
    {
        $this->update($ids, 'attempts = attempts + 1, next_attempt = ' . $this->text(gmdate('Y-m-d H:i:s', $nextAttempt))
            . ', last_error = ' . $this->text(self::shorten($error)));
    }

    public function markFailed(array $ids, string $reason): void
    {
        $this->update($ids, "status = '" . self::FAILED . "', attempts = attempts + 1, last_error = "
            . $this->text(self::shorten($reason)));
    }

    /** The failed rows wait again, due now (after the admin fixed what the receiver refused). */
    public function retryFailed(int $now): void
    {
        $this->query('UPDATE ' . self::TABLE . " SET status = '" . self::WAITING . "', next_attempt = "
            . $this->text(gmdate('Y-m-d H:i:s', $now)) . " WHERE status = '" . self::FAILED . "'");
    }

    /**
     * Delivered rows older than $before go; the newest row always stays, so that the sequence never
     * restarts below what the receiver has seen.
     */
    public function prune(int $before): void
    {
        $newest = $this->rows('SELECT MAX(id) AS id FROM ' . self::TABLE);
        if ($newest && $newest[0]['id'] !== null) {
            $this->query('DELETE FROM ' . self::TABLE . " WHERE status = '" . self::DELIVERED . "' AND delivered < "
                . $this->text(gmdate('Y-m-d H:i:s', $before)) . ' AND id < ' . (int) $newest[0]['id']);
        }
    }

    /** What the admin page shows. */
    public function summary(int $failedShown = 50): array
    {
        $counts = array(self::WAITING => 0, self::FAILED => 0);
        foreach ($this->rows('SELECT status, COUNT(*) AS n FROM ' . self::TABLE . " WHERE status <> '" . self::DELIVERED
            . "' GROUP BY status") as $row) {
            $counts[$row['status']] = (int) $row['n'];
        }
        $waiting = $this->rows('SELECT MIN(created) AS oldest, MIN(next_attempt) AS next FROM ' . self::TABLE
            . " WHERE status = '" . self::WAITING . "'")[0] ?? array();
        $lastError = $this->rows('SELECT last_error, attempts FROM ' . self::TABLE . " WHERE status = '" . self::WAITING
            . "' AND last_error IS NOT NULL ORDER BY id DESC LIMIT 1")[0] ?? null;
        $last = $this->rows('SELECT MAX(delivered) AS delivered FROM ' . self::TABLE . " WHERE status = '"
            . self::DELIVERED . "'")[0]['delivered'] ?? null;
        return array(
            'waiting' => $counts[self::WAITING], 'failed' => $counts[self::FAILED],
            'oldest_waiting' => $waiting['oldest'] ?? null, 'next_attempt' => $waiting['next'] ?? null,
            'last_error' => $lastError, 'last_delivered' => $last,
            'failed_rows' => $this->rows('SELECT id, module, record_id, action, created, attempts, last_error FROM '
                . self::TABLE . " WHERE status = '" . self::FAILED . "' ORDER BY id DESC LIMIT " . max(1, $failedShown)),
        );
    }

    /** One delivery at a time per CRM database (cron runs and "Send now" may overlap). */
    public function lock(): bool
    {
        $row = $this->rows("SELECT GET_LOCK(CONCAT('crmsync_outbox.', DATABASE()), 0) AS got");
        return $row && (string) $row[0]['got'] === '1';
    }

    public function unlock(): void
    {
        $this->query("SELECT RELEASE_LOCK(CONCAT('crmsync_outbox.', DATABASE()))");
    }

    private function update(array $ids, string $set): void
    {
        if ($ids) {
            $this->query('UPDATE ' . self::TABLE . " SET $set WHERE id IN (" . implode(', ', array_map('intval', $ids)) . ')');
        }
    }

    private function rows(string $sql): array
    {
        $result = $this->query($sql);
        $rows = array();
        while ($result && ($row = $this->db->fetchByAssoc($result, false))) {
            $rows[] = $row;
        }
        return $rows;
    }

    private function query(string $sql)
    {
        $result = $this->db->query($sql);
        if ($result === false) {
            throw new RuntimeException('the outbox query failed: ' . strtok($sql, ' ') . ' on ' . self::TABLE);
        }
        return $result;
    }

    private function text(string $value): string
    {
        return "'" . $this->db->quote($value) . "'";
    }

    /** A random (version 4) UUID: the id of a row's message. */
    public static function uuid(): string
    {
        $bytes = random_bytes(16);
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x40);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }

    private static function shorten(string $text): string
    {
        return mb_substr(trim($text), 0, 1000);
    }
}
