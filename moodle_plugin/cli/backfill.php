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
 * Backfill: queue the current state of users, enrolments, grades and completions for delivery.
 *
 * php local/crmsync/cli/backfill.php [--course=ID] [--user=ID] [--since=UNIXTIME] [--chunk=500] [--from=ID]
 * Runs in chunks without one long transaction; prints progress; --from resumes after an interruption.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

define('CLI_SCRIPT', true);
require(__DIR__ . '/../../../config.php');
require_once($CFG->libdir . '/clilib.php');

[$options, $unrecognised] = cli_get_params(
    ['course' => 0, 'user' => 0, 'since' => 0, 'chunk' => 500, 'from' => 0, 'help' => false], ['h' => 'help']);
if ($options['help'] || $unrecognised) {
    echo "Queue the current state of learners, enrolments, grades and completions for the CRM sync.\n\n"
        . "Options: --course=ID --user=ID --since=UNIXTIME (changed since) --chunk=N (default 500) --from=USERID (resume)\n";
    exit($unrecognised ? 2 : 0);
}

$done = 0;
$lastid = (int) $options['from'];
do {
    [$count, $lastid, $total] = \local_crmsync\local\backfill::chunk($lastid, (int) $options['chunk'],
        (int) $options['course'], (int) $options['user'], (int) $options['since']);
    $done += $count;
    cli_writeln("backfill: {$done}/{$total} users queued (resume with --from={$lastid})");
} while ($count === (int) $options['chunk']);
\core\task\manager::queue_adhoc_task(new \local_crmsync\task\deliver_adhoc(), true);
cli_writeln('backfill: done; the messages are delivered by the adhoc and scheduled tasks.');
