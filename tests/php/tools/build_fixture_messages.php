<?php
// Builds contract messages with the plugin's message_builder and state_reader from the real Moodle 4.3
// event dumps and the tables recorded with them, and prints them as a JSON list;
// tests/plugin/test_payloads.py validates each against the schemas.
// Usage: php tests/php/tools/build_fixture_messages.php <shared/fixtures directory>

define('CRMSYNC_REPO', dirname(__DIR__, 3));
require_once(CRMSYNC_REPO . '/tests/php/bootstrap.d/plugin.php');
require_once(CRMSYNC_REPO . '/tests/php/plugin/memory_state_source.php');

use local_crmsync\local\message_builder as builder;
use local_crmsync\local\state_reader;

$fixtures = $argv[1];
$load = function(string $path) {
    return json_decode(file_get_contents($path), true);
};
$object = function($array) {
    return json_decode(json_encode($array));
};
$dumps = [];
foreach (['moodle-4.3-events', 'moodle-4.3-events-2'] as $folder) {
    foreach (glob("$fixtures/$folder/[0-9]*.json") as $file) {
        $dumps[basename($file)] = $load($file);
    }
}
$snapshot = function(array $dump, string $table) {
    $rows = $dump['attached_record_snapshots'][$table] ?? [];
    return $rows ? reset($rows) : null;
};
$course = $object($dumps['00003_core_event_course_created.json']['object_record_now']);
$items = [];
foreach ($dumps as $dump) {
    if ($dump['eventname'] === '\\core\\event\\grade_item_created' && $dump['object_record_now']) {
        $items[$dump['object_record_now']['id']] = $object($dump['object_record_now']);
    }
}
$attendance = $load("$fixtures/moodle-4.3-events-2/_attendance_tables.json");
$policy = $load("$fixtures/moodle-4.3-events-2/_policy_tables.json");
$site = ['id' => 'fixture-site', 'url' => 'http://127.0.0.1:8082'];
// What Moodle held, replayed event by event: the policy tables and standard log for the consents, the
// course's enrolments, grade items, grades and attendance for its summary.
$moodle = new memory_state_source();
$moodle->site = $site;
$moodle->courses[(int) $course->id] = $course;
foreach ($policy['tool_policy_versions'] as $version) {
    $moodle->versions[(int) $version['id']] = $object($version);
}
$logged = $load("$fixtures/moodle-4.3-events-2/_logstore_standard_log.json");
foreach ($attendance['attendance'] as $row) {
    $moodle->attendances[(int) $row['id']] = $object($row);
}
foreach ($attendance['attendance_sessions'] as $row) {
    $moodle->sessions[(int) $row['id']] = $object($row);
}
$statuses = array_column($attendance['attendance_statuses'], null, 'id');
foreach ($attendance['attendance_log'] as $log) {
    $moodle->logs[(int) $log['sessionid']][] = $object($log + $statuses[$log['statusid']]);
}
foreach ($attendance['grade_items WHERE itemmodule=\'attendance\''] as $row) {
    $moodle->items[(int) $row['id']] = $object($row);
}
foreach ($attendance['grade_grades WHERE itemid IN (SELECT id FROM {grade_items} WHERE itemmodule=\'attendance\')'] as $row) {
    $moodle->grades["{$row['itemid']}:{$row['userid']}"] = $object($row);
}

$messages = [];
$sequence = 0;
foreach ($dumps as $name => $dump) {
    $event = $dump['data'];
    $now = $dump['object_record_now'];
    $user = (int) ($event['relateduserid'] ?? 0);
    $built = null;
    switch ($dump['eventname']) {
        case '\\core\\event\\course_module_created':
            $moodle->cmids["{$event['other']['modulename']}:{$event['other']['instanceid']}"] = (int) $event['objectid'];
            break;
        case '\\core\\event\\grade_item_created':
            if ($now) {
                $moodle->items[(int) $now['id']] = $object($now);
            }
            break;
        case '\\core\\event\\user_created':
        case '\\core\\event\\user_updated':
            if ($now) {
                $type = $dump['eventname'] === '\\core\\event\\user_created' ? 'user.created' : 'user.updated';
                $built = [$type, "user:{$now['id']}", builder::user_state($object($now), ['crm_segment' => 'B2B'])];
            }
            break;
        case '\\core\\event\\user_deleted':
            $built = ['user.deleted', "user:{$event['objectid']}", builder::user_deleted_state((int) $event['objectid'], $event['other'])];
            break;
        case '\\core\\event\\course_created':
            $built = ['course.created', "course:{$now['id']}", builder::course_state($object($now))];
            break;
        case '\\core\\event\\user_enrolment_created':
        case '\\core\\event\\user_enrolment_updated':
            if ($now) {
                $moodle->enrolments["{$now['userid']}:{$course->id}"] = [$object($now + ['method' => 'manual', 'enrolstatus' => 0])];
                $row = $object($now + ['method' => $event['other']['enrol'] ?? 'manual', 'enrolstatus' => 0]);
                $built = ['enrolment.updated', "enrolment:{$now['userid']}:{$course->id}",
                    builder::enrolment_state((int) $now['userid'], $course, [$row], ['student'],
                        [$object(['id' => 1, 'name' => 'Group A', 'idnumber' => ''])], 1795344100)];
            }
            break;
        case '\\core\\event\\user_enrolment_deleted':
            unset($moodle->enrolments["$user:{$course->id}"]);
            $built = ['enrolment.deleted', "enrolment:$user:{$course->id}", builder::enrolment_state($user, $course, [], [], [], 1795344100)];
            break;
        case '\\core\\event\\user_graded':
            if ($now && isset($items[$now['itemid']])) {
                $moodle->grades["{$now['itemid']}:{$now['userid']}"] = $object($now);
                $built = ['grade.updated', "grade:{$now['userid']}:{$now['itemid']}",
                    builder::grade_state((int) $now['userid'], $items[$now['itemid']], $object($now), null, $course)];
            }
            break;
        case '\\core\\event\\course_module_completion_updated':
            if ($row = $snapshot($dump, 'course_modules_completion')) {
                $built = ['module_completion.updated', "module_completion:{$row['userid']}:{$row['coursemoduleid']}",
                    builder::module_completion_state($object($row), (int) $event['courseid'], 'assign', 'Assignment 1',
                        $course)];
            }
            break;
        case '\\core\\event\\course_completed':
            if ($row = $snapshot($dump, 'course_completions')) {
                $built = ['course_completion.updated', "course_completion:{$row['userid']}:{$row['course']}",
                    builder::course_completion_state((int) $row['userid'], (int) $row['course'], $object($row), $course)];
            }
            break;
        case '\\mod_attendance\\event\\attendance_taken':
            $session = $snapshot($dump, 'attendance_sessions');
            $statuses = array_column($attendance['attendance_statuses'], null, 'id');
            $logs = [];
            foreach ($attendance['attendance_log'] as $log) {
                if ($log['sessionid'] === $session['id'] && isset($statuses[$log['statusid']])) {
                    $logs[] = $object($log + $statuses[$log['statusid']]);
                }
            }
            $built = ['attendance.recorded', "attendance:{$session['id']}",
                builder::attendance_state($object($session), (int) $event['courseid'], (int) $event['contextinstanceid'],
                    'Roll call (CRM)', $logs, $course)];
            break;
        case '\\tool_policy\\event\\acceptance_created':
        case '\\tool_policy\\event\\acceptance_updated':
            // The acceptance as the event left it, and the standard log up to this event.
            $row = $snapshot($dump, 'tool_policy_acceptances');
            $moodle->acceptances["{$row['userid']}:{$row['policyversionid']}"] = $object($row);
            $moodle->standardlog = array_values(array_filter(array_map(function($entry) {
                return ['other' => json_decode($entry['other'], true)] + $entry;
            }, $logged), function($entry) use ($event) {
                return (int) $entry['timecreated'] <= (int) $event['timecreated'];
            }));
            $subject = "consent:{$row['userid']}:{$row['policyversionid']}";
            [$type, $data] = state_reader::state('consent.updated', [(int) $row['userid'], (int) $row['policyversionid']],
                null, $event, $moodle);
            $built = [$type, $subject, $data];
            break;
    }
    if ($built) {
        $sequence++;
        $id = sprintf('%08x-0000-4000-8000-%012x', crc32($name), $sequence);
        $messages[] = builder::envelope($id, $built[0], $sequence, $built[1], $site, $event, $built[2],
            (int) $event['timecreated']);
    }
}
$summary = state_reader::state('course_summary.updated', [(int) $course->id], null, null, $moodle);
$messages[] = builder::envelope('00000000-0000-4000-8000-000000000001', $summary[0], ++$sequence, "course_summary:{$course->id}",
    $site, null, $summary[1], 1795345200);
echo json_encode($messages), "\n";
