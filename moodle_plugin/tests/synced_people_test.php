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

namespace local_crmsync;

use tool_policy\api;
use tool_policy\test\helper;

/**
 * The people the CRM hears about as events happen: not the site admins, the guest or the sync's own web
 * service user, the same people the backfill leaves out (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\synced_people
 * @covers     \local_crmsync\observer
 */
final class synced_people_test extends \advanced_testcase {
    /** @var int the current version of a site policy */
    private $policy;
    /** @var object a course everyone below is enrolled in as a student */
    private $course;

    protected function setUp(): void {
        parent::setUp();
        $this->resetAfterTest();
        // Observers registered with 'internal' => false run only after a commit, which the rollback reset prevents.
        $this->preventResetByRollback();
        set_config('sitepolicyhandler', 'tool_policy');
        $this->setAdminUser();
        $policy = helper::add_policy(['name' => 'Site policy', 'revision' => 'v1']);
        api::make_current($policy->get('id'));
        $this->policy = (int) $policy->get('id');
        $this->course = $this->getDataGenerator()->create_course();
    }

    /**
     * A user authorised on the plugin's web service, as the admin guide's "Let the CRM write to Moodle" makes one.
     *
     * @return object
     */
    private function service_user() {
        global $DB;
        $user = $this->getDataGenerator()->create_user(['username' => 'crmsync']);
        $service = $DB->get_field('external_services', 'id', ['shortname' => 'crmsync', 'component' => 'local_crmsync'],
            MUST_EXIST);
        $DB->insert_record('external_services_users', ['externalserviceid' => $service, 'userid' => $user->id,
            'timecreated' => time()]);
        return $user;
    }

    /**
     * What a person does on a normal day: is enrolled, accepts the site policy, views the course, edits the profile.
     *
     * @param object $user
     */
    private function day_of(object $user): void {
        $this->getDataGenerator()->enrol_user($user->id, $this->course->id, 'student');
        $this->setUser($user);
        api::accept_policies([$this->policy]);
        \core\event\course_viewed::create(['context' => \context_course::instance($this->course->id)])->trigger();
        \core\event\user_updated::create_from_userid($user->id)->trigger();
    }

    /**
     * @param int $userid
     * @return string[] type and subject of the user's pending outbox rows
     */
    private function rows_of(int $userid): array {
        global $DB;
        return array_values(array_map(function($row) {
            return "$row->type $row->subject";
        }, $DB->get_records('local_crmsync_outbox', ['userid' => $userid, 'status' => 'pending'], 'id')));
    }

    public function test_site_admins_the_guest_and_the_service_user_are_not_recorded_but_learners_are(): void {
        global $DB;
        $learner = $this->getDataGenerator()->create_user();
        $service = $this->service_user();
        $DB->delete_records('local_crmsync_outbox');
        $admin = get_admin();
        foreach ([$admin, $service, $learner] as $user) {
            $this->day_of($user);
        }
        $this->setGuestUser();
        \core\event\course_viewed::create(['context' => \context_course::instance($this->course->id)])->trigger();

        [$l, $c, $p] = [$learner->id, $this->course->id, $this->policy];
        $this->assertSame(["enrolment.created enrolment:$l:$c", "enrolment.updated enrolment:$l:$c",
            "consent.updated consent:$l:$p",
            "course_access.updated course_access:$l:$c", "user.updated user:$l"], $this->rows_of($l));
        $this->assertSame([], $this->rows_of($admin->id));
        $this->assertSame([], $this->rows_of($service->id));
        $this->assertSame([], $this->rows_of(guest_user()->id));
        // None of them is hidden in a row about no learner either.
        foreach ([$admin->id, $service->id, guest_user()->id] as $id) {
            $this->assertFalse($DB->record_exists_select('local_crmsync_outbox', $DB->sql_like('subject', ':s'),
                ['s' => "%:$id:%"]), "a row names user $id");
            $this->assertFalse($DB->record_exists('local_crmsync_outbox', ['subject' => "user:$id"]));
        }
        $this->assertTrue($DB->record_exists('local_crmsync_outbox', ['subject' => "course_summary:$c"]));
    }

    public function test_a_learner_who_becomes_a_site_admin_is_heard_of_no_more_and_again_once_back(): void {
        global $CFG, $DB;
        $learner = $this->getDataGenerator()->create_user();
        $this->day_of($learner);
        $this->assertNotEmpty($this->rows_of($learner->id));
        $DB->delete_records('local_crmsync_outbox');
        $context = \context_course::instance($this->course->id);

        $admins = $CFG->siteadmins;
        set_config('siteadmins', "$admins,{$learner->id}");
        \core\event\course_viewed::create(['context' => $context])->trigger();
        \core\event\user_updated::create_from_userid($learner->id)->trigger();
        $this->assertSame([], $this->rows_of($learner->id));

        set_config('siteadmins', $admins);
        \core\event\user_updated::create_from_userid($learner->id)->trigger();
        $this->assertSame(["user.updated user:{$learner->id}"], $this->rows_of($learner->id));
    }

    public function test_the_backfill_leaves_the_service_user_out(): void {
        global $DB;
        $service = $this->service_user();
        $learner = $this->getDataGenerator()->create_user();
        $DB->delete_records('local_crmsync_outbox');
        local\backfill::chunk(0, 100);
        $this->assertSame(["user.updated user:{$learner->id}"], $this->rows_of($learner->id));
        $this->assertSame([], $this->rows_of($service->id));
    }
}
