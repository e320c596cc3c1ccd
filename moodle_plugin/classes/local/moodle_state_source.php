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
 * What Moodle's database holds now about a subject (read at sending time, under the delivery lock).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class moodle_state_source implements state_source {
    public function site(): array {
        global $CFG;
        return ['id' => (string) get_config('local_crmsync', 'siteid'), 'url' => $CFG->wwwroot];
    }

    public function now(): int {
        return time();
    }

    public function user(int $userid) {
        global $DB;
        return $DB->get_record('user', ['id' => $userid, 'deleted' => 0]) ?: null;
    }

    public function profile(int $userid): array {
        global $DB;
        $wanted = array_filter(array_map('trim', explode(',', (string) get_config('local_crmsync', 'profilefields'))));
        if (!$wanted) {
            return [];
        }
        [$in, $params] = $DB->get_in_or_equal($wanted, SQL_PARAMS_NAMED);
        return $DB->get_records_sql_menu(
            "SELECT f.shortname, d.data FROM {user_info_data} d JOIN {user_info_field} f ON f.id = d.fieldid
              WHERE d.userid = :userid AND f.shortname $in", $params + ['userid' => $userid]);
    }

    public function course(int $courseid) {
        global $DB;
        return $DB->get_record('course', ['id' => $courseid]) ?: null;
    }

    public function enrolments(int $userid, int $courseid): array {
        global $DB;
        return array_values($DB->get_records_sql(
            "SELECT ue.id, ue.enrolid, ue.status, ue.timestart, ue.timeend, ue.timecreated, ue.timemodified,
                    e.enrol AS method, e.status AS enrolstatus
               FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
              WHERE ue.userid = :userid AND e.courseid = :courseid", ['userid' => $userid, 'courseid' => $courseid]));
    }

    public function roles(int $userid, int $courseid): array {
        $context = \context_course::instance($courseid, IGNORE_MISSING);
        if (!$context) {
            return [];
        }
        return array_values(array_unique(array_map(function($role) {
            return $role->shortname;
        }, get_user_roles($context, $userid, false))));
    }

    public function groups(int $userid, int $courseid): array {
        return array_values(groups_get_all_groups($courseid, $userid));
    }

    public function group(int $groupid) {
        global $DB;
        return $DB->get_record('groups', ['id' => $groupid]) ?: null;
    }

    public function group_member_count(int $groupid): int {
        global $DB;
        return $DB->count_records('groups_members', ['groupid' => $groupid]);
    }

    public function tutors(int $courseid): array {
        global $DB;
        $context = \context_course::instance($courseid, IGNORE_MISSING);
        if (!$context) {
            return [];
        }
        // Every enrolled tutor, whether the sync keeps a Contact for them or not: the CRM shows their names only.
        $enrolled = get_enrolled_join($context, 'u.id', true);
        [$in, $roleparams] = $DB->get_in_or_equal(event_map::TUTOR_ROLES, SQL_PARAMS_NAMED, 'role');
        $rows = $DB->get_recordset_sql(
            "SELECT ra.id, u.id AS userid, u.firstname, u.lastname, r.shortname AS role
               FROM {role_assignments} ra
               JOIN {role} r ON r.id = ra.roleid
               JOIN {user} u ON u.id = ra.userid
                    {$enrolled->joins}
              WHERE {$enrolled->wheres} AND ra.contextid = :context AND u.deleted = 0 AND r.shortname $in
           ORDER BY u.lastname, u.firstname, u.id, r.shortname",
            $enrolled->params + $roleparams + ['context' => $context->id]);
        $tutors = [];
        foreach ($rows as $row) {
            $id = (int) $row->userid;
            $tutors[$id] = $tutors[$id] ?? (object) ['id' => $id, 'firstname' => $row->firstname,
                'lastname' => $row->lastname, 'roles' => []];
            $tutors[$id]->roles = array_values(array_unique(array_merge($tutors[$id]->roles, [$row->role])));
        }
        $rows->close();
        return array_values($tutors);
    }

    public function grade_item(int $itemid) {
        global $DB;
        return $DB->get_record('grade_items', ['id' => $itemid]) ?: null;
    }

    public function grade(int $itemid, int $userid) {
        global $DB;
        return $DB->get_record('grade_grades', ['itemid' => $itemid, 'userid' => $userid]) ?: null;
    }

    public function instance_cmid(string $modname, int $instance, int $courseid): ?int {
        $cm = get_coursemodule_from_instance($modname, $instance, $courseid);
        return $cm ? (int) $cm->id : null;
    }

    public function course_module(int $cmid) {
        return get_coursemodule_from_id('', $cmid) ?: null;
    }

    public function module_completion(int $cmid, int $userid) {
        global $DB;
        return $DB->get_record('course_modules_completion', ['coursemoduleid' => $cmid, 'userid' => $userid]) ?: null;
    }

    public function course_completion(int $userid, int $courseid) {
        global $DB;
        return $DB->get_record('course_completions', ['userid' => $userid, 'course' => $courseid]) ?: null;
    }

    public function last_access(int $userid, int $courseid): int {
        global $DB;
        return (int) $DB->get_field('user_lastaccess', 'timeaccess', ['userid' => $userid, 'courseid' => $courseid]);
    }

    public function attendance_session(int $sessionid) {
        global $DB;
        return $DB->get_record('attendance_sessions', ['id' => $sessionid]) ?: null;
    }

    public function attendance(int $attendanceid) {
        global $DB;
        return $DB->get_record('attendance', ['id' => $attendanceid]) ?: null;
    }

    public function attendance_logs(int $sessionid): array {
        global $DB;
        return array_values($DB->get_records_sql(
            "SELECT l.id, l.studentid, l.statusid, l.timetaken, l.takenby, l.remarks, s.acronym, s.description, s.grade
               FROM {attendance_log} l JOIN {attendance_statuses} s ON s.id = l.statusid
              WHERE l.sessionid = :sessionid", ['sessionid' => $sessionid]));
    }

    public function policy_acceptance(int $userid, int $versionid) {
        global $DB;
        return $DB->get_record('tool_policy_acceptances', ['userid' => $userid, 'policyversionid' => $versionid]) ?: null;
    }

    public function policy_version(int $versionid) {
        global $DB;
        return $DB->get_record('tool_policy_versions', ['id' => $versionid]) ?: null;
    }

    public function policy_acceptance_events($acceptance): array {
        global $DB;
        if (!$DB->get_manager()->table_exists('logstore_standard_log')) {
            return [];
        }
        // The user context and the acceptance's creation time narrow the search to the rows of that user
        // since then (the table has no index on objectid).
        $rows = $DB->get_records_select('logstore_standard_log',
            "eventname IN (:created, :updated) AND objecttable = 'tool_policy_acceptances' AND objectid = :id
             AND contextlevel = :level AND contextinstanceid = :userid AND timecreated >= :since",
            ['created' => '\\tool_policy\\event\\acceptance_created',
                'updated' => '\\tool_policy\\event\\acceptance_updated', 'id' => $acceptance->id,
                'level' => CONTEXT_USER, 'userid' => $acceptance->userid, 'since' => (int) $acceptance->timecreated],
            'id ASC', 'id, eventname, other');
        return array_values(array_map(function($row) {
            $other = \logstore_standard\log\store::decode_other($row->other);
            return ['eventname' => $row->eventname, 'other' => is_array($other) ? $other : []];
        }, $rows));
    }

    public function active_learners(int $courseid): int {
        return synced_people::count_learners($courseid);
    }

    public function attendance_sessions_taken(int $courseid): int {
        global $DB;
        if (!$this->has_attendance()) {
            return 0;
        }
        return $DB->count_records_sql(
            "SELECT COUNT(1) FROM {attendance_sessions} s JOIN {attendance} a ON a.id = s.attendanceid
              WHERE a.course = :courseid AND s.lasttaken > 0", ['courseid' => $courseid]);
    }

    public function attendance_mark_counts(int $courseid): array {
        global $DB;
        if (!$this->has_attendance()) {
            return [];
        }
        // A mark whose status row is gone still counts among the marks (under no acronym).
        return $DB->get_records_sql_menu(
            "SELECT COALESCE(st.acronym, '') AS acronym, COUNT(1) AS marks
               FROM {attendance_log} l
               JOIN {attendance_sessions} s ON s.id = l.sessionid
               JOIN {attendance} a ON a.id = s.attendanceid
          LEFT JOIN {attendance_statuses} st ON st.id = l.statusid
              WHERE a.course = :courseid AND s.lasttaken > 0
           GROUP BY COALESCE(st.acronym, '')", ['courseid' => $courseid]);
    }

    /**
     * Whether mod_attendance is installed (the course summary is sent without it too).
     *
     * @return bool
     */
    private function has_attendance(): bool {
        global $DB;
        return $DB->get_manager()->table_exists('attendance_log');
    }

    public function activity_grade_items(int $courseid): array {
        global $DB;
        return $DB->get_records_sql(
            "SELECT gi.id, gi.itemname, gi.itemmodule, gi.iteminstance, gi.grademax, gi.grademin, gi.gradepass,
                    cm.id AS cmid
               FROM {grade_items} gi
          LEFT JOIN {modules} m ON m.name = gi.itemmodule
          LEFT JOIN {course_modules} cm ON cm.module = m.id AND cm.instance = gi.iteminstance AND cm.course = gi.courseid
              WHERE gi.courseid = :courseid AND gi.itemtype = 'mod'
           ORDER BY gi.sortorder, gi.id", ['courseid' => $courseid]);
    }

    public function activity_grades(int $courseid): iterable {
        global $DB;
        $grades = $DB->get_recordset_sql(
            "SELECT g.id, g.itemid, g.finalgrade
               FROM {grade_grades} g JOIN {grade_items} gi ON gi.id = g.itemid
              WHERE gi.courseid = :courseid AND gi.itemtype = 'mod' AND g.finalgrade IS NOT NULL",
            ['courseid' => $courseid]);
        try {
            foreach ($grades as $grade) {
                yield $grade;
            }
        } finally {
            $grades->close();
        }
    }
}
