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
 * The failures table of the delivery status page, every visible word a lang string.
 *
 * Plain PHP (the strings and the buttons are handed in), so that it is tested without Moodle.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class status_report {
    /** The column headings' lang string identifiers, in order. */
    const FAILURE_COLUMNS = ['colid', 'coltype', 'colsubject', 'colstatus', 'colattempts', 'colerror', 'colaction'];

    /** The row statuses shown, with their lang string identifiers. */
    const STATUSES = ['failed' => 'status_failed', 'pending' => 'status_pending'];

    /**
     * @param array $rows outbox rows (id, type, subject, status, attempts, lasterror)
     * @param callable $string function(string $identifier): string, get_string of local_crmsync
     * @param callable $button function(int $rowid): string, the HTML of a row's resend button
     * @return array ['head' => string[], 'data' => string[][]] for an html_table
     */
    public static function failures_table(array $rows, callable $string, callable $button): array {
        $head = array_map($string, self::FAILURE_COLUMNS);
        $data = [];
        foreach ($rows as $row) {
            $status = isset(self::STATUSES[$row->status]) ? $string(self::STATUSES[$row->status]) : $row->status;
            $data[] = [(int) $row->id, self::escape($row->type), self::escape($row->subject), self::escape($status),
                (int) $row->attempts, self::escape((string) $row->lasterror),
                $row->status === 'failed' ? $button((int) $row->id) : ''];
        }
        return ['head' => $head, 'data' => $data];
    }

    /**
     * What "Test connection" says about the receiver's answer, as plain text.
     *
     * An answer without an HTTP status is no answer of the receiver's: Moodle refused to connect (its cURL
     * security, naming the setting), or nothing answered (the cURL error says why).
     *
     * @param array $answer transport::post's answer
     * @param callable $string function(string $identifier, $a): string, get_string of local_crmsync
     * @return string
     */
    public static function test_result(array $answer, callable $string): string {
        $status = (int) ($answer['status'] ?? 0);
        $error = trim((string) ($answer['error'] ?? ''));
        if ($status > 0) {
            return $string('testresult', ['status' => $status, 'body' => (string) ($answer['body'] ?? '') ?: $error]);
        }
        if (!empty($answer['refused'])) {
            return $string('testrefused', $error);
        }
        return $string('testnoanswer', $error !== '' ? $error : $string('noanswer', null));
    }

    /**
     * @param string $text
     * @return string HTML
     */
    private static function escape(string $text): string {
        return htmlspecialchars($text, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }
}
