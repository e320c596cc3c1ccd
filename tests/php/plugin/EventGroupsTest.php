<?php
use local_crmsync\local\event_map;
use PHPUnit\Framework\TestCase;

/** The "What to send" setting: never saved means everything, saved with nothing ticked means nothing. */
final class EventGroupsTest extends TestCase {
    public function test_a_setting_never_saved_sends_every_group(): void {
        foreach (['user.updated', 'grade.updated', 'attendance.recorded', 'consent.updated'] as $type) {
            $this->assertTrue(event_map::group_enabled(false, $type), $type);
        }
    }

    /** What admin_setting_configmulticheckbox stores when every box is unticked. */
    public function test_every_group_unticked_sends_nothing(): void {
        foreach (['user.updated', 'user.deleted', 'course.updated', 'enrolment.created', 'grade.updated',
                'course_completion.updated', 'course_access.updated', 'attendance.recorded', 'consent.updated'] as $type) {
            $this->assertFalse(event_map::group_enabled('', $type), $type);
        }
    }

    public function test_only_the_ticked_groups_are_sent(): void {
        $this->assertTrue(event_map::group_enabled('users,grades', 'user.updated'));
        $this->assertTrue(event_map::group_enabled('users,grades', 'grade.deleted'));
        $this->assertFalse(event_map::group_enabled('users,grades', 'enrolment.created'));
        $this->assertFalse(event_map::group_enabled('grades', 'user.updated'));
    }
}
