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
 * When to try a failed delivery again: exponential backoff with full jitter, capped.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class backoff {
    /** @var int first delay, seconds */
    private $base;
    /** @var int longest delay, seconds */
    private $cap;
    /** @var callable returns a float in [0, 1) */
    private $random;

    /**
     * @param int $base seconds before the first retry (default 1 minute)
     * @param int $cap longest wait (default 6 hours)
     * @param callable|null $random injectable for tests
     */
    public function __construct(int $base = 60, int $cap = 21600, ?callable $random = null) {
        $this->base = $base;
        $this->cap = $cap;
        $this->random = $random ?? function(): float {
            return mt_rand() / (mt_getrandmax() + 1);
        };
    }

    /**
     * Seconds to wait after the given number of failed attempts (1 = the first failure).
     *
     * @param int $attempts
     * @return int
     */
    public function delay(int $attempts): int {
        $ceiling = min($this->cap, $this->base * (2 ** min(max($attempts - 1, 0), 30)));
        // Half fixed, half random: retries spread out, yet never come sooner than half the ceiling.
        return (int) round($ceiling / 2 + ($this->random)() * $ceiling / 2);
    }
}
