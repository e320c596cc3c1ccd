<?php
use local_crmsync\local\event_map;
use PHPUnit\Framework\TestCase;

/** Every relevant event of the recorded Moodle 4.3 dumps lands on the right subject. */
final class EventMapTest extends TestCase {
    private function dumps(): array {
        $dumps = [];
        foreach (['moodle-4.3-events', 'moodle-4.3-events-2'] as $folder) {
            foreach (glob(CRMSYNC_SHARED . "/fixtures/$folder/[0-9]*.json") as $file) {
                $dumps[basename($file)] = json_decode(file_get_contents($file), true);
            }
        }
        $this->assertGreaterThan(200, count($dumps), 'the recorded event dumps were not found beside the repository');
        return $dumps;
    }

    public function test_subjects_of_the_recorded_events(): void {
        $subjects = [];
        foreach ($this->dumps() as $name => $dump) {
            foreach (event_map::entries($dump['data']) as $entry) {
                $subjects[$name][] = $entry['type'] . ' ' . $entry['subject'];
            }
        }
        $this->assertSame(['user.created user:3'], $subjects['00011_core_event_user_created.json']);
        $this->assertSame(['enrolment.created enrolment:3:2'], $subjects['00016_core_event_user_enrolment_created.json']);
        $this->assertSame(['enrolment.updated enrolment:3:2'], $subjects['00017_core_event_role_assigned.json']);
        $this->assertSame(['enrolment.updated enrolment:3:2'], $subjects['00024_core_event_group_member_added.json']);
        $this->assertSame(['grade.updated grade:3:2'], $subjects['00045_core_event_user_graded.json']);
        // The course-total recalculation fired with userid -1 is kept: it is how that change arrives.
        $this->assertSame(['grade.updated grade:3:1'], $subjects['00046_core_event_user_graded.json']);
        $this->assertSame(['course_access.updated course_access:3:2'], $subjects['00059_core_event_course_viewed.json']);
        $this->assertSame(['enrolment.deleted enrolment:4:2', 'course_completion.updated course_completion:4:2'],
            $subjects['00078_core_event_user_enrolment_deleted.json']);
        $this->assertSame(['user.deleted user:5'], $subjects['00085_core_event_user_deleted.json']);
        $this->assertArrayNotHasKey('00057_core_event_user_login_failed.json', $subjects);
        $this->assertSame(['attendance.recorded attendance:1'], $subjects['00264_mod_attendance_event_attendance_taken.json']);
        $this->assertSame(['consent.updated consent:3:1'], $subjects['00291_tool_policy_event_acceptance_created.json']);
    }

    public function test_user_deleted_keeps_the_only_copy_of_username_and_email(): void {
        $dump = $this->dumps()['00085_core_event_user_deleted.json'];
        $entry = event_map::entries($dump['data'])[0];
        $this->assertSame(['username' => 'student3', 'email' => 'student3@example.invalid', 'idnumber' => 'EXT-003'],
            $entry['snapshot']);
        $this->assertSame(5, $entry['userid']);
    }

    public function test_groups_cover_every_message_type(): void {
        $this->assertSame('enrolments', event_map::group('enrolment.deleted'));
        $this->assertSame('completions', event_map::group('course_completion.updated'));
        $this->assertSame('consent', event_map::group('consent.updated'));
    }
}
