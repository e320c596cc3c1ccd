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

use local_crmsync\local\message_builder as builder;

/**
 * Reads a subject's current state from Moodle's database and builds its message (at sending time).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class state_reader {
    /**
     * The message for an outbox row, or null when its subject no longer exists (nothing to say).
     *
     * @param object $row
     * @param int $sequence assigned at sending time (outbox_repository::allocate_sequences)
     * @return array|null
     */
    public static function message($row, int $sequence): ?array {
        global $CFG;
        $ids = array_map('intval', array_slice(explode(':', $row->subject), 1));
        $snapshot = $row->snapshot ? json_decode($row->snapshot, true) : null;
        $data = self::state($row->type, $ids, $snapshot);
        if ($data === null) {
            return null;
        }
        $site = ['id' => (string) get_config('local_crmsync', 'siteid'), 'url' => $CFG->wwwroot];
        $event = $row->eventdata ? json_decode($row->eventdata, true) : null;
        return builder::envelope($row->messageid, $row->type, $sequence, $row->subject, $site, $event, $data,
            (int) $row->timecreated);
    }

    /**
     * @param string $type
     * @param array $ids the numbers of the subject
     * @param array|null $snapshot
     * @return array|null
     */
    public static function state(string $type, array $ids, ?array $snapshot): ?array {
        global $DB;
        switch (explode('.', $type)[0]) {
            case 'user':
                if ($type === 'user.deleted') {
                    return builder::user_deleted_state($ids[0], $snapshot ?? []);
                }
                $user = $DB->get_record('user', ['id' => $ids[0], 'deleted' => 0]);
                return $user ? builder::user_state($user, self::profile($user->id)) : null;
            case 'course':
                if ($type === 'course.deleted') {
                    return builder::course_deleted_state($ids[0], $snapshot ?? []);
                }
                $course = $DB->get_record('course', ['id' => $ids[0]]);
                return $course ? builder::course_state($course) : null;
            case 'enrolment':
                [$userid, $courseid] = $ids;
                $course = $DB->get_record('course', ['id' => $courseid], 'id, shortname, fullname, idnumber');
                if (!$course) {
                    return null;
                }
                $enrolments = $DB->get_records_sql(
                    "SELECT ue.id, ue.enrolid, ue.status, ue.timestart, ue.timeend, ue.timecreated, ue.timemodified,
                            e.enrol AS method, e.status AS enrolstatus
                       FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                      WHERE ue.userid = :userid AND e.courseid = :courseid", ['userid' => $userid, 'courseid' => $courseid]);
                $context = \context_course::instance($courseid);
                $roles = array_map(function($role) {
                    return $role->shortname;
                }, get_user_roles($context, $userid, false));
                $groups = groups_get_all_groups($courseid, $userid);
                return builder::enrolment_state($userid, $course, array_values($enrolments), array_values(array_unique($roles)),
                    array_values($groups), time());
            case 'grade':
                [$userid, $itemid] = $ids;
                $item = $DB->get_record('grade_items', ['id' => $itemid]);
                if (!$item) {
                    return null;
                }
                $grade = $type === 'grade.deleted' ? null : ($DB->get_record('grade_grades',
                    ['itemid' => $itemid, 'userid' => $userid]) ?: null);
                $cm = ($item->itemtype === 'mod') ? get_coursemodule_from_instance($item->itemmodule, $item->iteminstance,
                    $item->courseid) : null;
                return builder::grade_state($userid, $item, $grade, $cm ? (int) $cm->id : null);
            case 'module_completion':
                [$userid, $cmid] = $ids;
                $cm = get_coursemodule_from_id('', $cmid);
                if (!$cm) {
                    return null;
                }
                $completion = $DB->get_record('course_modules_completion', ['coursemoduleid' => $cmid, 'userid' => $userid])
                    ?: (object) ['userid' => $userid, 'coursemoduleid' => $cmid, 'completionstate' => 0, 'timemodified' => time()];
                return builder::module_completion_state($completion, (int) $cm->course, $cm->modname, $cm->name);
            case 'course_completion':
                [$userid, $courseid] = $ids;
                $completion = $DB->get_record('course_completions', ['userid' => $userid, 'course' => $courseid]) ?: null;
                return builder::course_completion_state($userid, $courseid, $completion);
            case 'course_access':
                [$userid, $courseid] = $ids;
                $access = (int) $DB->get_field('user_lastaccess', 'timeaccess', ['userid' => $userid, 'courseid' => $courseid]);
                return $access ? builder::course_access_state($userid, $courseid, $access) : null;
            case 'attendance':
                $session = $DB->get_record('attendance_sessions', ['id' => $ids[0]]);
                if (!$session) {
                    return null;
                }
                $attendance = $DB->get_record('attendance', ['id' => $session->attendanceid]);
                $cm = get_coursemodule_from_instance('attendance', $attendance->id, $attendance->course);
                $logs = $DB->get_records_sql(
                    "SELECT l.id, l.studentid, l.statusid, l.timetaken, l.takenby, l.remarks, s.acronym, s.description, s.grade
                       FROM {attendance_log} l JOIN {attendance_statuses} s ON s.id = l.statusid
                      WHERE l.sessionid = :sessionid", ['sessionid' => $session->id]);
                return builder::attendance_state($session, (int) $attendance->course, (int) $cm->id, $attendance->name,
                    array_values($logs));
            case 'consent':
                [$userid, $versionid] = $ids;
                $acceptance = $DB->get_record('tool_policy_acceptances', ['userid' => $userid, 'policyversionid' => $versionid]);
                $version = $DB->get_record('tool_policy_versions', ['id' => $versionid]);
                if (!$acceptance || !$version) {
                    return null;
                }
                // A row updated after its creation with status 0 is a withdrawal; created with 0, a decline.
                $withdrawn = (int) $acceptance->timemodified > (int) $acceptance->timecreated;
                return builder::consent_state($acceptance, $version, $withdrawn);
        }
        return null;
    }

    /**
     * The custom profile fields the admin chose to send, by shortname.
     *
     * @param int $userid
     * @return array
     */
    private static function profile(int $userid): array {
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
}
