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
 * What Moodle holds now about a subject, as rows shaped like Moodle's $DB returns them.
 *
 * state_reader decides from these what to send (the state, or a deletion when the entity is gone);
 * moodle_state_source reads Moodle's database, plain tests use a source kept in memory. Every
 * method answers null (or an empty list) for what does not exist any more.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
interface state_source {
    /** @return array ['id' => the site id, 'url' => wwwroot] */
    public function site(): array;

    /** @return int unix time */
    public function now(): int;

    /** @return object|null the user row, null when deleted */
    public function user(int $userid);

    /** @return array the custom profile fields the admin chose to send, by shortname */
    public function profile(int $userid): array;

    /** @return object|null the course row */
    public function course(int $courseid);

    /** @return array user_enrolments rows of the user in the course, with enrol.enrol as `method`, enrol.status as `enrolstatus` */
    public function enrolments(int $userid, int $courseid): array;

    /** @return string[] role shortnames the user holds in the course context */
    public function roles(int $userid, int $courseid): array;

    /** @return array group rows (id, name, idnumber) of the user in the course */
    public function groups(int $userid, int $courseid): array;

    /** @return object|null the groups row */
    public function group(int $groupid);

    /** @return int the group's members (groups_members rows), everyone Moodle's Groups page counts */
    public function group_member_count(int $groupid): int;

    /**
     * @return array the course's tutors: users (id, firstname, lastname) holding one of event_map::TUTOR_ROLES
     *     in the course context with an active enrolment in the course, each once with `roles`: the tutor roles'
     *     shortnames they hold there; ordered by last name, first name, id
     */
    public function tutors(int $courseid): array;

    /** @return object|null the grade_items row */
    public function grade_item(int $itemid);

    /** @return object|null the grade_grades row */
    public function grade(int $itemid, int $userid);

    /** @return int|null the course module id of an activity instance */
    public function instance_cmid(string $modname, int $instance, int $courseid): ?int;

    /** @return object|null the course module with id, course, modname and name */
    public function course_module(int $cmid);

    /** @return object|null the course_modules_completion row */
    public function module_completion(int $cmid, int $userid);

    /** @return object|null the course_completions row */
    public function course_completion(int $userid, int $courseid);

    /** @return int user_lastaccess.timeaccess, 0 when there is none */
    public function last_access(int $userid, int $courseid): int;

    /** @return object|null the attendance_sessions row */
    public function attendance_session(int $sessionid);

    /** @return object|null the attendance row */
    public function attendance(int $attendanceid);

    /** @return array attendance_log rows of the session joined with attendance_statuses (acronym, description, grade) */
    public function attendance_logs(int $sessionid): array;

    /** @return object|null the tool_policy_acceptances row */
    public function policy_acceptance(int $userid, int $versionid);

    /** @return object|null the tool_policy_versions row */
    public function policy_version(int $versionid);

    /**
     * The tool_policy events Moodle's standard log holds of one acceptance, oldest first (none when the log
     * is off or purged).
     *
     * @param object $acceptance the tool_policy_acceptances row
     * @return array get_data() shaped: eventname, other (policyversionid, status, ...)
     */
    public function policy_acceptance_events($acceptance): array;

    /**
     * @return int the course's learners: synced users holding a learner role in the course with an active enrolment
     *     (enabled instance, active, within its dates); synced_people::count_learners inside Moodle
     */
    public function active_learners(int $courseid): int;

    /** @return int attendance sessions of the course's attendance activities that have been taken (lasttaken > 0) */
    public function attendance_sessions_taken(int $courseid): int;

    /** @return array status acronym => number of attendance_log rows of those sessions with a status of that acronym */
    public function attendance_mark_counts(int $courseid): array;

    /**
     * @return array the course's grade items of type mod, by id (id, itemname, itemmodule, grademax, grademin,
     *     gradepass, and cmid: the activity's course module id, null when it is gone)
     */
    public function activity_grade_items(int $courseid): array;

    /** @return iterable grade_grades rows (itemid, finalgrade) of those grade items with a final grade */
    public function activity_grades(int $courseid): iterable;
}
