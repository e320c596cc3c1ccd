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

/**
 * The outbox in Moodle's database (table local_crmsync_outbox).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class moodle_outbox implements outbox_repository {
    /** Table name. */
    const TABLE = 'local_crmsync_outbox';
    /** The plugin setting that keeps when the receiver last acknowledged a delivery (unix time). */
    const LAST_ACKNOWLEDGED = 'lastacknowledged';

    /**
     * Insert one row for an event_map entry, unless its group is switched off, or (for course access,
     * which fires on every page view) a row for the same subject is already waiting.
     *
     * @param array $entry
     * @return bool whether a row was inserted
     */
    public static function add(array $entry): bool {
        global $DB;
        if (!event_map::group_enabled(get_config('local_crmsync', 'eventgroups'), $entry['type'])) {
            return false;
        }
        if ($entry['type'] === 'course_access.updated'
                && $DB->record_exists(self::TABLE, ['subject' => $entry['subject'], 'status' => 'pending'])) {
            return false;
        }
        $DB->insert_record(self::TABLE, (object) [
            'messageid' => delivery::uuid(), 'type' => $entry['type'], 'subject' => $entry['subject'],
            'userid' => $entry['userid'], 'eventdata' => json_encode($entry['eventdata']),
            'snapshot' => $entry['snapshot'] === null ? null : json_encode($entry['snapshot']),
            'status' => 'pending', 'attempts' => 0, 'nextattempt' => 0, 'timecreated' => time(),
        ]);
        return true;
    }

    public function due(int $limit, int $now): array {
        global $DB;
        return array_values($DB->get_records_select(self::TABLE, "status = 'pending' AND nextattempt <= :now",
            ['now' => $now], 'id ASC', '*', 0, $limit));
    }

    public function mark_delivered(array $ids, int $now): void {
        global $DB;
        if ($ids) {
            [$in, $params] = $DB->get_in_or_equal($ids, SQL_PARAMS_NAMED);
            $DB->execute("UPDATE {" . self::TABLE . "} SET status = 'delivered', timedelivered = :now WHERE id $in",
                $params + ['now' => $now]);
        }
    }

    public function mark_acknowledged(array $ids, int $now): void {
        $this->mark_delivered($ids, $now);
        if ($ids) {
            set_config(self::LAST_ACKNOWLEDGED, $now, 'local_crmsync');
        }
    }

    /**
     * @return int|null when the receiver last acknowledged a delivery; null when it never did (or not
     *     since the upgrade to 2026120100, which introduced it)
     */
    public static function last_acknowledged(): ?int {
        $time = get_config('local_crmsync', self::LAST_ACKNOWLEDGED);
        return $time ? (int) $time : null;
    }

    public function mark_retry(array $ids, string $error, int $nextattempt): void {
        global $DB;
        if ($ids) {
            [$in, $params] = $DB->get_in_or_equal($ids, SQL_PARAMS_NAMED);
            $DB->execute("UPDATE {" . self::TABLE . "} SET attempts = attempts + 1, nextattempt = :next, lasterror = :error
                           WHERE id $in", $params + ['next' => $nextattempt, 'error' => $error]);
        }
    }

    public function mark_failed(array $ids, string $error): void {
        global $DB;
        if ($ids) {
            [$in, $params] = $DB->get_in_or_equal($ids, SQL_PARAMS_NAMED);
            $DB->execute("UPDATE {" . self::TABLE . "} SET status = 'failed', attempts = attempts + 1, lasterror = :error
                           WHERE id $in", $params + ['error' => $error]);
        }
    }

    public function allocate_sequences(int $count, int $nowmicros): int {
        $last = get_config('local_crmsync', 'lastsequence');
        $first = ($last === false || $last === '') ? $nowmicros : max((int) $last + 1, $nowmicros);
        if ($count > 0) {
            set_config('lastsequence', (string) ($first + $count - 1), 'local_crmsync');
        }
        return $first;
    }

    /**
     * Send failed rows (or one of them) again.
     *
     * @param int|null $id
     */
    public static function resend(?int $id = null): void {
        global $DB;
        $where = "status = 'failed'" . ($id ? ' AND id = :id' : '');
        $DB->execute("UPDATE {" . self::TABLE . "} SET status = 'pending', nextattempt = 0 WHERE $where", ['id' => $id]);
    }

    /**
     * Delete delivered rows older than the retention period.
     *
     * @param int $days
     */
    public static function prune(int $days): void {
        global $DB;
        $DB->delete_records_select(self::TABLE, "status = 'delivered' AND timedelivered < :before",
            ['before' => time() - $days * DAYSECS]);
    }
}
