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
 * Backfill: queue the current state of existing learners, their enrolments, course completions and
 * grades. Used by cli/backfill.php and by the status page's Backfill button (through an adhoc task).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class backfill {
    /**
     * Queue one chunk of users (by ascending id, after $fromid); commits row by row, no long transaction.
     *
     * @param int $fromid resume after this user id
     * @param int $chunk users per call
     * @param int $courseid only this course (0: all)
     * @param int $userid only this user (0: all)
     * @param int $since only users changed since (0: all)
     * @return array [users queued, last user id, total matching users]
     */
    public static function chunk(int $fromid, int $chunk, int $courseid = 0, int $userid = 0, int $since = 0): array {
        global $DB, $CFG;
        $where = 'u.deleted = 0 AND u.id <> :guest';
        $params = ['guest' => $CFG->siteguest];
        if ($userid) {
            $where .= ' AND u.id = :user';
            $params['user'] = $userid;
        }
        if ($since) {
            $where .= ' AND u.timemodified >= :since';
            $params['since'] = $since;
        }
        if ($courseid) {
            $where .= ' AND EXISTS (SELECT 1 FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                                     WHERE ue.userid = u.id AND e.courseid = :course)';
            $params['course'] = $courseid;
        }
        $total = $DB->count_records_sql("SELECT COUNT(1) FROM {user} u WHERE $where", $params);
        $users = $DB->get_records_sql("SELECT u.id FROM {user} u WHERE $where AND u.id > :from ORDER BY u.id",
            $params + ['from' => $fromid], 0, $chunk);
        $lastid = $fromid;
        foreach ($users as $user) {
            foreach (self::entries((int) $user->id, $courseid) as $entry) {
                moodle_outbox::add($entry + ['snapshot' => null, 'eventdata' => null]);
            }
            $lastid = (int) $user->id;
        }
        return [count($users), $lastid, $total];
    }

    /**
     * @param int $userid
     * @param int $courseid 0 for every course of the user
     * @return array event_map-shaped entries
     */
    private static function entries(int $userid, int $courseid): array {
        global $DB;
        $entries = [['type' => 'user.updated', 'subject' => "user:$userid", 'userid' => $userid]];
        $courses = $DB->get_fieldset_sql("SELECT DISTINCT e.courseid FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                                           WHERE ue.userid = :userid" . ($courseid ? ' AND e.courseid = :course' : ''),
            ['userid' => $userid, 'course' => $courseid]);
        foreach ($courses as $course) {
            $entries[] = ['type' => 'enrolment.updated', 'subject' => "enrolment:$userid:$course", 'userid' => $userid];
            $entries[] = ['type' => 'course_completion.updated', 'subject' => "course_completion:$userid:$course",
                'userid' => $userid];
            $items = $DB->get_fieldset_sql("SELECT g.itemid FROM {grade_grades} g JOIN {grade_items} i ON i.id = g.itemid
                                             WHERE g.userid = :userid AND i.courseid = :courseid AND g.finalgrade IS NOT NULL",
                ['userid' => $userid, 'courseid' => $course]);
            foreach ($items as $itemid) {
                // The subject does not name the course: kept for a deletion if the item is gone when sending.
                $entries[] = ['type' => 'grade.updated', 'subject' => "grade:$userid:$itemid", 'userid' => $userid,
                    'snapshot' => ['courseid' => (int) $course]];
            }
        }
        return $entries;
    }
}
