<?php
use local_crmsync\local\backfill;
use PHPUnit\Framework\TestCase;

/** What a backfill queues for one user, from what that user holds in Moodle. */
final class BackfillTest extends TestCase {
    private function subjects(array $entries): array {
        return array_map(function($entry) {
            return $entry['type'] . ' ' . $entry['subject'];
        }, $entries);
    }

    public function test_a_learner_gets_every_subject_the_observers_would_have_recorded(): void {
        $entries = backfill::user_entries(3, [2 => ['learner' => true, 'accessed' => true, 'grades' => ['7', '1'],
            'modules' => ['4'], 'completion' => true]], ['2', '5']);
        $this->assertSame(['user.updated user:3', 'consent.updated consent:3:2', 'consent.updated consent:3:5',
            'enrolment.updated enrolment:3:2', 'course_access.updated course_access:3:2', 'grade.updated grade:3:7',
            'grade.updated grade:3:1', 'module_completion.updated module_completion:3:4',
            'course_completion.updated course_completion:3:2'], $this->subjects($entries));
        foreach ($entries as $entry) {
            $this->assertSame(3, $entry['userid']);
        }
        // A grade's or completion's subject does not name the course: kept in case the item is gone when sending.
        $this->assertSame(['courseid' => 2], $entries[5]['snapshot']);
        $this->assertSame(['courseid' => 2], $entries[7]['snapshot']);
    }

    public function test_a_teacher_gets_the_enrolment_and_access_but_no_grades_or_completions(): void {
        $entries = backfill::user_entries(9, [2 => ['learner' => false, 'accessed' => true, 'grades' => ['7'],
            'modules' => ['4'], 'completion' => true], 3 => ['learner' => true, 'accessed' => false, 'grades' => [],
            'modules' => [], 'completion' => false]], []);
        $this->assertSame(['user.updated user:9', 'enrolment.updated enrolment:9:2', 'course_access.updated course_access:9:2',
            'enrolment.updated enrolment:9:3'], $this->subjects($entries));
    }

    /** Every type a backfill counts is a message type's prefix the settings' groups know. */
    public function test_the_counted_types_are_message_types(): void {
        foreach (backfill::TYPES as $type) {
            $this->assertArrayHasKey($type, \local_crmsync\local\event_map::GROUPS);
        }
    }
}
