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

namespace local_crmsync\external;

use core_external\external_api;
use local_crmsync\local\backfill;
use local_crmsync\local\moodle_outbox;
use local_crmsync\local\state_reader;

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->dirroot . '/webservice/tests/helpers.php');

/**
 * The reconciliation's functions of the 'CRM sync' service, called as the sync's web-service user holding only
 * the documented role (run inside Moodle's PHPUnit): export_state gives the messages a backfill would send,
 * page by page; resend records them in the outbox; notify_admins notifies every site admin.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\state_export
 * @covers     \local_crmsync\external\export_state
 * @covers     \local_crmsync\external\resend
 * @covers     \local_crmsync\external\notify_admins
 */
final class reconciliation_test extends \externallib_advanced_testcase {
    /**
     * Log in as a user holding, at system level, only the role of tests/fixtures/webservice_role.php, and
     * authorised on the service (so synced_people leaves them out, as the sync's own user).
     *
     * @return \stdClass
     */
    private function login_as_webservice_user(): \stdClass {
        global $DB;
        $definition = require(__DIR__ . '/../fixtures/webservice_role.php');
        $system = \context_system::instance();
        $roleid = create_role('CRM sync web service', 'crmsyncws', '');
        foreach ($definition['capabilities'] as $capability) {
            assign_capability($capability, CAP_ALLOW, $roleid, $system->id);
        }
        $user = $this->getDataGenerator()->create_user(['username' => 'crmsync']);
        role_assign($roleid, $user->id, $system->id);
        $service = $DB->get_record('external_services', ['shortname' => 'crmsync', 'component' => 'local_crmsync']);
        $DB->insert_record('external_services_users', ['externalserviceid' => $service->id, 'userid' => $user->id,
            'timecreated' => time()]);
        $this->setUser($user);
        return $user;
    }

    /**
     * Call a function as Moodle's web-service layer does (parameter and return validation included).
     *
     * @param string $function
     * @param array $args
     * @return array ['error' => bool, 'data' => ..., 'exception' => ...]
     */
    private function call(string $function, array $args = []): array {
        $_POST['sesskey'] = sesskey();
        return external_api::call_external_function($function, $args);
    }

    /**
     * @param string $function
     * @param array $args
     * @return mixed the data of a call that must succeed
     */
    private function data(string $function, array $args = []) {
        $response = $this->call($function, $args);
        $this->assertFalse($response['error'], $function . ': ' . json_encode($response['exception'] ?? null));
        return $response['data'];
    }

    /**
     * Every page of a kind.
     *
     * @param string $kind
     * @param int $limit
     * @return array [subject => decoded message, pages fetched, totals seen]
     */
    private function export_all(string $kind, int $limit): array {
        $messages = [];
        $pages = 0;
        $totals = [];
        $fromid = 0;
        do {
            $page = $this->data('local_crmsync_export_state', ['kind' => $kind, 'fromid' => $fromid, 'limit' => $limit]);
            $pages++;
            $totals[] = $page['total'];
            foreach ($page['items'] as $item) {
                $this->assertArrayNotHasKey($item['subject'], $messages, 'a subject came twice');
                $messages[$item['subject']] = json_decode($item['message'], true);
            }
            $fromid = $page['nextfromid'];
        } while ($fromid);
        return [$messages, $pages, array_values(array_unique($totals))];
    }

    /**
     * What the outbox sends for the rows a backfill records now, by subject, the envelope's per-message parts
     * (id, sequence, occurred_at) left out.
     *
     * @return array
     */
    private function backfill_messages(): array {
        global $DB;
        $DB->delete_records(moodle_outbox::TABLE);
        backfill::courses();
        backfill::groups();
        backfill::attendance();
        backfill::chunk(0, 1000);
        $messages = [];
        foreach ($DB->get_records(moodle_outbox::TABLE, null, 'id') as $row) {
            $message = state_reader::message($row, 1);
            if ($message !== null) {
                unset($message['id'], $message['sequence'], $message['occurred_at']);
                $messages[$row->subject] = json_decode(json_encode($message), true);  // as the JSON text decodes
            }
        }
        $DB->delete_records(moodle_outbox::TABLE);
        return $messages;
    }

    public function test_the_export_pages_through_the_messages_a_backfill_would_send_for_the_synced_people_only(): void {
        global $DB;
        $this->resetAfterTest();
        set_config('eventgroups', '', 'local_crmsync');  // the observers record nothing while the site is built
        $generator = $this->getDataGenerator();
        $courses = [$generator->create_course(['shortname' => 'C1']), $generator->create_course(['shortname' => 'C2'])];
        $learners = [];
        foreach (['Ada', 'Grace', 'Alan'] as $name) {
            $learners[] = $learner = $generator->create_user(['firstname' => $name]);
            foreach ($courses as $course) {
                $generator->enrol_user($learner->id, $course->id, 'student');
            }
        }
        $group = $generator->create_group(['courseid' => $courses[0]->id, 'name' => 'Cohort A']);
        $generator->create_group_member(['groupid' => $group->id, 'userid' => $learners[1]->id]);
        $generator->enrol_user(get_admin()->id, $courses[0]->id, 'student');  // an admin is not a synced person
        $DB->set_field('user', 'suspended', 1, ['id' => $learners[2]->id]);
        $gone = $generator->create_user();
        delete_user($gone);
        $webservice = $this->login_as_webservice_user();
        set_config('eventgroups', 'users,enrolments,groups,courses,grades,completions,attendance,consent',
            'local_crmsync');
        $expected = $this->backfill_messages();

        $exported = [];
        foreach (['user' => 2, 'course' => 1, 'enrolment' => 4, 'group' => 1, 'course_summary' => 5] as $kind => $limit) {
            [$messages, $pages, $totals] = $this->export_all($kind, $limit);
            $this->assertSame([count($messages)], $totals, "$kind: total");
            $this->assertSame(max(1, (int) ceil(count($messages) / $limit)), $pages, "$kind: pages");
            $exported += $messages;
        }
        $this->assertSame(array_map(function($user) {
            return "user:{$user->id}";
        }, $learners), array_keys(array_filter($exported, function($message) {
            return $message['type'] === 'user.updated';
        })), 'the synced, not deleted users, by ascending id: not the admin, the service user or the deleted one');
        $this->assertArrayNotHasKey("user:{$webservice->id}", $exported);
        $this->assertArrayNotHasKey('enrolment:' . get_admin()->id . ":{$courses[0]->id}", $exported);
        $this->assertSame(['Cohort A'], array_column($exported["enrolment:{$learners[1]->id}:{$courses[0]->id}"]['data']
            ['groups'], 'name'));
        $this->assertTrue($exported["user:{$learners[2]->id}"]['data']['suspended']);

        // Each message is the one the outbox sends for a backfill row of its subject: type, subject, site, data.
        foreach ($exported as $subject => $message) {
            $this->assertSame(0, $message['sequence']);
            $this->assertMatchesRegularExpression('/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/',
                $message['id']);
            unset($message['id'], $message['sequence'], $message['occurred_at']);
            $this->assertSame($expected[$subject] ?? null, $message, $subject);
        }
        $this->assertSame(array_keys(array_filter($expected, function($message) {
            return in_array(explode('.', $message['type'])[0], ['user', 'course', 'enrolment', 'group', 'course_summary']);
        })), array_keys(array_filter($expected, function($message, $subject) use ($exported) {
            return isset($exported[$subject]);
        }, ARRAY_FILTER_USE_BOTH)), 'nothing the backfill sends of these kinds is missing');

        // The kinds this site holds none of answer an empty last page.
        foreach (['grade', 'course_completion', 'module_completion', 'attendance', 'consent'] as $kind) {
            $this->assertSame(['items' => [], 'nextfromid' => 0, 'total' => 0],
                $this->data('local_crmsync_export_state', ['kind' => $kind]), $kind);
        }
    }

    public function test_an_unknown_kind_and_a_limit_out_of_range_are_answered_clearly(): void {
        $this->resetAfterTest();
        $this->getDataGenerator()->create_user();
        $this->getDataGenerator()->create_user();
        $this->login_as_webservice_user();
        $refused = $this->call('local_crmsync_export_state', ['kind' => 'contact']);
        $this->assertTrue($refused['error']);
        $this->assertSame('unknownkind', $refused['exception']->errorcode);
        $this->assertStringStartsWith("There is no kind 'contact' to export: one of user, course,",
            $refused['exception']->message);
        // A limit above 1000 is 1000, one below 1 is 1.
        $page = $this->data('local_crmsync_export_state', ['kind' => 'user', 'limit' => 0]);
        $this->assertSame([1, 2], [count($page['items']), $page['total']]);
        $this->assertNotSame(0, $page['nextfromid']);
    }

    public function test_resend_records_fresh_messages_once_and_a_gone_entity_as_its_deletion(): void {
        global $DB;
        $this->resetAfterTest();
        set_config('eventgroups', '', 'local_crmsync');
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $learner = $generator->create_user();
        $generator->enrol_user($learner->id, $course->id, 'student');
        set_config('eventgroups', 'users,enrolments,groups,courses,grades,completions,attendance,consent',
            'local_crmsync');
        $this->login_as_webservice_user();
        $admin = get_admin()->id;
        $subjects = ["user:{$learner->id}", "enrolment:{$learner->id}:{$course->id}", 'enrolment:999999:' . $course->id,
            'group:999999', "user:$admin", 'contact:1', 'user:3:4', 'user:x'];

        $this->assertSame(['queued' => 4, 'unknown' => ["user:$admin", 'contact:1', 'user:3:4', 'user:x']],
            $this->data('local_crmsync_resend', ['subjects' => $subjects]));
        $rows = $DB->get_records(moodle_outbox::TABLE, ['status' => 'pending'], 'id');
        $this->assertSame(array_slice($subjects, 0, 4), array_values(array_column($rows, 'subject')));
        $types = [];
        foreach ($rows as $row) {
            $types[$row->subject] = state_reader::message($row, 1)['type'];
        }
        $this->assertSame(['user.updated', 'enrolment.updated', 'enrolment.deleted', 'group.deleted'], array_values($types));
        $this->assertTrue($DB->record_exists('task_adhoc', ['classname' => '\local_crmsync\task\deliver_adhoc']));

        // Again before they are sent: they are waiting, nothing is recorded twice.
        $this->assertSame(4, $this->data('local_crmsync_resend', ['subjects' => $subjects])['queued']);
        $this->assertSame(4, $DB->count_records(moodle_outbox::TABLE));

        $refused = $this->call('local_crmsync_resend', ['subjects' => array_fill(0, 1001, 'user:1')]);
        $this->assertTrue($refused['error']);
        $this->assertSame('At most 1000 subjects in one call, not 1001.', $refused['exception']->message);
    }

    public function test_notify_admins_sends_a_notification_to_every_site_admin(): void {
        global $CFG;
        $this->resetAfterTest();
        $second = $this->getDataGenerator()->create_user();
        $CFG->siteadmins .= ',' . $second->id;
        $this->login_as_webservice_user();
        $this->preventResetByRollback();  // message_send() waits for the transaction's end
        $sink = $this->redirectMessages();

        $answer = $this->data('local_crmsync_notify_admins', ['subject' => 'Reconciliation: 3 differences',
            'message' => "missing_in_crm: 2\nfield_differs: 1", 'url' => 'https://crm.example.com/reconciliations/7']);
        $this->assertSame(['sent' => 2], $answer);
        $messages = $sink->get_messages();
        $this->assertEqualsCanonicalizing([(int) get_admin()->id, (int) $second->id],
            array_map('intval', array_column($messages, 'useridto')));
        foreach ($messages as $message) {
            $this->assertSame(['local_crmsync', 'reconciliation', 'Reconciliation: 3 differences',
                "missing_in_crm: 2\nfield_differs: 1", 'https://crm.example.com/reconciliations/7', '1'],
                [$message->component, $message->eventtype, $message->subject, $message->fullmessage,
                    $message->contexturl, (string) $message->notification]);
        }

        $refused = $this->call('local_crmsync_notify_admins', ['subject' => '  ', 'message' => 'x']);
        $this->assertSame('emptysubject', $refused['exception']->errorcode);
        $this->assertCount(2, $sink->get_messages(), 'nothing more was sent');
    }
}
