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
 * Backfill (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\backfill
 */
final class backfill_test extends \advanced_testcase {
    public function test_backfill_queues_users_enrolments_and_grades_in_resumable_chunks(): void {
        global $DB;
        $this->resetAfterTest();
        set_config('eventgroups', 'grades', 'local_crmsync');  // keep the observers' own rows out of the way
        $course = $this->getDataGenerator()->create_course();
        $users = [];
        for ($i = 0; $i < 3; $i++) {
            $users[] = $user = $this->getDataGenerator()->create_user();
            $this->getDataGenerator()->enrol_user($user->id, $course->id, 'student');
        }
        set_config('eventgroups', 'users,enrolments,completions,grades', 'local_crmsync');
        $DB->delete_records('local_crmsync_outbox');

        [$count, $lastid, $total] = local\backfill::chunk(0, 2, $course->id);
        $this->assertSame([2, (int) $users[1]->id, 3], [$count, $lastid, $total]);
        [$count] = local\backfill::chunk($lastid, 2, $course->id);
        $this->assertSame(1, $count);
        foreach ($users as $user) {
            $this->assertTrue($DB->record_exists('local_crmsync_outbox', ['subject' => "user:{$user->id}"]));
            $this->assertTrue($DB->record_exists('local_crmsync_outbox',
                ['subject' => "enrolment:{$user->id}:{$course->id}", 'type' => 'enrolment.updated']));
        }
    }
}
