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
 * Builds contract messages (docs/event-contract.md) from records shaped as Moodle's $DB returns them.
 *
 * Plain PHP: no Moodle API is called here, so it is tested without Moodle against the recorded
 * event dumps. Moodle hands ids back as strings or ints depending on the code path; every value is
 * cast to the type the contract promises.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class message_builder {
    /** Event fields that are ids or counters, normalised to integers. */
    const EVENT_INTEGERS = ['objectid', 'contextid', 'contextlevel', 'contextinstanceid', 'userid', 'courseid',
        'relateduserid', 'anonymous', 'edulevel', 'timecreated'];
    /** A description's length in the CRM (its text column holds 16383 four-byte characters); the rest is cut. */
    const DESCRIPTION_LENGTH = 16383;

    /**
     * The message envelope.
     *
     * @param string $id UUID (also the webhook-id)
     * @param string $type e.g. user.updated
     * @param int $sequence the subject's version, assigned at sending time (outbox_repository::allocate_sequences)
     * @param string $subject e.g. user:3
     * @param array $site ['id' => ..., 'url' => ...]
     * @param array|null $event Moodle's get_data(), or null (backfill, ping)
     * @param array $data the subject's state
     * @param int $occurred unix time
     * @return array
     */
    public static function envelope(string $id, string $type, int $sequence, string $subject, array $site,
            ?array $event, array $data, int $occurred): array {
        return [
            'id' => $id,
            'type' => $type,
            'occurred_at' => gmdate('Y-m-d\TH:i:s\Z', $occurred),
            'sequence' => $sequence,
            'subject' => $subject,
            'site' => ['id' => (string) $site['id'], 'url' => (string) $site['url']],
            'moodle_event' => $event === null ? null : self::normalise_event($event),
            'data' => $data,
        ];
    }

    /**
     * Moodle's event data with ids as integers and grades as numbers.
     *
     * @param array $event
     * @return array
     */
    public static function normalise_event(array $event): array {
        foreach (self::EVENT_INTEGERS as $field) {
            if (isset($event[$field]) && is_numeric($event[$field])) {
                $event[$field] = (int) $event[$field];
            }
        }
        if (is_array($event['other'] ?? null)) {
            $event['other'] = self::normalise_other($event['other']);
        }
        return $event;
    }

    /**
     * @param array $other
     * @return array
     */
    private static function normalise_other(array $other): array {
        foreach ($other as $key => $value) {
            if (is_array($value)) {
                $other[$key] = self::normalise_other($value);
            } else if (is_string($value) && is_numeric($value)) {
                $other[$key] = (is_string($key) && (substr($key, -2) === 'id' || $key === 'id'))
                    ? (int) $value : $value + 0;
            }
        }
        return $other;
    }

    /**
     * @param object $user a user row
     * @param array $profile custom profile field values by shortname
     * @return array
     */
    public static function user_state($user, array $profile = []): array {
        $text = ['username', 'idnumber', 'email', 'firstname', 'lastname', 'phone1', 'phone2', 'institution',
            'department', 'address', 'city', 'country', 'lang', 'timezone', 'auth'];
        $state = ['id' => (int) $user->id];
        foreach ($text as $field) {
            $state[$field] = (string) ($user->$field ?? '');
        }
        foreach (['middlename', 'alternatename'] as $field) {
            $state[$field] = isset($user->$field) ? (string) $user->$field : null;
        }
        foreach (['confirmed', 'suspended', 'deleted'] as $field) {
            $state[$field] = !empty($user->$field);
        }
        foreach (['firstaccess', 'lastaccess', 'lastlogin', 'timecreated', 'timemodified'] as $field) {
            $state[$field] = (int) ($user->$field ?? 0);
        }
        // An object even when empty: json_encode() would make an empty PHP array a JSON list.
        $state['profile'] = (object) $profile;
        return $state;
    }

    /**
     * What user_deleted still knows about the user (its `other`): the row is gone when we send.
     *
     * @param int $userid
     * @param array|null $other the event's other; null when no user_deleted was recorded (then only the id is known)
     * @return array
     */
    public static function user_deleted_state(int $userid, ?array $other): array {
        if ($other === null) {
            return ['id' => $userid, 'deleted' => true];
        }
        return ['id' => $userid, 'username' => (string) ($other['username'] ?? ''),
            'email' => (string) ($other['email'] ?? ''), 'idnumber' => (string) ($other['idnumber'] ?? ''),
            'deleted' => true];
    }

    /**
     * @param object $course a course row
     * @return array
     */
    public static function course_state($course): array {
        return ['id' => (int) $course->id, 'shortname' => (string) $course->shortname,
            'fullname' => (string) $course->fullname, 'idnumber' => (string) ($course->idnumber ?? ''),
            'category' => (int) ($course->category ?? 0), 'format' => (string) ($course->format ?? ''),
            'startdate' => (int) ($course->startdate ?? 0), 'enddate' => (int) ($course->enddate ?? 0),
            'visible' => !empty($course->visible), 'summary' => strip_tags((string) ($course->summary ?? '')),
            'timemodified' => (int) ($course->timemodified ?? 0)];
    }

    /**
     * The course a learner record belongs to, as every message about one names it: its names exactly as
     * Moodle stores them (format_string() is for display; the CRM gets the text itself).
     *
     * @param object $course a course row
     * @return array id, shortname, fullname, idnumber
     */
    public static function course_ref($course): array {
        return ['id' => (int) $course->id, 'shortname' => (string) $course->shortname,
            'fullname' => (string) $course->fullname, 'idnumber' => (string) ($course->idnumber ?? '')];
    }

    /**
     * The `course` member of a learner record: there while the course exists.
     *
     * @param object|null $course
     * @return array
     */
    private static function course_of($course): array {
        return $course === null ? [] : ['course' => self::course_ref($course)];
    }

    /**
     * @param int $courseid
     * @param array|null $snapshot the course row's last known shortname/fullname/idnumber (from course_deleted);
     *     null when no course_deleted was recorded (then only the id is known)
     * @return array
     */
    public static function course_deleted_state(int $courseid, ?array $snapshot): array {
        if ($snapshot === null) {
            return ['id' => $courseid, 'deleted' => true];
        }
        return ['id' => $courseid, 'shortname' => (string) ($snapshot['shortname'] ?? ''),
            'fullname' => (string) ($snapshot['fullname'] ?? ''), 'idnumber' => (string) ($snapshot['idnumber'] ?? ''),
            'deleted' => true];
    }

    /**
     * A deleted activity (course module), from what course_module_deleted carried.
     *
     * @param int $cmid
     * @param array|null $snapshot courseid, modname, instance
     * @return array
     */
    public static function activity_deleted_state(int $cmid, ?array $snapshot): array {
        $state = ['id' => $cmid, 'courseid' => (int) ($snapshot['courseid'] ?? 0)];
        if (isset($snapshot['modname'])) {
            $state['modname'] = (string) $snapshot['modname'];
        }
        if (isset($snapshot['instance'])) {
            $state['instance'] = (int) $snapshot['instance'];
        }
        return $state + ['deleted' => true];
    }

    /**
     * One learner's enrolment state in one course: every enrolment instance, role and group.
     *
     * @param int $userid
     * @param object $course
     * @param array $enrolments user_enrolments rows joined with enrol.enrol as `method` and enrol.status as `enrolstatus`
     * @param array $roles role shortnames
     * @param array $groups group rows (id, name, idnumber)
     * @param int $now
     * @return array
     */
    public static function enrolment_state(int $userid, $course, array $enrolments, array $roles, array $groups,
            int $now): array {
        $instances = [];
        $current = false;
        $timemodified = 0;
        foreach ($enrolments as $row) {
            $active = (int) $row->status === 0 && (int) ($row->enrolstatus ?? 0) === 0;
            $instances[] = ['id' => (int) $row->id, 'enrolid' => (int) $row->enrolid, 'method' => (string) $row->method,
                'status' => $active ? 'active' : 'suspended', 'timestart' => (int) $row->timestart,
                'timeend' => (int) $row->timeend, 'timecreated' => (int) ($row->timecreated ?? 0),
                'timemodified' => (int) ($row->timemodified ?? 0)];
            $indates = (int) $row->timestart <= $now && ((int) $row->timeend === 0 || (int) $row->timeend > $now);
            $current = $current || ($active && $indates);
            $timemodified = max($timemodified, (int) ($row->timemodified ?? 0));
        }
        $status = !$instances ? 'deleted' : ($current ? 'active' : 'suspended');
        return ['userid' => $userid, 'courseid' => (int) $course->id, 'course' => self::course_ref($course),
            'status' => $status, 'enrolments' => $instances, 'roles' => array_values(array_map('strval', $roles)),
            'groups' => array_values(array_map(function($group) {
                return ['id' => (int) $group->id, 'name' => (string) $group->name,
                    'idnumber' => (string) ($group->idnumber ?? '')];
            }, $groups)),
            'timemodified' => $timemodified];
    }

    /**
     * The learner has no enrolment left in the course, or the course itself is gone.
     *
     * @param int $userid
     * @param int $courseid
     * @param object|null $course the course row while the course exists, null once it is deleted
     * @return array
     */
    public static function enrolment_deleted_state(int $userid, int $courseid, $course): array {
        $state = ['userid' => $userid, 'courseid' => $courseid, 'status' => 'deleted'];
        if ($course !== null) {
            $state['course'] = self::course_ref($course);
        }
        return $state + ['enrolments' => [], 'roles' => [], 'groups' => []];
    }

    /**
     * @param int $userid
     * @param object $item a grade_items row
     * @param object|null $grade the grade_grades row, or null when it was deleted
     * @param int|null $cmid the activity's course module id
     * @param object|null $course the course row (named in the message while the grade exists)
     * @return array
     */
    public static function grade_state(int $userid, $item, $grade, ?int $cmid, $course = null): array {
        $max = (float) $item->grademax;
        $min = (float) $item->grademin;
        $pass = (float) ($item->gradepass ?? 0);
        $final = ($grade !== null && $grade->finalgrade !== null) ? (float) $grade->finalgrade : null;
        return ['userid' => $userid, 'courseid' => (int) $item->courseid] + self::course_of($course) + [
            'itemid' => (int) $item->id,
            'item' => ['itemtype' => (string) $item->itemtype,
                'itemmodule' => isset($item->itemmodule) ? (string) $item->itemmodule : null,
                'iteminstance' => isset($item->iteminstance) ? (int) $item->iteminstance : null,
                'itemname' => isset($item->itemname) ? (string) $item->itemname : null,
                'cmid' => $cmid, 'grademax' => $max, 'grademin' => $min, 'gradepass' => $pass],
            'finalgrade' => $final, 'percentage' => self::percentage($final, $min, $max),
            'passed' => self::passed($final, $pass),
            'hidden' => $grade !== null && !empty($grade->hidden),
            'overridden' => $grade !== null && !empty($grade->overridden),
            'deleted' => $grade === null,
            'timemodified' => $grade !== null && isset($grade->timemodified) ? (int) $grade->timemodified : null];
    }

    /**
     * Where a grade lies between the item's bounds, in percent (null without a grade or a range).
     *
     * @param float|null $grade
     * @param float $min
     * @param float $max
     * @return float|null
     */
    private static function percentage(?float $grade, float $min, float $max): ?float {
        return ($grade !== null && $max > $min) ? round(($grade - $min) / ($max - $min) * 100, 2) : null;
    }

    /**
     * Whether a grade reaches the item's pass grade: null without a grade, or when the item has no pass
     * grade (0, Moodle's "none").
     *
     * @param float|null $grade
     * @param float $pass
     * @return bool|null
     */
    private static function passed(?float $grade, float $pass): ?bool {
        return ($grade === null || $pass <= 0) ? null : $grade >= $pass;
    }

    /**
     * A learner's grade that no longer exists. While its grade item exists the message carries the item
     * (the grade state without a grade); once the item is gone too, only the ids.
     *
     * @param int $userid
     * @param int $courseid
     * @param int $itemid
     * @param object|null $item the grade_items row, null when the item is gone
     * @param int|null $cmid the activity's course module id (with an item only)
     * @return array
     */
    public static function grade_deleted_state(int $userid, int $courseid, int $itemid, $item = null,
            ?int $cmid = null): array {
        if ($item !== null) {
            return self::grade_state($userid, $item, null, $cmid);
        }
        return ['userid' => $userid, 'courseid' => $courseid, 'itemid' => $itemid, 'deleted' => true];
    }

    /**
     * A deleted grade item, from what grade_item_deleted carried (every grade in it goes with it).
     *
     * @param int $itemid
     * @param array|null $snapshot courseid, itemtype, itemmodule, and itemname/iteminstance when known
     * @return array
     */
    public static function grade_item_deleted_state(int $itemid, ?array $snapshot): array {
        $state = ['id' => $itemid, 'courseid' => (int) ($snapshot['courseid'] ?? 0)];
        if (isset($snapshot['itemtype'])) {
            $state['itemtype'] = (string) $snapshot['itemtype'];
        }
        if ($snapshot !== null && array_key_exists('itemmodule', $snapshot)) {
            $state['itemmodule'] = $snapshot['itemmodule'] === null ? null : (string) $snapshot['itemmodule'];
        }
        if (isset($snapshot['iteminstance'])) {
            $state['iteminstance'] = (int) $snapshot['iteminstance'];
        }
        if (isset($snapshot['itemname'])) {
            $state['itemname'] = (string) $snapshot['itemname'];
        }
        return $state + ['deleted' => true];
    }

    /**
     * @param object $completion a course_modules_completion row
     * @param int $courseid
     * @param string $modname
     * @param string $name the activity's name
     * @param object|null $course the course row
     * @return array
     */
    public static function module_completion_state($completion, int $courseid, string $modname, string $name,
            $course = null): array {
        $states = [0 => 'incomplete', 1 => 'complete', 2 => 'complete_pass', 3 => 'complete_fail'];
        $state = (int) $completion->completionstate;
        return ['userid' => (int) $completion->userid, 'courseid' => $courseid] + self::course_of($course) + [
            'cmid' => (int) $completion->coursemoduleid, 'modname' => $modname, 'name' => $name,
            'completionstate' => $state, 'state' => $states[$state] ?? 'incomplete',
            'timemodified' => (int) $completion->timemodified];
    }

    /**
     * An activity completion whose activity is gone.
     *
     * @param int $userid
     * @param int $cmid
     * @param int|null $courseid when known
     * @return array
     */
    public static function module_completion_deleted_state(int $userid, int $cmid, ?int $courseid): array {
        $state = ['userid' => $userid, 'cmid' => $cmid];
        if ($courseid !== null) {
            $state['courseid'] = $courseid;
        }
        return $state + ['deleted' => true];
    }

    /**
     * @param int $userid
     * @param int $courseid
     * @param object|null $completion the course_completions row, null when unenrolment removed it
     * @param object|null $course the course row
     * @return array
     */
    public static function course_completion_state(int $userid, int $courseid, $completion, $course = null): array {
        $time = function($field) use ($completion) {
            return ($completion !== null && !empty($completion->$field)) ? (int) $completion->$field : null;
        };
        return ['userid' => $userid, 'courseid' => $courseid] + self::course_of($course) + [
            'completed' => $time('timecompleted') !== null,
            'timeenrolled' => $time('timeenrolled'), 'timestarted' => $time('timestarted'),
            'timecompleted' => $time('timecompleted')];
    }

    /**
     * The learner has no course_completions row in the course any more (unenrolled, course deleted, reset).
     *
     * @param int $userid
     * @param int $courseid
     * @return array
     */
    public static function course_completion_deleted_state(int $userid, int $courseid): array {
        return ['userid' => $userid, 'courseid' => $courseid, 'deleted' => true];
    }

    /**
     * @param int $userid
     * @param int $courseid
     * @param int $lastaccess from user_lastaccess
     * @return array
     */
    public static function course_access_state(int $userid, int $courseid, int $lastaccess): array {
        return ['userid' => $userid, 'courseid' => $courseid, 'lastaccess' => $lastaccess];
    }

    /**
     * Every learner's status in one attendance session (mod_attendance's event names no learner).
     *
     * @param object $session attendance_sessions row
     * @param int $courseid
     * @param int $cmid
     * @param string $name the activity's name
     * @param array $logs attendance_log rows joined with attendance_statuses (acronym, description, grade)
     * @param object|null $course the course row
     * @return array
     */
    public static function attendance_state($session, int $courseid, int $cmid, string $name, array $logs,
            $course = null): array {
        $statuses = [];
        foreach ($logs as $log) {
            $statuses[] = ['userid' => (int) $log->studentid, 'statusid' => (int) $log->statusid,
                'acronym' => (string) $log->acronym, 'description' => (string) ($log->description ?? ''),
                'grade' => (float) ($log->grade ?? 0), 'timetaken' => (int) $log->timetaken,
                'takenby' => (int) $log->takenby, 'remarks' => (string) ($log->remarks ?? '')];
        }
        return ['courseid' => $courseid] + self::course_of($course) + ['cmid' => $cmid,
            'attendanceid' => (int) $session->attendanceid,
            'name' => $name,
            'session' => ['id' => (int) $session->id, 'sessdate' => (int) $session->sessdate,
                'duration' => (int) $session->duration, 'description' => strip_tags((string) ($session->description ?? '')),
                'groupid' => (int) ($session->groupid ?? 0)],
            'statuses' => $statuses];
    }

    /**
     * An attendance session that is gone (or whose activity is): its marks go with it.
     *
     * @param int $sessionid
     * @param int|null $courseid when known
     * @return array
     */
    public static function attendance_deleted_state(int $sessionid, ?int $courseid): array {
        $state = ['sessionid' => $sessionid];
        if ($courseid !== null) {
            $state['courseid'] = $courseid;
        }
        return $state + ['deleted' => true];
    }

    /**
     * The answer an acceptance records now, from its current status and the tool_policy events known of it.
     *
     * tool_policy keeps one row per user and policy version whose status is 1 (accepted) or 0, and fires
     * acceptance_created for an acceptance and for a decline alike, acceptance_updated for every later
     * change: a withdrawal (decline_policies() on an accepted row, revoke_acceptance()), a re-acceptance,
     * and a revoke_acceptance() of a row that was only ever declined (the consent page does that to a
     * policy shown but not answered). So a status 0 is a withdrawal when the acceptance was accepted at some
     * point, else a decline. The events (the outbox row's own, and those in Moodle's standard log) show it:
     * any event with status 1; failing that, an acceptance_updated without the acceptance_created in view
     * (Moodle's sign-up inserts the accepted rows without an event, and an old log may be purged) means the
     * update took an acceptance back. Without any event (a backfill, no log) nothing says it was ever
     * accepted: declined.
     *
     * @param int $status tool_policy_acceptances.status now
     * @param array $events get_data() shaped events of this acceptance (eventname, other.status), any order
     * @return string accepted, declined or withdrawn
     */
    public static function consent_status(int $status, array $events): string {
        if ($status === 1) {
            return 'accepted';
        }
        $created = false;
        $updated = false;
        foreach ($events as $event) {
            if ((int) ($event['other']['status'] ?? 0) === 1) {
                return 'withdrawn';
            }
            $name = ltrim((string) ($event['eventname'] ?? ''), '\\');
            $created = $created || $name === 'tool_policy\\event\\acceptance_created';
            $updated = $updated || $name === 'tool_policy\\event\\acceptance_updated';
        }
        return $updated && !$created ? 'withdrawn' : 'declined';
    }

    /**
     * @param object $acceptance tool_policy_acceptances row
     * @param object $version tool_policy_versions row (policyid, name, revision, optional)
     * @param string $status accepted, declined or withdrawn (consent_status())
     * @return array
     */
    public static function consent_state($acceptance, $version, string $status): array {
        return ['userid' => (int) $acceptance->userid, 'policyversionid' => (int) $acceptance->policyversionid,
            'policyid' => (int) $version->policyid, 'policyname' => (string) $version->name,
            'version' => (string) ($version->revision ?? ''), 'optional' => !empty($version->optional),
            'status' => $status,
            'onbehalfof' => (int) ($acceptance->usermodified ?? $acceptance->userid) !== (int) $acceptance->userid,
            'timemodified' => (int) $acceptance->timemodified];
    }

    /**
     * A course's learners, attendance and graded activities, as Moodle holds them when the message is built.
     *
     * @param object $course the course row
     * @param int $learners the course's learners (state_source::active_learners)
     * @param int $sessions attendance sessions of the course that have been taken
     * @param array $marks acronym => how many attendance_log rows of those sessions have a status of that acronym
     * @param array $items the course's grade items of type mod (id, itemname, itemmodule, grademax, grademin,
     *     gradepass, cmid: null when the activity is gone)
     * @param iterable $grades grade_grades rows (itemid, finalgrade) of those items that have a final grade
     * @param int $now
     * @param array $tutors the course's tutors (state_source::tutors: id, firstname, lastname, roles)
     * @return array
     */
    public static function course_summary_state($course, int $learners, int $sessions, array $marks, array $items,
            iterable $grades, int $now, array $tutors = []): array {
        // Grades are streamed (a course holds learners × activities of them): counted and summed, not kept.
        $totals = [];
        foreach ($items as $item) {
            $totals[(int) $item->id] = ['pass' => (float) ($item->gradepass ?? 0), 'graded' => 0, 'sum' => 0.0,
                'passed' => 0];
        }
        foreach ($grades as $grade) {
            $itemid = (int) $grade->itemid;
            if (!isset($totals[$itemid]) || $grade->finalgrade === null) {
                continue;
            }
            $final = (float) $grade->finalgrade;
            $totals[$itemid]['graded']++;
            $totals[$itemid]['sum'] += $final;
            $totals[$itemid]['passed'] += self::passed($final, $totals[$itemid]['pass']) ? 1 : 0;
        }
        $activities = [];
        foreach ($items as $item) {
            $max = (float) $item->grademax;
            $total = $totals[(int) $item->id];
            $average = $total['graded'] ? round($total['sum'] / $total['graded'], 5) : null;
            $activities[] = ['itemid' => (int) $item->id, 'cmid' => isset($item->cmid) ? (int) $item->cmid : null,
                'name' => (string) ($item->itemname ?? ''), 'module' => (string) ($item->itemmodule ?? ''),
                'grademax' => $max, 'gradepass' => $total['pass'], 'graded' => $total['graded'], 'average' => $average,
                'average_percentage' => self::percentage($average, (float) $item->grademin, $max),
                'passed' => $total['passed']];
        }
        $count = function(string $acronym) use ($marks) {
            return (int) ($marks[$acronym] ?? 0);
        };
        return ['courseid' => (int) $course->id, 'course' => self::course_ref($course), 'learners' => $learners,
            'attendance' => ['sessions' => $sessions, 'marks' => array_sum(array_map('intval', $marks)),
                'present' => $count('P'), 'late' => $count('L'), 'excused' => $count('E'), 'absent' => $count('A')],
            'activities' => $activities, 'tutors' => array_values(array_map(function($tutor) {
                return ['id' => (int) $tutor->id, 'firstname' => (string) $tutor->firstname,
                    'lastname' => (string) $tutor->lastname, 'roles' => array_values(array_map('strval', $tutor->roles))];
            }, $tutors)),
            'timegenerated' => $now];
    }

    /**
     * A course group as Moodle holds it when the message is built.
     *
     * @param object $group the groups row
     * @param object|null $course the course row (named in the message while the course exists)
     * @param int $members its members (state_source::group_member_count)
     * @return array
     */
    public static function group_state($group, $course, int $members): array {
        return ['id' => (int) $group->id, 'courseid' => (int) $group->courseid] + self::course_of($course) + [
            'name' => (string) $group->name, 'idnumber' => (string) ($group->idnumber ?? ''),
            'description' => mb_substr(self::plain_text((string) ($group->description ?? '')), 0,
                self::DESCRIPTION_LENGTH), 'members' => $members,
            'timemodified' => (int) ($group->timemodified ?? 0)];
    }

    /**
     * A group that is gone, from what group_deleted carried (or only the ids, when the row was about a
     * member change of a group deleted since).
     *
     * @param int $groupid
     * @param array|null $snapshot courseid, and name/idnumber when known
     * @return array
     */
    public static function group_deleted_state(int $groupid, ?array $snapshot): array {
        $state = ['id' => $groupid, 'courseid' => (int) ($snapshot['courseid'] ?? 0)];
        foreach (['name', 'idnumber'] as $field) {
            if (isset($snapshot[$field])) {
                $state[$field] = (string) $snapshot[$field];
            }
        }
        return $state + ['deleted' => true];
    }

    /**
     * Text a CRM user reads, from a Moodle description (HTML, or text typed in Moodle's editor): paragraphs
     * and line breaks as line breaks, no tags, entities decoded, no control characters but tabs and line
     * breaks (the contract's multi-line text).
     *
     * @param string $html
     * @return string
     */
    public static function plain_text(string $html): string {
        $text = preg_replace('~<br\s*/?>|</(p|div|li|h[1-6])>~i', "\n", $html);
        $text = html_entity_decode(strip_tags($text), ENT_QUOTES | ENT_HTML5, 'UTF-8');
        $text = preg_replace('/[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]/', '', str_replace("\r\n", "\n", $text));
        return trim(preg_replace("/\n{3,}/", "\n\n", $text));
    }
}
