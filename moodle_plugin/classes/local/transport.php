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
 * Sends one HTTP POST. Moodle's implementation uses its curl class and curl security helper.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
interface transport {
    /**
     * @param string $url
     * @param string $body
     * @param array $headers name => value
     * @return array ['status' => int (0 when no answer), 'body' => string, 'error' => string, and optionally
     *     'refused' => bool: true when nothing was sent because the sender itself refused to connect (Moodle's cURL
     *     security); 'error' then says why]
     */
    public function post(string $url, string $body, array $headers): array;
}
