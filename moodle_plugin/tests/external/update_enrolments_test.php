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

/**
 * local_crmsync_update_enrolments (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\external\update_enrolments
 */
final class update_enrolments_test extends \externallib_advanced_testcase {
    /**
     * @param array $enrolments
     * @return array the result as the web-service layer returns it
     */
    private function update(array $enrolments): array {
        return external_api::clean_returnvalue(update_enrolments::execute_returns(),
            update_enrolments::execute($enrolments));
    }

    /**
     * @param int $userid
     * @param int $courseid
     * @return array [status, timestart, timeend] of the manual enrolment
     */
    private function enrolment(int $userid, int $courseid): array {
        global $DB;
        $ue = $DB->get_record_sql("SELECT ue.* FROM {user_enrolments} ue JOIN {enrol} e ON e.id = ue.enrolid
                                    WHERE e.enrol = 'manual' AND e.courseid = ? AND ue.userid = ?", [$courseid, $userid]);
        return $ue ? [(int) $ue->status, (int) $ue->timestart, (int) $ue->timeend] : [];
    }

    public function test_only_what_is_given_changes_and_moodle_tells_the_sync_about_it(): void {
        $this->resetAfterTest();
        $this->setAdminUser();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $learner = $generator->create_user();
        $generator->enrol_user($learner->id, $course->id, 'student', 'manual', 1800000000, 1900000000);

        $sink = $this->redirectEvents();
        $result = $this->update([['userid' => $learner->id, 'courseid' => $course->id, 'suspend' => 1]]);
        $events = array_filter($sink->get_events(), function($event) {
            return $event instanceof \core\event\user_enrolment_updated;
        });
        $sink->close();
        // core's enrol_manual_enrol_users would have set both dates to 0 here.
        $this->assertSame([ENROL_USER_SUSPENDED, 1800000000, 1900000000], $this->enrolment($learner->id, $course->id));
        $this->assertSame([['userid' => (int) $learner->id, 'courseid' => (int) $course->id, 'suspend' => true,
            'timestart' => 1800000000, 'timeend' => 1900000000]], $result['updated']);
        $this->assertSame([], $result['warnings']);
        $this->assertCount(1, $events);

        $this->update([['userid' => $learner->id, 'courseid' => $course->id, 'timeend' => 0, 'suspend' => 0]]);
        $this->assertSame([ENROL_USER_ACTIVE, 1800000000, 0], $this->enrolment($learner->id, $course->id));
        // Roles are not the function's business: the student role stays, alone.
        $this->assertSame(['student'], array_values(array_column(get_user_roles(\context_course::instance($course->id),
            $learner->id), 'shortname')));
    }

    public function test_what_cannot_be_changed_comes_back_as_a_warning_and_the_rest_is_changed(): void {
        global $DB;
        $this->resetAfterTest();
        $this->setAdminUser();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $nomanual = $generator->create_course();
        $DB->set_field('enrol', 'status', ENROL_INSTANCE_DISABLED, ['courseid' => $nomanual->id, 'enrol' => 'manual']);
        [$dated, $other, $stranger] = [$generator->create_user(), $generator->create_user(), $generator->create_user()];
        $generator->enrol_user($dated->id, $course->id, 'student', 'manual', 1800000000, 1900000000);
        $generator->enrol_user($other->id, $course->id, 'student');

        $result = $this->update([
            ['userid' => $dated->id, 'courseid' => $course->id, 'timeend' => 1700000000],  // before its start
            ['userid' => $dated->id, 'courseid' => $course->id, 'timestart' => 1950000000],  // after its end
            ['userid' => $stranger->id, 'courseid' => $course->id, 'suspend' => 1],  // unenrolled meanwhile, say
            ['userid' => $other->id, 'courseid' => 999999, 'suspend' => 1],
            ['userid' => $other->id, 'courseid' => $nomanual->id, 'suspend' => 1],
            ['userid' => $other->id, 'courseid' => SITEID, 'suspend' => 1],
            ['userid' => $other->id, 'courseid' => $course->id, 'suspend' => 1],
        ]);
        $this->assertSame([(int) $other->id], array_column($result['updated'], 'userid'));
        $this->assertSame(['invaliddates', 'invaliddates', 'notenrolled', 'invalidcourse', 'nomanualinstance',
            'invalidcourse'], array_column($result['warnings'], 'warningcode'));
        $this->assertSame("enrolment:{$stranger->id}:{$course->id}", $result['warnings'][2]['item']);
        $this->assertSame([ENROL_USER_ACTIVE, 1800000000, 1900000000], $this->enrolment($dated->id, $course->id));
        $this->assertSame([], $this->enrolment($stranger->id, $course->id));  // never created
        $this->assertSame(ENROL_USER_SUSPENDED, $this->enrolment($other->id, $course->id)[0]);
    }

    public function test_a_user_who_may_not_manage_enrolments_is_refused(): void {
        $this->resetAfterTest();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $learner = $generator->create_user();
        $generator->enrol_user($learner->id, $course->id, 'student');
        $teacher = $generator->create_user();
        $generator->enrol_user($teacher->id, $course->id, 'teacher');  // no enrol/manual:manage
        $this->setUser($teacher);
        $this->expectException(\required_capability_exception::class);
        update_enrolments::execute([['userid' => $learner->id, 'courseid' => $course->id, 'suspend' => 1]]);
    }

    public function test_bad_input_is_an_invalid_parameter_error(): void {
        $this->resetAfterTest();
        $this->setAdminUser();
        $_POST['sesskey'] = sesskey();
        $response = external_api::call_external_function('local_crmsync_update_enrolments',
            ['enrolments' => [['userid' => 'abc', 'courseid' => 2]]]);
        $this->assertTrue($response['error']);
        $this->assertSame('invalidparameter', $response['exception']->errorcode);
    }
}
