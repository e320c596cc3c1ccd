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

/**
 * Enrolments whose start or end date passed are sent again with their new status (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\task\enrolment_windows
 */
final class enrolment_windows_test extends \advanced_testcase {
    public function test_windows_that_opened_or_closed_since_the_last_run_are_re_sent_with_their_status(): void {
        global $DB;
        $this->resetAfterTest();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $now = time();
        [$ending, $starting, $open, $later] = [$generator->create_user(), $generator->create_user(),
            $generator->create_user(), $generator->create_user()];
        $generator->enrol_user($ending->id, $course->id, 'student', 'manual', $now - DAYSECS, $now + 60);
        $generator->enrol_user($starting->id, $course->id, 'student', 'manual', $now + 120, 0);
        $generator->enrol_user($open->id, $course->id, 'student', 'manual', $now - DAYSECS, 0);
        $generator->enrol_user($later->id, $course->id, 'student', 'manual', $now + 3 * DAYSECS, 0);
        $DB->delete_records('local_crmsync_outbox');

        // The first run looks at nothing before it.
        unset_config(task\enrolment_windows::CHECKED_UNTIL, 'local_crmsync');
        $task = new task\enrolment_windows();
        $this->expectOutputRegex('/0 enrolments/');
        $task->execute();
        $this->assertSame(0, $DB->count_records('local_crmsync_outbox'));
        $this->assertEqualsWithDelta($now, (int) get_config('local_crmsync', task\enrolment_windows::CHECKED_UNTIL), 5);

        // Five minutes later: the first enrolment ended, the second started, the others did not change.
        $this->assertSame(2, task\enrolment_windows::record($now, $now + 300));
        $rows = $DB->get_records('local_crmsync_outbox', ['type' => 'enrolment.updated'], 'subject');
        $this->assertEqualsCanonicalizing(["enrolment:{$ending->id}:{$course->id}", "enrolment:{$starting->id}:{$course->id}"],
            array_column($rows, 'subject'));
        // The course's learner count changed with them: its summary is sent again, once.
        $this->assertSame(["course_summary:{$course->id}"], array_values($DB->get_fieldset_select('local_crmsync_outbox',
            'subject', "type = 'course_summary.updated'")));
        $statuses = [];
        foreach ($rows as $row) {
            $message = local\state_reader::message($row, 1, new class($now + 300) extends local\moodle_state_source {
                /** @var int */
                private $at;
                public function __construct(int $at) {
                    $this->at = $at;
                }
                public function now(): int {
                    return $this->at;
                }
            });
            $statuses[$row->userid] = $message['data']['status'];
        }
        $this->assertSame('suspended', $statuses[$ending->id]);
        $this->assertSame('active', $statuses[$starting->id]);

        // The next period: no date in it, nothing about the course either.
        $DB->delete_records('local_crmsync_outbox');
        $this->assertSame(0, task\enrolment_windows::record($now + 300, $now + 600));
        $this->assertSame(0, $DB->count_records('local_crmsync_outbox'));
    }

    public function test_a_date_already_passed_when_the_enrolment_was_written_is_not_sent_again(): void {
        global $DB;
        $this->resetAfterTest();
        $generator = $this->getDataGenerator();
        $course = $generator->create_course();
        $user = $generator->create_user();
        $now = time();
        // Enrolled now, starting now: the enrolment's own event carried that status.
        $generator->enrol_user($user->id, $course->id, 'student', 'manual', $now, 0);
        $DB->delete_records('local_crmsync_outbox');
        $this->assertSame(0, task\enrolment_windows::record($now - 300, $now));
    }

    public function test_the_task_is_scheduled_every_five_minutes(): void {
        $minutes = [];
        foreach (\core\task\manager::load_default_scheduled_tasks_for_component('local_crmsync') as $task) {
            $minutes[get_class($task)] = $task->get_minute();
        }
        $this->assertSame('*/5', $minutes[task\enrolment_windows::class] ?? null);
    }
}
