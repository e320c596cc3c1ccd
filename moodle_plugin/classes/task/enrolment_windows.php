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

/**
 * Re-sends the enrolments whose window opened or closed since the last run.
 *
 * Moodle fires no event when an enrolment's start or end date passes, yet the enrolment's status
 * changes then (suspended before its start, after its end). This task records an enrolment.updated
 * row for every user_enrolments row whose timestart or timeend fell in (last run, now], and a
 * course_summary.updated row for each of their courses (the summary counts the active learners); the
 * messages are built when they are sent, so they carry the state of that moment.
 *
 * The first run records nothing and starts from then: windows that passed before it are carried by
 * a backfill (cli/backfill.php), which sends every enrolment's current status.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class enrolment_windows extends \core\task\scheduled_task {
    /** The plugin setting that keeps the end of the last period looked at (unix time). */
    const CHECKED_UNTIL = 'enrolwindowscheckeduntil';

    public function get_name() {
        return get_string('taskenrolmentwindows', 'local_crmsync');
    }

    public function execute() {
        $now = time();
        $from = get_config('local_crmsync', self::CHECKED_UNTIL);
        $count = $from === false ? 0 : self::record((int) $from, $now);
        if ($from === false || $now > (int) $from) {
            set_config(self::CHECKED_UNTIL, $now, 'local_crmsync');
        }
        mtrace("local_crmsync: {$count} enrolments whose start or end date passed queued");
    }

    /**
     * Record an enrolment.updated row for every learner and course with an enrolment whose start or end
     * date is in ($from, $to], and a course_summary.updated row for each of those courses.
     *
     * A date that had already passed when the enrolment was last written (timemodified) changed
     * nothing since: the event of that write carried the status.
     *
     * @param int $from
     * @param int $to
     * @return int enrolment rows recorded
     */
    public static function record(int $from, int $to): int {
        global $DB;
        if ($to <= $from) {
            return 0;
        }
        $rows = $DB->get_recordset_sql(
            "SELECT DISTINCT ue.userid, e.courseid
               FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
              WHERE (ue.timestart > :from1 AND ue.timestart <= :to1 AND ue.timestart > ue.timemodified)
                 OR (ue.timeend > :from2 AND ue.timeend <= :to2 AND ue.timeend > ue.timemodified)",
            ['from1' => $from, 'to1' => $to, 'from2' => $from, 'to2' => $to]);
        $count = 0;
        $courses = [];
        foreach ($rows as $row) {
            $userid = (int) $row->userid;
            if ((int) $row->courseid !== (int) SITEID) {
                $courses[(int) $row->courseid] = true;
            }
            $count += (int) \local_crmsync\local\moodle_outbox::add(['type' => 'enrolment.updated',
                'subject' => "enrolment:$userid:{$row->courseid}", 'userid' => $userid, 'snapshot' => null,
                'eventdata' => null]);
        }
        $rows->close();
        $summaries = 0;
        foreach (array_keys($courses) as $courseid) {
            $summaries += (int) \local_crmsync\local\moodle_outbox::add(['type' => 'course_summary.updated',
                'subject' => "course_summary:$courseid", 'userid' => null, 'snapshot' => null, 'eventdata' => null]);
        }
        if ($count + $summaries) {
            \core\task\manager::queue_adhoc_task(new deliver_adhoc(), true);
        }
        return $count;
    }
}
