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
 * Backfill: queue every subject the observers would have recorded for Moodle's current state, so that
 * a CRM that missed messages (first installation, a CRM reset) ends up equal to Moodle.
 *
 * What is queued: every course, its summary and its groups; for every synced user (synced_people; not deleted)
 * the profile, every enrolment and course access, every policy acceptance, and, in the courses where
 * the user holds a learner role (the learnerroles setting), the grades, activity completions and the
 * course completion Moodle holds; last, every attendance session that was taken. The settings'
 * groups ('What to send') still decide what is recorded. A subject that already has a message
 * waiting is not queued again (that message carries the current state when it is sent), so running
 * a backfill twice queues nothing twice.
 *
 * Used by cli/backfill.php and by the status page's Backfill button (through an adhoc task); the users
 * go in chunks by ascending id, committed row by row, without one long transaction.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class backfill {
    /** The subject types, in the order they are queued and counted. */
    const TYPES = ['course', 'course_summary', 'group', 'user', 'enrolment', 'course_access', 'consent', 'grade',
        'module_completion', 'course_completion', 'attendance'];

    /**
     * Queue every course (but the site), or one, and its summary (a course that existed before the plugin
     * has had no event that would have queued one).
     *
     * @param int $courseid only this course (0: all)
     * @param int $since only courses changed since (0: all)
     * @return array counts by type
     */
    public static function courses(int $courseid = 0, int $since = 0): array {
        global $DB;
        [$where, $params] = self::course_filter('c.id', $courseid);
        if ($since) {
            $where .= ' AND c.timemodified >= :since';
            $params['since'] = $since;
        }
        $entries = [];
        foreach ($DB->get_fieldset_sql("SELECT c.id FROM {course} c WHERE $where ORDER BY c.id", $params) as $id) {
            $entries[] = ['type' => 'course.updated', 'subject' => "course:$id", 'userid' => null];
            $entries[] = ['type' => 'course_summary.updated', 'subject' => "course_summary:$id", 'userid' => null];
        }
        return self::queue($entries);
    }

    /**
     * Queue every group of every course (but the site), or of one.
     *
     * @param int $courseid only this course's groups (0: all)
     * @param int $since only groups changed since (0: all)
     * @return array counts by type
     */
    public static function groups(int $courseid = 0, int $since = 0): array {
        global $DB;
        [$where, $params] = self::course_filter('g.courseid', $courseid);
        $params['since'] = $since;
        $groups = $DB->get_fieldset_sql("SELECT g.id FROM {groups} g WHERE $where AND g.timemodified >= :since ORDER BY g.id",
            $params);
        return self::queue(array_map(function($id) {
            return ['type' => 'group.updated', 'subject' => "group:$id", 'userid' => null];
        }, $groups));
    }

    /**
     * Queue every attendance session that was taken (mod_attendance), in every course or one.
     *
     * @param int $courseid only this course (0: all)
     * @param int $since only sessions taken since (0: all)
     * @return array counts by type
     */
    public static function attendance(int $courseid = 0, int $since = 0): array {
        global $DB;
        if (!$DB->get_manager()->table_exists('attendance_sessions')) {
            return self::queue([]);
        }
        [$where, $params] = self::course_filter('a.course', $courseid);
        $params['since'] = $since;
        $sessions = $DB->get_fieldset_sql("SELECT s.id FROM {attendance_sessions} s JOIN {attendance} a ON a.id = s.attendanceid
                                            WHERE $where AND s.lasttaken > 0 AND s.lasttaken >= :since ORDER BY s.id", $params);
        return self::queue(array_map(function($id) {
            return ['type' => 'attendance.recorded', 'subject' => "attendance:$id", 'userid' => null];
        }, $sessions));
    }

    /**
     * Queue one chunk of synced users (by ascending id, after $fromid) and what they hold.
     *
     * @param int $fromid resume after this user id
     * @param int $chunk users per call
     * @param int $courseid only this course (0: all)
     * @param int $userid only this user (0: all)
     * @param int $since only users changed since (0: all)
     * @return array [users done, last user id, total matching users, counts by type]
     */
    public static function chunk(int $fromid, int $chunk, int $courseid = 0, int $userid = 0, int $since = 0): array {
        global $DB;
        [$synced, $params] = synced_people::where('u.id');
        $where = "u.deleted = 0 AND $synced";
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
        $users = array_keys($DB->get_records_sql("SELECT u.id FROM {user} u WHERE $where AND u.id > :from ORDER BY u.id",
            $params + ['from' => $fromid], 0, $chunk));
        $learnerroles = synced_people::learner_roles();
        $counts = self::queue([]);
        $lastid = $fromid;
        foreach ($users as $id) {
            $lastid = (int) $id;
            $queued = self::queue(self::user_entries($lastid, self::holdings($lastid, $courseid, $learnerroles),
                self::consents($lastid)));
            foreach ($queued as $type => $count) {
                $counts[$type] += $count;
            }
        }
        return [count($users), $lastid, $total, $counts];
    }

    /**
     * What one user's subjects are, from what they hold in Moodle.
     *
     * @param int $userid
     * @param array $courses courseid => ['learner' => bool (holds a learner role there), 'accessed' => bool,
     *     'grades' => grade item ids with a grade, 'modules' => course module ids with a completion,
     *     'completion' => bool (a course_completions row exists)]
     * @param int[] $versions policy version ids the user has an acceptance of
     * @return array event_map-shaped entries
     */
    public static function user_entries(int $userid, array $courses, array $versions): array {
        $entries = [['type' => 'user.updated', 'subject' => "user:$userid", 'userid' => $userid]];
        foreach ($versions as $version) {
            $entries[] = ['type' => 'consent.updated', 'subject' => "consent:$userid:" . (int) $version, 'userid' => $userid];
        }
        foreach ($courses as $course => $holds) {
            $entries[] = ['type' => 'enrolment.updated', 'subject' => "enrolment:$userid:$course", 'userid' => $userid];
            if (!empty($holds['accessed'])) {
                $entries[] = ['type' => 'course_access.updated', 'subject' => "course_access:$userid:$course",
                    'userid' => $userid];
            }
            // Grades and completions are a learner's: a teacher's enrolment carries none.
            if (empty($holds['learner'])) {
                continue;
            }
            foreach ($holds['grades'] ?? [] as $itemid) {
                // The subject does not name the course: kept for a deletion if the item is gone when sending.
                $entries[] = ['type' => 'grade.updated', 'subject' => "grade:$userid:" . (int) $itemid, 'userid' => $userid,
                    'snapshot' => ['courseid' => (int) $course]];
            }
            foreach ($holds['modules'] ?? [] as $cmid) {
                $entries[] = ['type' => 'module_completion.updated', 'subject' => "module_completion:$userid:" . (int) $cmid,
                    'userid' => $userid, 'snapshot' => ['courseid' => (int) $course]];
            }
            if (!empty($holds['completion'])) {
                $entries[] = ['type' => 'course_completion.updated', 'subject' => "course_completion:$userid:$course",
                    'userid' => $userid];
            }
        }
        return $entries;
    }

    /**
     * What a user holds in each course they are enrolled in (the shape user_entries takes).
     *
     * @param int $userid
     * @param int $courseid only this course (0: all)
     * @param int[] $learnerroles
     * @return array
     */
    private static function holdings(int $userid, int $courseid, array $learnerroles): array {
        global $DB;
        [$where, $params] = self::course_filter('e.courseid', $courseid);
        $courses = $DB->get_fieldset_sql("SELECT DISTINCT e.courseid FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                                           WHERE ue.userid = :userid AND $where", $params + ['userid' => $userid]);
        $learnerof = [];
        if ($learnerroles) {
            [$in, $roleparams] = $DB->get_in_or_equal($learnerroles, SQL_PARAMS_NAMED, 'role');
            $learnerof = array_flip($DB->get_fieldset_sql(
                "SELECT DISTINCT ctx.instanceid FROM {role_assignments} ra
                   JOIN {context} ctx ON ctx.id = ra.contextid AND ctx.contextlevel = :level
                  WHERE ra.userid = :userid AND ra.roleid $in", $roleparams + ['level' => CONTEXT_COURSE, 'userid' => $userid]));
        }
        $holdings = [];
        foreach ($courses as $course) {
            $at = ['userid' => $userid, 'course' => $course];
            $holdings[(int) $course] = [
                'learner' => isset($learnerof[$course]),
                'accessed' => $DB->record_exists('user_lastaccess', ['userid' => $userid, 'courseid' => $course]),
                'grades' => $DB->get_fieldset_sql("SELECT g.itemid FROM {grade_grades} g JOIN {grade_items} i ON i.id = g.itemid
                                                    WHERE g.userid = :userid AND i.courseid = :course
                                                          AND g.finalgrade IS NOT NULL ORDER BY g.itemid", $at),
                'modules' => $DB->get_fieldset_sql("SELECT c.coursemoduleid FROM {course_modules_completion} c
                                                      JOIN {course_modules} cm ON cm.id = c.coursemoduleid
                                                     WHERE c.userid = :userid AND cm.course = :course
                                                           AND cm.deletioninprogress = 0 ORDER BY c.coursemoduleid", $at),
                'completion' => $DB->record_exists('course_completions', $at),
            ];
        }
        return $holdings;
    }

    /**
     * @param int $userid
     * @return int[] the policy versions the user has an acceptance of (tool_policy)
     */
    private static function consents(int $userid): array {
        global $DB;
        if (!$DB->get_manager()->table_exists('tool_policy_acceptances')) {
            return [];
        }
        return $DB->get_fieldset_select('tool_policy_acceptances', 'policyversionid', 'userid = ? ORDER BY policyversionid',
            [$userid]);
    }

    /**
     * @param string $column the course id column
     * @param int $courseid 0: every course but the site
     * @return array [SQL condition, params]
     */
    private static function course_filter(string $column, int $courseid): array {
        return $courseid ? ["$column = :courseid", ['courseid' => $courseid]] : ["$column <> :siteid", ['siteid' => SITEID]];
    }

    /**
     * Record the entries whose subject has no message waiting yet.
     *
     * @param array $entries
     * @return array counts of the rows recorded, by type (every type of TYPES)
     */
    private static function queue(array $entries): array {
        global $DB;
        $counts = array_fill_keys(self::TYPES, 0);
        foreach ($entries as $entry) {
            if ($DB->record_exists(moodle_outbox::TABLE, ['subject' => $entry['subject'], 'status' => 'pending'])) {
                continue;
            }
            if (moodle_outbox::add($entry + ['snapshot' => null, 'eventdata' => null])) {
                $counts[explode('.', $entry['type'])[0]]++;
            }
        }
        return $counts;
    }
}
