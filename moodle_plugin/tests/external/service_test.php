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

defined('MOODLE_INTERNAL') || die();

global $CFG;
require_once($CFG->dirroot . '/webservice/tests/helpers.php');
require_once($CFG->dirroot . '/webservice/lib.php');

/**
 * The 'CRM sync' web service: what it holds, who may use it, and that every function in it works for a
 * user holding only the role the admin guide describes (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @coversNothing
 */
final class service_test extends \externallib_advanced_testcase {
    /** What the sync calls: crm_connector/moodle/client.py, tutors' roles, the plugin's enrolment update. */
    const FUNCTIONS = ['core_webservice_get_site_info', 'core_user_get_users_by_field', 'core_user_create_users',
        'core_user_update_users', 'core_course_get_courses_by_field', 'core_enrol_get_enrolled_users',
        'enrol_manual_enrol_users', 'enrol_manual_unenrol_users', 'local_crmsync_update_enrolments',
        'core_role_assign_roles', 'core_role_unassign_roles', 'core_group_get_course_groups', 'core_group_create_groups',
        'core_group_add_group_members', 'core_group_delete_group_members',
        'core_completion_get_course_completion_status', 'local_crmsync_export_state', 'local_crmsync_resend',
        'local_crmsync_notify_admins'];

    /**
     * @return \stdClass the service's row
     */
    private function service(): \stdClass {
        global $DB;
        return $DB->get_record('external_services', ['shortname' => 'crmsync', 'component' => 'local_crmsync'], '*',
            MUST_EXIST);
    }

    /**
     * A user holding, at system level, only the role of tests/fixtures/webservice_role.php.
     *
     * @param string[] $without capabilities left out
     * @return \stdClass
     */
    private function webservice_user(array $without = []): \stdClass {
        global $DB;
        $definition = require(__DIR__ . '/../fixtures/webservice_role.php');
        $system = \context_system::instance();
        $roleid = create_role('CRM sync web service', 'crmsyncws', '');
        set_role_contextlevels($roleid, [CONTEXT_SYSTEM]);
        foreach (array_diff($definition['capabilities'], $without) as $capability) {
            assign_capability($capability, CAP_ALLOW, $roleid, $system->id);
        }
        foreach ($definition['assignable'] as $shortname) {
            core_role_set_assign_allowed($roleid, $DB->get_field('role', 'id', ['shortname' => $shortname], MUST_EXIST));
        }
        $user = $this->getDataGenerator()->create_user(['username' => 'crmsync']);
        role_assign($roleid, $user->id, $system->id);
        return $user;
    }

    /**
     * Call a function as Moodle's web-service layer does (parameter and return validation included).
     *
     * @param string $function
     * @param array $args
     * @return mixed the returned data
     */
    private function call(string $function, array $args = []) {
        $_POST['sesskey'] = sesskey();  // as for a logged-in user's AJAX call: the one thing a token call does not need
        $response = external_api::call_external_function($function, $args);
        $this->assertFalse($response['error'], $function . ': ' . json_encode($response['exception'] ?? null));
        return $response['data'];
    }

    public function test_the_service_holds_exactly_what_the_sync_calls_and_is_off_until_an_admin_enables_it(): void {
        global $DB;
        $service = $this->service();
        $this->assertSame('CRM sync', $service->name);
        $this->assertSame(['0', '1', 'local/crmsync:webservice', '0', '0'], [(string) $service->enabled,
            (string) $service->restrictedusers, $service->requiredcapability, (string) $service->downloadfiles,
            (string) $service->uploadfiles]);
        $functions = $DB->get_fieldset_select('external_services_functions', 'functionname', 'externalserviceid = ?',
            [$service->id]);
        $this->assertEqualsCanonicalizing(self::FUNCTIONS, $functions);
        $this->assertNotContains('core_user_delete_users', $functions);
        foreach ($functions as $function) {
            $this->assertTrue($DB->record_exists('external_functions', ['name' => $function]), "$function does not exist");
        }
        // Nobody holds the capability until an admin gives it to the sync's role.
        $this->assertSame([], array_keys(get_roles_with_capability('local/crmsync:webservice', CAP_ALLOW)));
    }

    public function test_a_token_works_only_once_the_service_is_enabled_and_only_for_a_holder_of_the_capability(): void {
        global $DB;
        $this->resetAfterTest();
        $service = $this->service();
        $user = $this->webservice_user();
        $token = \core_external\util::generate_token(EXTERNAL_TOKEN_PERMANENT, $service, $user->id,
            \context_system::instance());
        $DB->insert_record('external_services_users', ['externalserviceid' => $service->id, 'userid' => $user->id,
            'timecreated' => time()]);
        $webservice = new \webservice();
        try {
            $webservice->authenticate_user($token);
            $this->fail('a disabled service accepted a token');
        } catch (\webservice_access_exception $refused) {
            $this->assertStringContainsString('not available', $refused->getMessage());
        }

        $DB->set_field('external_services', 'enabled', 1, ['id' => $service->id]);
        $this->assertSame((int) $user->id, (int) $webservice->authenticate_user($token)['user']->id);

        unassign_capability('local/crmsync:webservice', $DB->get_field('role', 'id', ['shortname' => 'crmsyncws']));
        accesslib_clear_all_caches_for_unit_testing();
        $this->expectException(\webservice_access_exception::class);
        $this->expectExceptionMessage('local/crmsync:webservice');
        $webservice->authenticate_user($token);
    }

    public function test_every_function_works_for_a_user_holding_only_the_documented_role(): void {
        global $DB, $CFG;
        require_once($CFG->libdir . '/completionlib.php');
        require_once($CFG->dirroot . '/completion/criteria/completion_criteria_self.php');
        $this->resetAfterTest();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course(['shortname' => 'CRM101', 'enablecompletion' => 1, 'visible' => 0]);
        $criteria = (object) ['id' => $course->id, 'criteria_self' => 1];
        (new \completion_criteria_self())->update_config($criteria);
        $learner = $generator->create_user(['email' => 'ada@example.invalid', 'idnumber' => 'L001', 'username' => 'ada']);
        $tutor = $generator->create_user();
        $roles = $DB->get_records_menu('role', null, '', 'shortname, id');
        $this->setUser($this->webservice_user());
        $emails = $this->redirectEmails();

        $this->assertSame('crmsync', $this->call('core_webservice_get_site_info')['username']);
        foreach (['id' => $learner->id, 'email' => 'ada@example.invalid', 'idnumber' => 'L001', 'username' => 'ada']
                as $field => $value) {
            $found = $this->call('core_user_get_users_by_field', ['field' => $field, 'values' => [$value]]);
            $this->assertSame([(int) $learner->id], array_map('intval', array_column($found, 'id')), "found by $field");
        }
        $created = $this->call('core_user_create_users', ['users' => [['username' => 'grace', 'auth' => 'manual',
            'createpassword' => 1, 'firstname' => 'Grace', 'lastname' => 'Hopper', 'email' => 'grace@example.com']]]);
        $this->assertSame(1, $emails->count());  // "create password and email it"
        // Core's own notices: setnew_password_and_mail() names the user from a record without the alternative
        // name fields.
        $this->resetDebugging();
        $grace = (int) $created[0]['id'];
        $this->assertSame([], $this->call('core_user_update_users', ['users' => [['id' => $grace, 'phone1' => '+44 1',
            'phone2' => '+44 2', 'institution' => 'ACME', 'department' => 'Ops', 'city' => 'Leeds', 'country' => 'GB',
            'email' => 'grace.h@example.com']]])['warnings']);
        $this->assertSame('Ops', $DB->get_field('user', 'department', ['id' => $grace]));

        $this->assertSame('CRM101', $this->call('core_course_get_courses_by_field', ['field' => 'id',
            'value' => $course->id])['courses'][0]['shortname']);  // a hidden course too
        $this->call('enrol_manual_enrol_users', ['enrolments' => [['roleid' => $roles['student'], 'userid' => $grace,
            'courseid' => $course->id, 'timestart' => 1800000000, 'timeend' => 1900000000]]]);
        $updated = $this->call('local_crmsync_update_enrolments', ['enrolments' => [['userid' => $grace,
            'courseid' => $course->id, 'suspend' => 1]]]);
        $this->assertSame([true, 1800000000, 1900000000], [$updated['updated'][0]['suspend'],
            $updated['updated'][0]['timestart'], $updated['updated'][0]['timeend']]);
        $this->call('local_crmsync_update_enrolments', ['enrolments' => [['userid' => $grace, 'courseid' => $course->id,
            'suspend' => 0, 'timestart' => 0]]]);
        $this->call('enrol_manual_enrol_users', ['enrolments' => [['roleid' => $roles['student'], 'userid' => $tutor->id,
            'courseid' => $course->id]]]);
        $this->call('core_role_assign_roles', ['assignments' => [['roleid' => $roles['teacher'], 'userid' => $tutor->id,
            'contextlevel' => 'course', 'instanceid' => $course->id]]]);
        $enrolled = $this->call('core_enrol_get_enrolled_users', ['courseid' => $course->id]);
        $this->assertEqualsCanonicalizing([$grace, (int) $tutor->id], array_map('intval', array_column($enrolled, 'id')));
        $this->call('core_role_unassign_roles', ['unassignments' => [['roleid' => $roles['teacher'],
            'userid' => $tutor->id, 'contextlevel' => 'course', 'instanceid' => $course->id]]]);
        $this->assertFalse(user_has_role_assignment($tutor->id, $roles['teacher'], \context_course::instance($course->id)->id));

        $group = $this->call('core_group_create_groups', ['groups' => [['courseid' => $course->id, 'name' => 'Intake A',
            'description' => '']]])[0];
        $this->assertSame(['Intake A'], array_column($this->call('core_group_get_course_groups',
            ['courseid' => $course->id]), 'name'));
        $this->call('core_group_add_group_members', ['members' => [['groupid' => $group['id'], 'userid' => $grace]]]);
        $this->assertTrue(groups_is_member($group['id'], $grace));
        $this->call('core_group_delete_group_members', ['members' => [['groupid' => $group['id'], 'userid' => $grace]]]);
        $this->assertFalse(groups_is_member($group['id'], $grace));

        // In Separate groups mode a user who may not see all groups is shown nobody of a group they are not in.
        $DB->set_field('course', 'groupmode', SEPARATEGROUPS, ['id' => $course->id]);
        $this->call('core_group_add_group_members', ['members' => [['groupid' => $group['id'], 'userid' => $grace]]]);
        $this->assertSame([$grace], array_map('intval', array_column($this->call('core_enrol_get_enrolled_users',
            ['courseid' => $course->id, 'options' => [['name' => 'groupid', 'value' => $group['id']]]]), 'id')));

        $status = $this->call('core_completion_get_course_completion_status', ['courseid' => $course->id,
            'userid' => $grace]);
        $this->assertFalse($status['completionstatus']['completed']);

        $this->call('enrol_manual_unenrol_users', ['enrolments' => [['userid' => $grace, 'courseid' => $course->id]]]);
        $this->assertFalse(is_enrolled(\context_course::instance($course->id), $grace));
    }

    public function test_without_viewing_identity_fields_a_lookup_by_email_finds_nobody(): void {
        // Why the role needs moodle/site:viewuseridentity: Moodle answers an empty list, not an error, and
        // the sync would take the learner for a new one.
        $this->resetAfterTest();
        $this->getDataGenerator()->create_user(['email' => 'ada@example.invalid']);
        $this->setUser($this->webservice_user(['moodle/site:viewuseridentity']));
        $this->assertSame([], $this->call('core_user_get_users_by_field', ['field' => 'email',
            'values' => ['ada@example.invalid']]));
    }
}
