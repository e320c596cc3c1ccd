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
 * Backfill: queue the current state of every course, course group, synced user, enrolment, grade, completion, course
 * access, policy acceptance and taken attendance session for delivery (what the observers would have
 * recorded; site admins, the guest and deleted users excluded).
 *
 * php local/crmsync/cli/backfill.php [--course=ID] [--user=ID] [--since=UNIXTIME] [--chunk=500] [--from=ID]
 * Runs in chunks without one long transaction; prints progress per subject type; --from resumes the users
 * after an interruption. A subject that already has a message waiting is not queued again.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

define('CLI_SCRIPT', true);
require(__DIR__ . '/../../../config.php');
require_once($CFG->libdir . '/clilib.php');

use local_crmsync\local\backfill;

[$options, $unrecognised] = cli_get_params(
    ['course' => 0, 'user' => 0, 'since' => 0, 'chunk' => 500, 'from' => 0, 'help' => false], ['h' => 'help']);
if ($options['help'] || $unrecognised) {
    echo "Queue Moodle's current state for the CRM sync: courses and their groups, users (not site admins), enrolments,\n"
        . "course access, consents, learners' grades and completions, taken attendance sessions.\n\n"
        . "Options: --course=ID --user=ID (no courses, groups or attendance then) --since=UNIXTIME (changed since)\n"
        . "         --chunk=N (users per chunk, default 500) --from=USERID (resume the users after that id)\n";
    exit($unrecognised ? 2 : 0);
}
$course = (int) $options['course'];
$since = (int) $options['since'];
$chunk = max(1, (int) $options['chunk']);

$totals = array_fill_keys(backfill::TYPES, 0);
$line = function(string $what, array $counts) {
    cli_writeln("backfill: $what; queued: " . implode(', ', array_map(function($type, $count) {
        return "$type $count";
    }, array_keys($counts), $counts)));
};
$report = function(string $what, array $counts) use (&$totals, $line) {
    foreach ($counts as $type => $count) {
        $totals[$type] += $count;
    }
    $line($what, $counts);
};

if (!$options['user']) {
    $report('courses', backfill::courses($course, $since));
    $report('groups', backfill::groups($course, $since));
}
$done = 0;
$lastid = (int) $options['from'];
do {
    [$count, $lastid, $total, $counts] = backfill::chunk($lastid, $chunk, $course, (int) $options['user'], $since);
    $done += $count;
    $report("{$done}/{$total} users (resume with --from={$lastid})", $counts);
} while ($count === $chunk);
if (!$options['user']) {
    $report('attendance sessions', backfill::attendance($course, $since));
}
\core\task\manager::queue_adhoc_task(new \local_crmsync\task\deliver_adhoc(), true);
$line('done, in all (a subject with a message already waiting is not queued again)', $totals);
cli_writeln('backfill: the messages are delivered by the adhoc and scheduled tasks.');
