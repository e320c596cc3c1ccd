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

use local_crmsync\local\moodle_outbox;

[$options, $unrecognised] = cli_get_params(
    ['course' => 0, 'user' => 0, 'since' => 0, 'chunk' => 500, 'from' => 0, 'help' => false], ['h' => 'help']);
if ($options['help'] || $unrecognised) {
    echo "Queue the current state of learners, enrolments, grades and completions for the CRM sync.\n\n"
        . "Options: --course=ID --user=ID --since=UNIXTIME (changed since) --chunk=N (default 500) --from=USERID (resume)\n";
    exit($unrecognised ? 2 : 0);
}

$where = 'u.deleted = 0 AND u.id > :from AND u.id <> :guest';
$params = ['from' => (int) $options['from'], 'guest' => $CFG->siteguest];
if ($options['user']) {
    $where .= ' AND u.id = :user';
    $params['user'] = (int) $options['user'];
}
if ($options['since']) {
    $where .= ' AND u.timemodified >= :since';
    $params['since'] = (int) $options['since'];
}
if ($options['course']) {
    $where .= ' AND EXISTS (SELECT 1 FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                             WHERE ue.userid = u.id AND e.courseid = :course)';
    $params['course'] = (int) $options['course'];
}
$total = $DB->count_records_sql("SELECT COUNT(1) FROM {user} u WHERE $where", $params);
$done = 0;
$lastid = (int) $options['from'];
do {
    $params['from'] = $lastid;
    $users = $DB->get_records_sql("SELECT u.id FROM {user} u WHERE $where ORDER BY u.id", $params, 0, (int) $options['chunk']);
    foreach ($users as $user) {
        $entries = [['type' => 'user.updated', 'subject' => "user:{$user->id}", 'userid' => (int) $user->id]];
        $courses = $DB->get_records_sql("SELECT DISTINCT e.courseid FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                                          WHERE ue.userid = :userid" . ($options['course'] ? ' AND e.courseid = :course' : ''),
            ['userid' => $user->id, 'course' => (int) $options['course']]);
        foreach ($courses as $course) {
            $entries[] = ['type' => 'enrolment.updated', 'subject' => "enrolment:{$user->id}:{$course->courseid}", 'userid' => (int) $user->id];
            $entries[] = ['type' => 'course_completion.updated', 'subject' => "course_completion:{$user->id}:{$course->courseid}",
                'userid' => (int) $user->id];
            $grades = $DB->get_records_sql("SELECT g.itemid FROM {grade_grades} g JOIN {grade_items} i ON i.id = g.itemid
                                             WHERE g.userid = :userid AND i.courseid = :courseid AND g.finalgrade IS NOT NULL",
                ['userid' => $user->id, 'courseid' => $course->courseid]);
            foreach ($grades as $grade) {
                $entries[] = ['type' => 'grade.updated', 'subject' => "grade:{$user->id}:{$grade->itemid}", 'userid' => (int) $user->id];
            }
        }
        foreach ($entries as $entry) {
            moodle_outbox::add($entry + ['snapshot' => null, 'eventdata' => null]);
        }
        $lastid = (int) $user->id;
        $done++;
    }
    cli_writeln("backfill: {$done}/{$total} users queued (resume with --from={$lastid})");
} while (count($users) === (int) $options['chunk']);
\core\task\manager::queue_adhoc_task(new \local_crmsync\task\deliver_adhoc(), true);
cli_writeln('backfill: done; the messages are delivered by the adhoc and scheduled tasks.');
