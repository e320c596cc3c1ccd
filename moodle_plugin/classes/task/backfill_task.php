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

namespace local_crmsync\task;

use local_crmsync\local\backfill;

/**
 * The status page's Backfill button: queues every course and its groups, then the synced users a chunk per run
 * (re-queuing itself), then the taken attendance sessions.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class backfill_task extends \core\task\adhoc_task {
    /** Users per run. */
    const CHUNK = 500;

    public function execute() {
        $data = $this->get_custom_data();
        if (!$data) {
            self::trace('courses', backfill::courses());
            self::trace('groups', backfill::groups());
            $data = (object) ['from' => 0];
        }
        [$count, $lastid, $total, $counts] = backfill::chunk((int) $data->from, self::CHUNK);
        self::trace("{$count} users after id {$data->from} ({$total} in all)", $counts);
        if ($count === self::CHUNK) {
            $next = new self();
            $next->set_custom_data(['from' => $lastid]);
            \core\task\manager::queue_adhoc_task($next);
        } else {
            self::trace('attendance sessions', backfill::attendance());
        }
        \core\task\manager::queue_adhoc_task(new deliver_adhoc(), true);
    }

    /**
     * @param string $what
     * @param array $counts by type
     */
    private static function trace(string $what, array $counts): void {
        mtrace("local_crmsync backfill: $what; queued: " . json_encode($counts));
    }
}
