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

/**
 * Scheduled delivery: every minute, next to the adhoc task queued after each new outbox row. Enrolment
 * windows: every 5 minutes, the enrolments whose start or end date passed (Moodle fires no event then).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$tasks = [
    ['classname' => '\local_crmsync\task\deliver_scheduled', 'blocking' => 0, 'minute' => '*', 'hour' => '*',
        'day' => '*', 'month' => '*', 'dayofweek' => '*'],
    ['classname' => '\local_crmsync\task\enrolment_windows', 'blocking' => 0, 'minute' => '*/5', 'hour' => '*',
        'day' => '*', 'month' => '*', 'dayofweek' => '*'],
];
