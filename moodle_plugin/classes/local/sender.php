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
 * Runs a delivery with Moodle's parts, under a lock so that two cron runners never send at once.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class sender {
    /**
     * @return array|null counts, or null when not configured or another runner holds the lock
     */
    public static function run(): ?array {
        $config = get_config('local_crmsync');
        if (empty($config->receiverurl) || empty($config->secret)) {
            return null;
        }
        $lock = \core\lock\lock_config::get_lock_factory('local_crmsync')->get_lock('delivery', 0);
        if (!$lock) {
            return null;
        }
        try {
            $kib = (int) ($config->maxbatchkb ?? 0);
            $maxbytes = $kib > 0 ? $kib * 1024 : delivery::DEFAULT_MAX_BATCH_BYTES;
            $delivery = new delivery(new moodle_outbox(), new curl_transport(), secret_rotation::signer($config, time()),
                [state_reader::class, 'message'], new backoff(), $config->receiverurl, null, $maxbytes);
            $counts = $delivery->run((int) ($config->batchsize ?? 100) ?: 100, time());
            moodle_outbox::prune((int) ($config->retentiondays ?? 7));
            return $counts;
        } finally {
            $lock->release();
        }
    }
}
