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
 * Where outbox rows are kept: Moodle's database in production (moodle_outbox), memory in plain tests.
 *
 * A row is an object with id, messageid, subject, type, status, attempts, nextattempt, lasterror,
 * eventdata and snapshot (what the event knew, for a deletion). A row's id orders the rows; the
 * message's sequence is assigned when it is sent (allocate_sequences).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
interface outbox_repository {
    /** Pending rows whose next attempt is due, oldest first. */
    public function due(int $limit, int $now): array;

    /**
     * Delivered without being sent (superseded by a newer row of the subject, or nothing left to send):
     * kept for the retention period, then pruned.
     */
    public function mark_delivered(array $ids, int $now): void;

    /**
     * POSTed and answered 2xx by the receiver: delivered as mark_delivered, and $now is kept as the last
     * time the receiver acknowledged a delivery (the status page's "Last delivery").
     */
    public function mark_acknowledged(array $ids, int $now): void;

    /** Try again at $nextattempt; $error is shown on the status page. */
    public function mark_retry(array $ids, string $error, int $nextattempt): void;

    /** The receiver refused the messages themselves (4xx): an admin must look; resend is manual. */
    public function mark_failed(array $ids, string $error): void;

    /**
     * Reserve $count consecutive message sequences, under the delivery lock, at sending time.
     *
     * The first is max(the last one reserved + 1, $nowmicros), and the last one reserved is stored
     * apart from the rows: so sequences only grow, even across a Moodle database restore (the rows'
     * ids go back) and a plugin reinstall (nothing is stored any more: the clock carries on).
     *
     * @param int $count how many messages are about to be built
     * @param int $nowmicros the current time in microseconds since 1970
     * @return int the first of the $count sequences
     */
    public function allocate_sequences(int $count, int $nowmicros): int;
}
