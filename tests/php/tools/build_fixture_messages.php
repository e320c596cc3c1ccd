<?php
// Builds contract messages with the plugin's message_builder from the real Moodle 4.3 event dumps
// and prints them as a JSON list; tests/plugin/test_payloads.py validates each against the schemas.
// Usage: php tests/php/tools/build_fixture_messages.php <shared/fixtures directory>

require_once(dirname(__DIR__, 3) . '/moodle_plugin/classes/local/message_builder.php');

use local_crmsync\local\message_builder as builder;

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

$messages = [];
$sequence = 0;
foreach ($dumps as $name => $dump) {
    $event = $dump['data'];
    $now = $dump['object_record_now'];
    $user = (int) ($event['relateduserid'] ?? 0);
    $built = null;
    switch ($dump['eventname']) {
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
                $row = $object($now + ['method' => $event['other']['enrol'] ?? 'manual', 'enrolstatus' => 0]);
                $built = ['enrolment.updated', "enrolment:{$now['userid']}:{$course->id}",
                    builder::enrolment_state((int) $now['userid'], $course, [$row], ['student'],
                        [$object(['id' => 1, 'name' => 'Group A', 'idnumber' => ''])], 1795344100)];
            }
            break;
        case '\\core\\event\\user_enrolment_deleted':
            $built = ['enrolment.deleted', "enrolment:$user:{$course->id}", builder::enrolment_state($user, $course, [], [], [], 1795344100)];
            break;
        case '\\core\\event\\user_graded':
            if ($now && isset($items[$now['itemid']])) {
                $built = ['grade.updated', "grade:{$now['userid']}:{$now['itemid']}",
                    builder::grade_state((int) $now['userid'], $items[$now['itemid']], $object($now), null)];
            }
            break;
        case '\\core\\event\\course_module_completion_updated':
            if ($row = $snapshot($dump, 'course_modules_completion')) {
                $built = ['module_completion.updated', "module_completion:{$row['userid']}:{$row['coursemoduleid']}",
                    builder::module_completion_state($object($row), (int) $event['courseid'], 'assign', 'Assignment 1')];
            }
            break;
        case '\\core\\event\\course_completed':
            if ($row = $snapshot($dump, 'course_completions')) {
                $built = ['course_completion.updated', "course_completion:{$row['userid']}:{$row['course']}",
                    builder::course_completion_state((int) $row['userid'], (int) $row['course'], $object($row))];
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
                    'Roll call (CRM)', $logs)];
            break;
        case '\\tool_policy\\event\\acceptance_created':
        case '\\tool_policy\\event\\acceptance_updated':
            $row = $snapshot($dump, 'tool_policy_acceptances');
            $versions = array_column($policy['tool_policy_versions'], null, 'id');
            if ($row && isset($versions[$row['policyversionid']])) {
                $withdrawn = $dump['eventname'] === '\\tool_policy\\event\\acceptance_updated';
                $built = ['consent.updated', "consent:{$row['userid']}:{$row['policyversionid']}",
                    builder::consent_state($object($row), $object($versions[$row['policyversionid']]), $withdrawn)];
            }
            break;
    }
    if ($built) {
        $sequence++;
        $id = sprintf('%08x-0000-4000-8000-%012x', crc32($name), $sequence);
        $messages[] = builder::envelope($id, $built[0], $sequence, $built[1], $site, $event, $built[2],
            (int) $event['timecreated']);
    }
}
echo json_encode($messages), "\n";
