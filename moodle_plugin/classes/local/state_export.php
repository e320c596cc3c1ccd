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
 * Moodle's current state as the messages the outbox would send, for the CRM sync's reconciliation: a paged
 * export of one kind of subject (local_crmsync_export_state) and fresh messages for chosen subjects
 * (local_crmsync_resend).
 *
 * The subjects are the backfill's (backfill.php): the same people (synced_people, not deleted), the same
 * holdings (grades, activity and course completions only where the user holds a learner role; enrolments
 * and consents of every synced user), the same courses (not the site) and taken attendance sessions. Each
 * message is built by state_reader from the subject alone, exactly as a backfill row of that subject is
 * built when it is sent. What differs is only the envelope: an exported message is not a version of its
 * subject (nothing delivers it), so its `sequence` is 0, its `occurred_at` the export's time, and its `id` a
 * name-based UUID of the site, the subject and that time (the same export in the same second gives the
 * same messages).
 *
 * Each kind is paged by one integer key, ascending and stable: the id of the subject's main row (the user,
 * the course, the group, the session; for an enrolment the smallest user_enrolments id of that user in that
 * course; for a grade, a completion and a consent the id of its grade_grades, course_modules_completion,
 * course_completions and tool_policy_acceptances row).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class state_export {
    /** The kinds export_state pages through, each the prefix of its subjects. */
    const KINDS = ['user', 'course', 'enrolment', 'group', 'grade', 'course_completion', 'module_completion',
        'attendance', 'consent', 'course_summary'];
    /** Subjects resend takes: the kinds, and course access (a backfill sends it, the reconciler compares none). */
    const RESEND_PREFIXES = ['user' => 1, 'course' => 1, 'course_summary' => 1, 'group' => 1, 'enrolment' => 2,
        'course_access' => 2, 'grade' => 2, 'module_completion' => 2, 'course_completion' => 2, 'attendance' => 1,
        'consent' => 2];
    /** The most items of one page. */
    const MAX_LIMIT = 1000;
    /** The UUID namespace of exported messages' ids (RFC 4122's URL namespace: the name starts with the site's URL). */
    const UUID_NAMESPACE = '6ba7b811-9dad-11d1-80b4-00c04fd430c8';

    /**
     * One page of a kind's messages.
     *
     * @param string $kind one of KINDS
     * @param int $fromid only subjects whose key is greater
     * @param int $limit at most this many (1..MAX_LIMIT)
     * @param state_source|null $source Moodle's database when null
     * @return array ['items' => [['subject', 'message' => array]], 'nextfromid' => the last key, 0 at the end,
     *     'total' => the kind's subjects]
     */
    public static function page(string $kind, int $fromid, int $limit, ?state_source $source = null): array {
        global $DB;
        if (!in_array($kind, self::KINDS, true)) {
            // A moodle_exception, not invalid_parameter_exception: its message says what is wrong without debugging on.
            throw new \moodle_exception('unknownkind', 'local_crmsync', '', (object) ['kind' => $kind,
                'kinds' => implode(', ', self::KINDS)]);
        }
        $limit = max(1, min(self::MAX_LIMIT, $limit));
        $listing = self::listing($kind);
        if ($listing === null) {
            return ['items' => [], 'nextfromid' => 0, 'total' => 0];
        }
        [$select, $from, $params] = $listing;
        $total = (int) $DB->count_records_sql("SELECT COUNT(1) FROM ($select $from) k", $params);
        // One more than asked: whether there is a next page.
        $rows = array_values($DB->get_records_sql("SELECT * FROM ($select $from) k WHERE k.sortkey > :fromid
                                                    ORDER BY k.sortkey", $params + ['fromid' => $fromid], 0, $limit + 1));
        $more = count($rows) > $limit;
        $rows = array_slice($rows, 0, $limit);
        $source = $source ?? new moodle_state_source();
        $now = $source->now();
        $items = [];
        foreach ($rows as $row) {
            $message = self::message($row->subject, $kind, $now, $source);
            if ($message !== null) {
                $items[] = ['subject' => $row->subject, 'message' => $message];
            }
        }
        return ['items' => $items, 'nextfromid' => $more && $rows ? (int) end($rows)->sortkey : 0, 'total' => $total];
    }

    /**
     * The message of one subject as a backfill row of it is sent, in an export's envelope.
     *
     * @param string $subject
     * @param string $kind its prefix
     * @param int $now the export's time
     * @param state_source $source
     * @return array|null null when there is nothing to say (a consent gone meanwhile)
     */
    public static function message(string $subject, string $kind, int $now, state_source $source): ?array {
        $site = $source->site();
        $row = (object) ['messageid' => self::uuid($site['url'] . "#export/$subject@$now"),
            'type' => $kind === 'attendance' ? 'attendance.recorded' : "$kind.updated", 'subject' => $subject,
            'snapshot' => null, 'eventdata' => null, 'timecreated' => $now];
        return state_reader::message($row, 0, $source);
    }

    /**
     * The SQL listing a kind's subjects with their keys, or null when the kind's plugin is not installed.
     *
     * @param string $kind
     * @return array|null [select (sortkey, subject), from-where, params]
     */
    private static function listing(string $kind): ?array {
        global $DB;
        $dbman = $DB->get_manager();
        [$synced, $params] = synced_people::where('u.id');
        $person = "u.deleted = 0 AND $synced";
        $site = ['siteid' => SITEID];
        $concat = function(...$parts) use ($DB) {
            return $DB->sql_concat(...$parts);
        };
        // The courses where the user holds a learner role (grades and completions are a learner's).
        $roles = synced_people::learner_roles();
        $learner = function(string $user, string $course) use ($DB, &$params, $roles) {
            if (!$roles) {
                return '1 = 0';
            }
            [$in, $roleparams] = $DB->get_in_or_equal($roles, SQL_PARAMS_NAMED, 'lrole');
            $params += $roleparams + ['lrlevel' => CONTEXT_COURSE];
            return "EXISTS (SELECT 1 FROM {role_assignments} lra JOIN {context} lctx ON lctx.id = lra.contextid
                             WHERE lra.userid = $user AND lctx.contextlevel = :lrlevel AND lctx.instanceid = $course
                                   AND lra.roleid $in)
                    AND EXISTS (SELECT 1 FROM {user_enrolments} lue JOIN {enrol} le ON le.id = lue.enrolid
                                 WHERE lue.userid = $user AND le.courseid = $course)";
        };
        switch ($kind) {
            case 'user':
                return ["SELECT u.id AS sortkey, " . $concat("'user:'", 'u.id') . " AS subject",
                    "FROM {user} u WHERE $person", $params];
            case 'course':
            case 'course_summary':
                return ["SELECT c.id AS sortkey, " . $concat("'$kind:'", 'c.id') . " AS subject",
                    "FROM {course} c WHERE c.id <> :siteid", $site];
            case 'group':
                return ["SELECT g.id AS sortkey, " . $concat("'group:'", 'g.id') . " AS subject",
                    "FROM {groups} g WHERE g.courseid <> :siteid", $site];
            case 'enrolment':
                return ["SELECT MIN(ue.id) AS sortkey, " . $concat("'enrolment:'", 'ue.userid', "':'", 'e.courseid')
                    . " AS subject",
                    "FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid JOIN {user} u ON u.id = ue.userid
                    WHERE e.courseid <> :siteid AND $person GROUP BY ue.userid, e.courseid", $params + $site];
            case 'grade':
                $where = $learner('g.userid', 'i.courseid');
                return ["SELECT g.id AS sortkey, " . $concat("'grade:'", 'g.userid', "':'", 'g.itemid') . " AS subject",
                    "FROM {grade_grades} g JOIN {grade_items} i ON i.id = g.itemid JOIN {user} u ON u.id = g.userid
                    WHERE g.finalgrade IS NOT NULL AND $person AND $where", $params];
            case 'module_completion':
                $where = $learner('c.userid', 'cm.course');
                return ["SELECT c.id AS sortkey, " . $concat("'module_completion:'", 'c.userid', "':'", 'c.coursemoduleid')
                    . " AS subject",
                    "FROM {course_modules_completion} c JOIN {course_modules} cm ON cm.id = c.coursemoduleid
                    JOIN {user} u ON u.id = c.userid WHERE cm.deletioninprogress = 0 AND $person AND $where", $params];
            case 'course_completion':
                $where = $learner('c.userid', 'c.course');
                return ["SELECT c.id AS sortkey, " . $concat("'course_completion:'", 'c.userid', "':'", 'c.course')
                    . " AS subject",
                    "FROM {course_completions} c JOIN {user} u ON u.id = c.userid WHERE $person AND $where", $params];
            case 'attendance':
                if (!$dbman->table_exists('attendance_sessions')) {
                    return null;
                }
                return ["SELECT s.id AS sortkey, " . $concat("'attendance:'", 's.id') . " AS subject",
                    "FROM {attendance_sessions} s JOIN {attendance} a ON a.id = s.attendanceid
                    WHERE a.course <> :siteid AND s.lasttaken > 0", $site];
            case 'consent':
                if (!$dbman->table_exists('tool_policy_acceptances')) {
                    return null;
                }
                return ["SELECT a.id AS sortkey, " . $concat("'consent:'", 'a.userid', "':'", 'a.policyversionid')
                    . " AS subject",
                    "FROM {tool_policy_acceptances} a JOIN {user} u ON u.id = a.userid WHERE $person", $params];
        }
        return null;
    }

    /**
     * Record fresh messages for these subjects in the outbox, as a backfill records them: one row each, its
     * state read when it is sent (a subject whose entity is gone is sent as its deletion), none when the
     * subject has a message waiting already (that one carries the current state when it is sent).
     *
     * Not taken (listed as unknown): what is not a subject of the contract (an unknown prefix, the wrong count
     * of ids), a subject about a user the sync does not keep a Contact for (a site admin, the guest, the sync's
     * own web-service user: the observers record nothing about them either), and a subject whose group of
     * messages is switched off in 'What to send'.
     *
     * @param string[] $subjects
     * @return array ['queued' => subjects recorded or already waiting, 'unknown' => the subjects not taken]
     */
    public static function resend(array $subjects): array {
        global $DB;
        $subjects = array_values(array_unique(array_map('strval', $subjects)));
        $entries = [];
        $unknown = [];
        foreach ($subjects as $subject) {
            $entry = self::resend_entry((string) $subject);
            if ($entry === null) {
                $unknown[] = (string) $subject;
            } else {
                $entries[] = $entry;
            }
        }
        // People the sync keeps no Contact for; a user who never existed (or whose row is gone) is heard of as deleted.
        $userids = array_values(array_unique(array_filter(array_column($entries, 'userid'))));
        $existing = [];
        if ($userids) {
            [$in, $params] = $DB->get_in_or_equal($userids);
            $existing = $DB->get_fieldset_select('user', 'id', "id $in", $params);
        }
        $notsynced = array_flip(array_diff(array_map('intval', $existing), synced_people::filter($userids)));
        $queued = 0;
        $recorded = false;
        foreach ($entries as $entry) {
            if ($entry['userid'] !== null && isset($notsynced[$entry['userid']])) {
                $unknown[] = $entry['subject'];
                continue;
            }
            if ($DB->record_exists(moodle_outbox::TABLE, ['subject' => $entry['subject'], 'status' => 'pending'])) {
                $queued++;
                continue;
            }
            if (moodle_outbox::add($entry + ['eventdata' => null])) {
                $queued++;
                $recorded = true;
            } else {
                $unknown[] = $entry['subject'];
            }
        }
        if ($recorded) {
            \core\task\manager::queue_adhoc_task(new \local_crmsync\task\deliver_adhoc(), true);
        }
        // In the order they were given.
        return ['queued' => $queued, 'unknown' => array_values(array_intersect($subjects, $unknown))];
    }

    /**
     * The outbox entry a backfill makes for a subject, or null when it is not one the plugin sends.
     *
     * @param string $subject
     * @return array|null event_map-shaped entry with its snapshot
     */
    private static function resend_entry(string $subject): ?array {
        global $DB;
        if (!preg_match('/^([a-z_]+)((?::[1-9][0-9]{0,17})+)$/', $subject, $match)) {
            return null;
        }
        $prefix = $match[1];
        $ids = array_map('intval', explode(':', substr($match[2], 1)));
        if ((self::RESEND_PREFIXES[$prefix] ?? 0) !== count($ids)) {
            return null;
        }
        $userid = in_array($prefix, ['course', 'course_summary', 'group', 'attendance'], true) ? null : $ids[0];
        $snapshot = null;
        // A subject that does not name its course: the course for a deletion message, while Moodle still knows it.
        if ($prefix === 'grade') {
            $course = $DB->get_field('grade_items', 'courseid', ['id' => $ids[1]]);
            $snapshot = $course ? ['courseid' => (int) $course] : null;
        } else if ($prefix === 'module_completion') {
            $course = $DB->get_field('course_modules', 'course', ['id' => $ids[1]]);
            $snapshot = $course ? ['courseid' => (int) $course] : null;
        }
        return ['type' => $prefix === 'attendance' ? 'attendance.recorded' : "$prefix.updated", 'subject' => $subject,
            'userid' => $userid, 'snapshot' => $snapshot];
    }

    /**
     * A name-based (version 5) UUID, as RFC 4122 defines it (Python's uuid.uuid5).
     *
     * @param string $name
     * @return string
     */
    public static function uuid(string $name): string {
        $hash = sha1(hex2bin(str_replace('-', '', self::UUID_NAMESPACE)) . $name);
        $bytes = hex2bin(substr($hash, 0, 32));
        $bytes[6] = chr((ord($bytes[6]) & 0x0f) | 0x50);
        $bytes[8] = chr((ord($bytes[8]) & 0x3f) | 0x80);
        return vsprintf('%s%s-%s-%s-%s-%s%s%s', str_split(bin2hex($bytes), 4));
    }
}
