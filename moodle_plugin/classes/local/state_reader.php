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
 * Builds an outbox row's message from its subject's current state, at sending time.
 *
 * When the subject's entity is gone, the message is an explicit deletion (`<prefix>.deleted`) built
 * from the subject's ids and the event-time snapshot kept in the row: deletions are states too, and
 * the CRM must hear of them. The message type follows the state, so an `enrolment.updated` row whose
 * learner has no enrolment left is sent as `enrolment.deleted`, and an `enrolment.deleted` row whose
 * learner was enrolled again as `enrolment.updated`.
 *
 * Plain PHP: Moodle is read through a state_source (moodle_state_source inside Moodle).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class state_reader {
    /**
     * The message for an outbox row, or null when there is nothing to say: the course access or the summary
     * of a course that is gone (the course's deletion cascades downstream), and a policy acceptance that is
     * gone (the contract has no consent deletion).
     *
     * @param object $row an outbox row
     * @param int $sequence assigned at sending time (outbox_repository::allocate_sequences)
     * @param state_source|null $source Moodle's database when null
     * @return array|null
     */
    public static function message($row, int $sequence, ?state_source $source = null): ?array {
        $source = $source ?? new moodle_state_source();
        $ids = array_map('intval', array_slice(explode(':', $row->subject), 1));
        $snapshot = !empty($row->snapshot) ? json_decode($row->snapshot, true) : null;
        $event = !empty($row->eventdata) ? json_decode($row->eventdata, true) : null;
        $state = self::state($row->type, $ids, is_array($snapshot) ? $snapshot : null, is_array($event) ? $event : null,
            $source);
        if ($state === null) {
            return null;
        }
        [$type, $data] = $state;
        return builder::envelope($row->messageid, $type, $sequence, $row->subject, $source->site(), $event, $data,
            (int) $row->timecreated);
    }

    /**
     * @param string $type the row's message type
     * @param array $ids the numbers of the subject
     * @param array|null $snapshot what the event recorded for a deletion
     * @param array|null $event the event's get_data() (null for backfill rows)
     * @param state_source $source
     * @return array|null [message type, data]
     */
    public static function state(string $type, array $ids, ?array $snapshot, ?array $event, state_source $source): ?array {
        $prefix = explode('.', $type)[0];
        $deleted = "$prefix.deleted";
        // A row recorded for a deletion whose subject exists again (re-enrolled) reports that state.
        $current = $type === $deleted ? "$prefix.updated" : $type;
        // The course of a subject whose ids do not name it: the event knew it.
        $courseid = isset($snapshot['courseid']) ? (int) $snapshot['courseid']
            : (isset($event['courseid']) ? (int) $event['courseid'] : null);
        switch ($prefix) {
            case 'user':
                $user = $type === $deleted ? null : $source->user($ids[0]);
                return $user ? [$current, builder::user_state($user, $source->profile($ids[0]))]
                    : [$deleted, builder::user_deleted_state($ids[0], $snapshot)];
            case 'course':
                $course = $type === $deleted ? null : $source->course($ids[0]);
                return $course ? [$current, builder::course_state($course)]
                    : [$deleted, builder::course_deleted_state($ids[0], $snapshot)];
            case 'activity':
                return [$deleted, builder::activity_deleted_state($ids[0], ($snapshot ?? []) + ['courseid' => $courseid])];
            case 'grade_item':
                return [$deleted, builder::grade_item_deleted_state($ids[0], ($snapshot ?? []) + ['courseid' => $courseid])];
            case 'enrolment':
                [$userid, $courseid] = $ids;
                $course = $source->course($courseid);
                $enrolments = $course ? $source->enrolments($userid, $courseid) : [];
                if (!$enrolments) {
                    return [$deleted, builder::enrolment_deleted_state($userid, $courseid, $course)];
                }
                return [$current, builder::enrolment_state($userid, $course, $enrolments, $source->roles($userid, $courseid),
                    $source->groups($userid, $courseid), $source->now())];
            case 'grade':
                [$userid, $itemid] = $ids;
                $item = $source->grade_item($itemid);
                if (!$item) {
                    return [$deleted, builder::grade_deleted_state($userid, (int) $courseid, $itemid)];
                }
                $cmid = $item->itemtype === 'mod' && !empty($item->itemmodule)
                    ? $source->instance_cmid($item->itemmodule, (int) $item->iteminstance, (int) $item->courseid) : null;
                $grade = $source->grade($itemid, $userid);
                if (!$grade) {
                    return [$deleted, builder::grade_deleted_state($userid, (int) $item->courseid, $itemid, $item, $cmid)];
                }
                return [$current, builder::grade_state($userid, $item, $grade, $cmid, $source->course((int) $item->courseid))];
            case 'module_completion':
                [$userid, $cmid] = $ids;
                $cm = $source->course_module($cmid);
                if (!$cm) {
                    return [$deleted, builder::module_completion_deleted_state($userid, $cmid, $courseid)];
                }
                $completion = $source->module_completion($cmid, $userid)
                    ?: (object) ['userid' => $userid, 'coursemoduleid' => $cmid, 'completionstate' => 0,
                        'timemodified' => $source->now()];
                return [$current, builder::module_completion_state($completion, (int) $cm->course, (string) $cm->modname,
                    (string) $cm->name, $source->course((int) $cm->course))];
            case 'course_completion':
                [$userid, $courseid] = $ids;
                $completion = $source->course_completion($userid, $courseid);
                if (!$completion) {
                    return [$deleted, builder::course_completion_deleted_state($userid, $courseid)];
                }
                return [$current, builder::course_completion_state($userid, $courseid, $completion,
                    $source->course($courseid))];
            case 'course_access':
                [$userid, $courseid] = $ids;
                $access = $source->last_access($userid, $courseid);
                // Gone with its course: the course's deletion cascades downstream.
                return $access ? [$current, builder::course_access_state($userid, $courseid, $access)] : null;
            case 'attendance':
                $session = $source->attendance_session($ids[0]);
                $attendance = $session ? $source->attendance((int) $session->attendanceid) : null;
                $cmid = $attendance ? $source->instance_cmid('attendance', (int) $attendance->id, (int) $attendance->course)
                    : null;
                if (!$session || !$attendance || !$cmid) {
                    return [$deleted, builder::attendance_deleted_state($ids[0],
                        $attendance ? (int) $attendance->course : $courseid)];
                }
                return [$current, builder::attendance_state($session, (int) $attendance->course, $cmid,
                    (string) $attendance->name, $source->attendance_logs((int) $session->id),
                    $source->course((int) $attendance->course))];
            case 'consent':
                [$userid, $versionid] = $ids;
                $acceptance = $source->policy_acceptance($userid, $versionid);
                $version = $source->policy_version($versionid);
                if (!$acceptance || !$version) {
                    return null;
                }
                // Status 0 is a decline or a withdrawal: the acceptance's events tell which (the log only when
                // the row's own event does not).
                $events = $event !== null ? [$event] : [];
                if ((int) $acceptance->status !== 1 && (int) ($event['other']['status'] ?? 0) !== 1) {
                    $events = array_merge($source->policy_acceptance_events($acceptance), $events);
                }
                return [$current, builder::consent_state($acceptance, $version,
                    builder::consent_status((int) $acceptance->status, $events))];
            case 'course_summary':
                $course = $source->course($ids[0]);
                if (!$course) {
                    return null;
                }
                return [$current, builder::course_summary_state($course, $source->active_learners($ids[0]),
                    $source->attendance_sessions_taken($ids[0]), $source->attendance_mark_counts($ids[0]),
                    $source->activity_grade_items($ids[0]), $source->activity_grades($ids[0]), $source->now(),
                    $source->tutors($ids[0]))];
            case 'group':
                $group = $type === $deleted ? null : $source->group($ids[0]);
                return $group ? [$current, builder::group_state($group, $source->course((int) $group->courseid),
                    $source->group_member_count($ids[0]))]
                    : [$deleted, builder::group_deleted_state($ids[0], ($snapshot ?? []) + ['courseid' => $courseid])];
        }
        return null;
    }
}
