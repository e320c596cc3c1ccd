<?php
use local_crmsync\local\message_builder;
use PHPUnit\Framework\TestCase;

final class MessageBuilderTest extends TestCase {
    private function user(): stdClass {
        return (object) ['id' => '3', 'username' => 'student1', 'firstname' => 'Alice', 'lastname' => 'Anders',
            'email' => 'a@example.invalid', 'suspended' => '0', 'deleted' => '0', 'timemodified' => '1795344024'];
    }

    /** Found in a real Moodle: an empty profile became the JSON list [] and the receiver refused it. */
    public function test_empty_profile_is_a_json_object(): void {
        $json = json_encode(message_builder::user_state($this->user(), []));
        $this->assertStringContainsString('"profile":{}', $json);
    }

    public function test_ids_and_flags_get_their_types(): void {
        $state = message_builder::user_state($this->user(), ['segment' => 'B2B']);
        $this->assertSame(3, $state['id']);
        $this->assertFalse($state['suspended']);
        $this->assertSame(1795344024, $state['timemodified']);
    }

    public function test_an_enrolment_outside_its_dates_is_not_active(): void {
        $course = (object) ['id' => '2', 'shortname' => 'CRM101', 'fullname' => 'Course'];
        $ended = (object) ['id' => 1, 'enrolid' => 1, 'method' => 'manual', 'status' => '0', 'enrolstatus' => '0',
            'timestart' => '100', 'timeend' => '200'];
        $state = message_builder::enrolment_state(3, $course, [$ended], ['student'], [], 300);
        $this->assertSame('suspended', $state['status']);
        $this->assertSame('deleted', message_builder::enrolment_state(3, $course, [], [], [], 300)['status']);
    }
}
