<?php
use local_crmsync\local\state_source;

/**
 * What "Moodle holds now", kept in arrays of rows shaped as Moodle's $DB returns them (ids as strings).
 * Whatever a test did not put in is gone.
 */
final class memory_state_source implements state_source {
    public $site = ['id' => 'a1b2c3d4e5f6a7b8c9d0', 'url' => 'http://127.0.0.1:8082'];
    public $time = 1795344100;
    /** @var array rows by id */
    public $users = [], $courses = [], $items = [], $sessions = [], $attendances = [], $versions = [];
    /** @var array course modules (id, course, modname, name) by id; their ids by "modname:instance" */
    public $cms = [], $cmids = [];
    /** @var array by "userid:courseid" */
    public $enrolments = [], $roles = [], $groups = [], $coursecompletions = [], $access = [];
    /** @var array by "itemid:userid", "cmid:userid", "userid:versionid", sessionid */
    public $grades = [], $modulecompletions = [], $acceptances = [], $logs = [];
    /** @var array Moodle's standard log: get_data() shaped events in the order logged */
    public $standardlog = [];
    /** @var array groups rows by id; their members' user ids by group id */
    public $coursegroups = [], $members = [];

    public function site(): array {
        return $this->site;
    }

    public function now(): int {
        return $this->time;
    }

    public function user(int $userid) {
        return $this->users[$userid] ?? null;
    }

    public function profile(int $userid): array {
        return [];
    }

    public function course(int $courseid) {
        return $this->courses[$courseid] ?? null;
    }

    public function enrolments(int $userid, int $courseid): array {
        return $this->enrolments["$userid:$courseid"] ?? [];
    }

    public function roles(int $userid, int $courseid): array {
        return $this->roles["$userid:$courseid"] ?? [];
    }

    public function groups(int $userid, int $courseid): array {
        return $this->groups["$userid:$courseid"] ?? [];
    }

    public function group(int $groupid) {
        return $this->coursegroups[$groupid] ?? null;
    }

    public function group_member_count(int $groupid): int {
        return count($this->members[$groupid] ?? []);
    }

    /** Users with a tutor role in $roles and an active enrolment in the course, by last name, first name, id. */
    public function tutors(int $courseid): array {
        $tutors = [];
        foreach ($this->roles as $key => $roles) {
            [$userid, $course] = array_map('intval', explode(':', $key));
            $held = array_values(array_intersect($roles, local_crmsync\local\event_map::TUTOR_ROLES));
            $active = array_filter($this->enrolments[$key] ?? [], function($row) {
                return (int) $row->status === 0 && (int) $row->enrolstatus === 0;
            });
            $user = $this->users[$userid] ?? null;
            if ($course === $courseid && $held && $active && $user) {
                $tutors[] = (object) ['id' => $userid, 'firstname' => $user->firstname, 'lastname' => $user->lastname,
                    'roles' => $held];
            }
        }
        usort($tutors, function($a, $b) {
            return [$a->lastname, $a->firstname, $a->id] <=> [$b->lastname, $b->firstname, $b->id];
        });
        return $tutors;
    }

    public function grade_item(int $itemid) {
        return $this->items[$itemid] ?? null;
    }

    public function grade(int $itemid, int $userid) {
        return $this->grades["$itemid:$userid"] ?? null;
    }

    public function instance_cmid(string $modname, int $instance, int $courseid): ?int {
        return $this->cmids["$modname:$instance"] ?? null;
    }

    public function course_module(int $cmid) {
        return $this->cms[$cmid] ?? null;
    }

    public function module_completion(int $cmid, int $userid) {
        return $this->modulecompletions["$cmid:$userid"] ?? null;
    }

    public function course_completion(int $userid, int $courseid) {
        return $this->coursecompletions["$userid:$courseid"] ?? null;
    }

    public function last_access(int $userid, int $courseid): int {
        return $this->access["$userid:$courseid"] ?? 0;
    }

    public function attendance_session(int $sessionid) {
        return $this->sessions[$sessionid] ?? null;
    }

    public function attendance(int $attendanceid) {
        return $this->attendances[$attendanceid] ?? null;
    }

    public function attendance_logs(int $sessionid): array {
        return $this->logs[$sessionid] ?? [];
    }

    public function policy_acceptance(int $userid, int $versionid) {
        return $this->acceptances["$userid:$versionid"] ?? null;
    }

    public function policy_version(int $versionid) {
        return $this->versions[$versionid] ?? null;
    }

    public function policy_acceptance_events($acceptance): array {
        return array_values(array_filter($this->standardlog, function($event) use ($acceptance) {
            return ($event['objecttable'] ?? '') === 'tool_policy_acceptances'
                && (int) $event['objectid'] === (int) $acceptance->id;
        }));
    }

    /** Like Moodle's count_enrolled_users(onlyactive): an active row of an enabled instance, within its dates. */
    public function active_learners(int $courseid): int {
        $learners = 0;
        foreach ($this->enrolments as $key => $rows) {
            $active = array_filter($rows, function($row) {
                return (int) $row->status === 0 && (int) $row->enrolstatus === 0 && (int) $row->timestart <= $this->time
                    && ((int) $row->timeend === 0 || (int) $row->timeend > $this->time);
            });
            $learners += (explode(':', $key)[1] === (string) $courseid && $active) ? 1 : 0;
        }
        return $learners;
    }

    public function attendance_sessions_taken(int $courseid): int {
        return count($this->taken_sessions($courseid));
    }

    public function attendance_mark_counts(int $courseid): array {
        $counts = [];
        foreach ($this->taken_sessions($courseid) as $session) {
            foreach ($this->logs[(int) $session->id] ?? [] as $log) {
                $counts[$log->acronym] = ($counts[$log->acronym] ?? 0) + 1;
            }
        }
        return $counts;
    }

    private function taken_sessions(int $courseid): array {
        return array_filter($this->sessions, function($session) use ($courseid) {
            $attendance = $this->attendances[(int) $session->attendanceid] ?? null;
            return $attendance && (int) $attendance->course === $courseid && (int) ($session->lasttaken ?? 0) > 0;
        });
    }

    public function activity_grade_items(int $courseid): array {
        $items = [];
        foreach ($this->items as $id => $item) {
            if ((int) $item->courseid === $courseid && $item->itemtype === 'mod') {
                $items[$id] = (object) ((array) $item + ['cmid' => $this->cmids["{$item->itemmodule}:{$item->iteminstance}"] ?? null]);
            }
        }
        return $items;
    }

    public function activity_grades(int $courseid): iterable {
        $items = $this->activity_grade_items($courseid);
        foreach ($this->grades as $grade) {
            if (isset($items[(int) $grade->itemid]) && $grade->finalgrade !== null) {
                yield $grade;
            }
        }
    }

    /** A course with one learner enrolled, graded on an assignment, with an attendance session. */
    public static function course_with_a_learner(): self {
        $source = new self();
        $source->courses[2] = (object) ['id' => '2', 'shortname' => 'CRM101', 'fullname' => 'CRM for beginners',
            'idnumber' => 'C-101', 'category' => '1', 'format' => 'topics', 'startdate' => '1795300000', 'enddate' => '0',
            'visible' => '1', 'summary' => '', 'timemodified' => '1795344024'];
        $source->users[3] = (object) ['id' => '3', 'username' => 'student1', 'firstname' => 'Alice', 'lastname' => 'Anders',
            'email' => 'a@example.invalid', 'auth' => 'manual', 'confirmed' => '1', 'suspended' => '0', 'deleted' => '0',
            'timemodified' => '1795344024'];
        $source->enrolments['3:2'] = [(object) ['id' => '1', 'enrolid' => '1', 'method' => 'manual', 'status' => '0',
            'enrolstatus' => '0', 'timestart' => '0', 'timeend' => '0', 'timecreated' => '1795344024',
            'timemodified' => '1795344024']];
        $source->roles['3:2'] = ['student'];
        $source->items[3] = (object) ['id' => '3', 'courseid' => '2', 'itemtype' => 'mod', 'itemmodule' => 'assign',
            'iteminstance' => '1', 'itemname' => 'Essay 1', 'grademax' => '100.00000', 'grademin' => '0.00000',
            'gradepass' => '50.00000'];
        $source->grades['3:3'] = (object) ['id' => '5', 'itemid' => '3', 'userid' => '3', 'finalgrade' => '80.00000',
            'hidden' => '0', 'overridden' => '0', 'timemodified' => '1795344050'];
        $source->cms[2] = (object) ['id' => '2', 'course' => '2', 'modname' => 'assign', 'name' => 'Essay 1'];
        $source->cmids['assign:1'] = 2;
        $source->modulecompletions['2:3'] = (object) ['userid' => '3', 'coursemoduleid' => '2', 'completionstate' => '1',
            'timemodified' => '1795344050'];
        $source->coursecompletions['3:2'] = (object) ['userid' => '3', 'course' => '2', 'timeenrolled' => '1795344024',
            'timestarted' => '1795344024', 'timecompleted' => null];
        $source->access['3:2'] = 1795344060;
        $source->attendances[1] = (object) ['id' => '1', 'course' => '2', 'name' => 'Roll call'];
        $source->cms[4] = (object) ['id' => '4', 'course' => '2', 'modname' => 'attendance', 'name' => 'Roll call'];
        $source->cmids['attendance:1'] = 4;
        $source->sessions[1] = (object) ['id' => '1', 'attendanceid' => '1', 'sessdate' => '1795340000', 'duration' => '3600',
            'description' => '', 'groupid' => '0', 'lasttaken' => '1795344070'];
        $source->logs[1] = [(object) ['id' => '1', 'studentid' => '3', 'statusid' => '1', 'timetaken' => '1795344070',
            'takenby' => '2', 'remarks' => '', 'acronym' => 'P', 'description' => 'Present', 'grade' => '2.00']];
        return $source;
    }
}
