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
 * Which outbox rows a Moodle event produces: message type, subject, learner, deletion snapshot.
 *
 * Plain PHP (tested against the recorded event dumps without Moodle).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class event_map {
    /** Settings group of each message type (the admin chooses which groups are sent). */
    const GROUPS = ['user' => 'users', 'course' => 'courses', 'activity' => 'courses', 'enrolment' => 'enrolments',
        'grade' => 'grades', 'grade_item' => 'grades', 'module_completion' => 'completions',
        'course_completion' => 'completions', 'course_access' => 'access', 'attendance' => 'attendance',
        'consent' => 'consent', 'course_summary' => 'courses', 'group' => 'courses'];

    /** The roles whose holders are a course's tutors (the course summary's `tutors`), by shortname. */
    const TUTOR_ROLES = ['editingteacher', 'teacher'];

    /**
     * @param array $data the event's get_data()
     * @param array|null $snapshot a record the event carries besides its data, if any (grade_item_deleted: the
     *     deleted grade item's fields; group_updated and group_deleted: ['members' => user ids concerned], and
     *     for group_deleted also 'group' => the deleted group's name and idnumber; role_assigned and
     *     role_unassigned: ['role' => the role's shortname])
     * @return array of ['type', 'subject', 'userid', 'snapshot' (array|null), 'eventdata' (array|null)]
     */
    public static function entries(array $data, ?array $snapshot = null): array {
        $name = ltrim($data['eventname'], '\\');
        $user = (int) ($data['relateduserid'] ?? 0);
        $course = (int) ($data['courseid'] ?? 0);
        $object = (int) ($data['objectid'] ?? 0);
        $other = is_array($data['other'] ?? null) ? $data['other'] : [];
        $entry = function(string $type, string $subject, ?int $userid, ?array $snap = null) use ($data) {
            return ['type' => $type, 'subject' => $subject, 'userid' => $userid, 'snapshot' => $snap, 'eventdata' => $data];
        };
        // The course's summary counts learners, grades and attendance marks: read again when any of them
        // changed (coalesced per course like every subject). Not for the site's front page. It is about no
        // learner, so it keeps no learner's event: the privacy API finds a learner's rows by their userid.
        $summary = $course > 1 ? [['type' => 'course_summary.updated', 'subject' => "course_summary:$course",
            'userid' => null, 'snapshot' => null, 'eventdata' => null]] : [];
        switch ($name) {
            case 'core\event\user_created':
                return [$entry('user.created', "user:$object", $object)];
            case 'core\event\user_updated':
                return [$entry('user.updated', "user:$object", $object)];
            case 'core\event\user_deleted':
                return [$entry('user.deleted', "user:$object", $object, [
                    'username' => $other['username'] ?? '', 'email' => $other['email'] ?? '',
                    'idnumber' => $other['idnumber'] ?? ''])];
            case 'core\event\user_enrolment_created':
                return array_merge([$entry('enrolment.created', "enrolment:$user:$course", $user)], $summary);
            case 'core\event\user_enrolment_updated':
                return array_merge([$entry('enrolment.updated', "enrolment:$user:$course", $user)], $summary);
            case 'core\event\user_enrolment_deleted':
                // Moodle fires no event for the course completion an unenrolment removes.
                return array_merge([$entry('enrolment.deleted', "enrolment:$user:$course", $user),
                    $entry('course_completion.updated', "course_completion:$user:$course", $user)], $summary);
            case 'core\event\role_assigned':
            case 'core\event\role_unassigned':
                if ($course <= 1 || !$user || ((int) ($data['contextlevel'] ?? 50) !== 50)) {
                    return [];
                }
                // A tutor's role changes who the course's summary lists as its tutors.
                $tutor = in_array($snapshot['role'] ?? null, self::TUTOR_ROLES, true);
                return array_merge([$entry('enrolment.updated', "enrolment:$user:$course", $user)], $tutor ? $summary : []);
            case 'core\event\group_member_added':
            case 'core\event\group_member_removed':
                if ($course <= 1 || !$user || ((int) ($data['contextlevel'] ?? 50) !== 50)) {
                    return [];
                }
                // The group's member count changed too. Its row is about no learner, so it keeps no
                // learner's event (as the summary), only the course for a deletion message.
                return [$entry('enrolment.updated', "enrolment:$user:$course", $user),
                    self::group_entry('group.updated', $object, ['courseid' => $course], null)];
            case 'core\event\group_created':
                return $course > 1 ? [self::group_entry('group.updated', $object, ['courseid' => $course], $data)]
                    : [];
            case 'core\event\group_updated':
            case 'core\event\group_deleted':
                // A renamed or deleted group changes the groups listed on its members' enrolments; who
                // they are comes with the event (observer::carried): a deleted group's members are
                // already gone, with no group_member_removed of their own, so that is every enrolled user.
                if ($course <= 1) {
                    return [];
                }
                $deleted = $name === 'core\event\group_deleted';
                $group = self::group_entry($deleted ? 'group.deleted' : 'group.updated', $object,
                    ['courseid' => $course] + ($deleted ? array_map('strval', $snapshot['group'] ?? []) : []), $data);
                return array_merge([$group], array_map(function($member) use ($entry, $course) {
                    return $entry('enrolment.updated', "enrolment:$member:$course", $member);
                }, array_values(array_unique(array_map('intval', $snapshot['members'] ?? [])))));
            case 'core\event\user_graded':
                if (!$user || empty($other['itemid'])) {
                    return [];
                }
                // Also for userid -1 (a course-total recalculation during someone's page view): that
                // is how a course total change arrives; coalescing makes the repeats cheap.
                return array_merge([$entry('grade.updated', "grade:$user:" . (int) $other['itemid'], $user)], $summary);
            case 'core\event\grade_deleted':
                $itemid = (int) ($other['itemid'] ?? ($snapshot['itemid'] ?? 0));
                return $user && $itemid
                    ? array_merge([$entry('grade.deleted', "grade:$user:$itemid", $user, $snapshot)], $summary) : [];
            case 'core\event\course_module_completion_updated':
                $cmid = (int) ($data['contextinstanceid'] ?? 0);
                return [$entry('module_completion.updated', "module_completion:$user:$cmid", $user)];
            case 'core\event\course_completed':
                return [$entry('course_completion.updated', "course_completion:$user:$course", $user)];
            case 'core\event\course_viewed':
                $viewer = (int) ($data['userid'] ?? 0);
                return $viewer > 0 && $course > 1 ? [$entry('course_access.updated', "course_access:$viewer:$course", $viewer)] : [];
            case 'core\event\course_created':
                return [$entry('course.created', "course:$object", null)];
            case 'core\event\course_updated':
                return [$entry('course.updated', "course:$object", null)];
            case 'core\event\course_deleted':
                return [$entry('course.deleted', "course:$object", null, [
                    'shortname' => $other['shortname'] ?? '', 'fullname' => $other['fullname'] ?? '',
                    'idnumber' => $other['idnumber'] ?? ''])];
            case 'core\event\course_module_deleted':
                // Its completions and grades go with it; what is left to say is which activity it was.
                return array_merge([$entry('activity.deleted', "activity:$object", null, ['courseid' => $course,
                    'modname' => (string) ($other['modulename'] ?? ''), 'instance' => (int) ($other['instanceid'] ?? 0)])],
                    $summary);
            case 'core\event\grade_item_deleted':
                // The event data carries the item's type, module and name, not its instance: that comes
                // from the grade item object the event was created from, when the observer has it.
                $item = ['courseid' => $course, 'itemtype' => (string) ($other['itemtype'] ?? ''),
                    'itemmodule' => isset($other['itemmodule']) ? (string) $other['itemmodule'] : null];
                if (isset($snapshot['iteminstance'])) {
                    $item['iteminstance'] = (int) $snapshot['iteminstance'];
                }
                if (isset($other['itemname'])) {
                    $item['itemname'] = (string) $other['itemname'];
                }
                return array_merge([$entry('grade_item.deleted', "grade_item:$object", null, $item)], $summary);
            case 'core\event\grade_item_created':
            case 'core\event\grade_item_updated':
                // A new graded activity, or a changed maximum or pass grade, changes the summary's activities.
                return $summary;
            case 'mod_attendance\event\attendance_taken':
            case 'mod_attendance\event\attendance_taken_by_student':
                // The row is about a session, no learner (the statuses are read from attendance_log when
                // sent), yet the event names who took it: the student, when taken by the student. The
                // privacy API finds a person's rows by userid, so this row keeps no event, only the course
                // that a deletion message names if the session is gone by then.
                $session = (int) ($other['sessionid'] ?? 0);
                return $session ? array_merge([['type' => 'attendance.recorded', 'subject' => "attendance:$session",
                    'userid' => null, 'snapshot' => ['courseid' => $course], 'eventdata' => null]], $summary) : [];
            case 'tool_policy\event\acceptance_created':
            case 'tool_policy\event\acceptance_updated':
                $version = (int) ($other['policyversionid'] ?? 0);
                return $user && $version ? [$entry('consent.updated', "consent:$user:$version", $user)] : [];
        }
        return [];
    }

    /**
     * A row about a course group: about no learner; the course is kept for a deletion message.
     *
     * @param string $type group.updated or group.deleted
     * @param int $groupid
     * @param array $snapshot courseid, and for a deletion the group's name and idnumber when known
     * @param array|null $event the event's get_data() when it is not about a learner, else null
     * @return array
     */
    private static function group_entry(string $type, int $groupid, array $snapshot, ?array $event): array {
        return ['type' => $type, 'subject' => "group:$groupid", 'userid' => null, 'snapshot' => $snapshot,
            'eventdata' => $event];
    }

    /**
     * The settings group a message type belongs to.
     *
     * @param string $type
     * @return string
     */
    public static function group(string $type): string {
        return self::GROUPS[explode('.', $type)[0]] ?? 'users';
    }

    /**
     * Whether messages of a type are recorded, given the plugin's `eventgroups` setting.
     *
     * The setting as get_config() returns it: false when it was never saved (an install that predates
     * the setting, or whose admin never visited the settings page): every group is sent; otherwise
     * the comma-separated ticked groups, and '' when an admin unticked them all: nothing is sent.
     *
     * @param string|false|null $setting
     * @param string $type
     * @return bool
     */
    public static function group_enabled($setting, string $type): bool {
        if ($setting === false || $setting === null) {
            return true;
        }
        return in_array(self::group($type), array_map('trim', explode(',', (string) $setting)), true);
    }
}
