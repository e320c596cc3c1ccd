<?php
use local_crmsync\local\message_builder as builder;
use PHPUnit\Framework\TestCase;

require_once(__DIR__ . '/contract_schema.php');

/** Every deletion the plugin sends has the shape the event contract's schema for its type promises. */
final class DeletionMessageTest extends TestCase {
    /** @var contract_schema */
    private static $schema;

    public static function setUpBeforeClass(): void {
        self::$schema = new contract_schema();
    }

    private function message(string $type, string $subject, array $data, ?array $event = null): array {
        return builder::envelope('0b9c6a0e-5d41-4c3a-9f1e-0c8d5f1a2b3c', $type, 1795344057000123, $subject,
            ['id' => 'a1b2c3d4e5f6a7b8c9d0', 'url' => 'http://127.0.0.1:8082'], $event, $data, 1795344057);
    }

    private function assertValid(array $message): void {
        $this->assertSame([], self::$schema->errors($message), "{$message['type']} {$message['subject']}");
    }

    /** Strings, as Moodle's $DB hands them back. */
    private function course(): stdClass {
        return (object) ['id' => '2', 'shortname' => 'CRM101', 'fullname' => 'CRM for beginners', 'idnumber' => 'C-101'];
    }

    private function item(): stdClass {
        return (object) ['id' => '3', 'courseid' => '2', 'itemtype' => 'mod', 'itemmodule' => 'assign', 'iteminstance' => '1',
            'itemname' => 'Essay 1', 'grademax' => '100.00000', 'grademin' => '0.00000', 'gradepass' => '50.00000'];
    }

    public function test_user_deleted_with_and_without_the_event_snapshot(): void {
        $full = builder::user_deleted_state(5, ['username' => 'student3', 'email' => 's3@example.invalid', 'idnumber' => '']);
        $this->assertValid($this->message('user.deleted', 'user:5', $full));
        $bare = builder::user_deleted_state(5, null);
        $this->assertSame(['id' => 5, 'deleted' => true], $bare);
        $this->assertValid($this->message('user.deleted', 'user:5', $bare));
    }

    public function test_course_deleted_with_and_without_the_event_snapshot(): void {
        $full = builder::course_deleted_state(2, ['shortname' => 'CRM101', 'fullname' => 'CRM', 'idnumber' => 'C-101']);
        $this->assertSame(['id' => 2, 'shortname' => 'CRM101', 'fullname' => 'CRM', 'idnumber' => 'C-101', 'deleted' => true],
            $full);
        $this->assertValid($this->message('course.deleted', 'course:2', $full));
        $this->assertValid($this->message('course.deleted', 'course:2', builder::course_deleted_state(2, null)));
    }

    public function test_enrolment_deleted_names_the_course_only_while_it_exists(): void {
        $kept = builder::enrolment_deleted_state(4, 2, $this->course());
        $this->assertSame(['userid' => 4, 'courseid' => 2, 'status' => 'deleted',
            'course' => ['id' => 2, 'shortname' => 'CRM101', 'fullname' => 'CRM for beginners', 'idnumber' => 'C-101'],
            'enrolments' => [], 'roles' => [], 'groups' => []], $kept);
        $this->assertValid($this->message('enrolment.deleted', 'enrolment:4:2', $kept));
        $gone = builder::enrolment_deleted_state(4, 2, null);
        $this->assertArrayNotHasKey('course', $gone);
        $this->assertValid($this->message('enrolment.deleted', 'enrolment:4:2', $gone));
    }

    public function test_grade_deleted_carries_the_item_while_it_exists(): void {
        $kept = builder::grade_deleted_state(4, 2, 3, $this->item(), 2);
        $this->assertTrue($kept['deleted']);
        $this->assertNull($kept['finalgrade']);
        $this->assertSame(2, $kept['item']['cmid']);
        $this->assertSame($kept, builder::grade_state(4, $this->item(), null, 2));
        $this->assertValid($this->message('grade.deleted', 'grade:4:3', $kept));
        $gone = builder::grade_deleted_state(4, 2, 3);
        $this->assertSame(['userid' => 4, 'courseid' => 2, 'itemid' => 3, 'deleted' => true], $gone);
        $this->assertValid($this->message('grade.deleted', 'grade:4:3', $gone));
    }

    public function test_activity_deleted_from_the_course_module_deleted_snapshot(): void {
        $state = builder::activity_deleted_state(2, ['courseid' => '2', 'modname' => 'assign', 'instance' => '1']);
        $this->assertSame(['id' => 2, 'courseid' => 2, 'modname' => 'assign', 'instance' => 1, 'deleted' => true], $state);
        $this->assertValid($this->message('activity.deleted', 'activity:2', $state));
        $this->assertValid($this->message('activity.deleted', 'activity:2', builder::activity_deleted_state(2, null)));
    }

    public function test_grade_item_deleted_from_the_grade_item_deleted_snapshot(): void {
        $state = builder::grade_item_deleted_state(3, ['courseid' => '2', 'itemtype' => 'mod', 'itemmodule' => 'assign',
            'itemname' => 'Essay 1']);
        $this->assertSame(['id' => 3, 'courseid' => 2, 'itemtype' => 'mod', 'itemmodule' => 'assign', 'itemname' => 'Essay 1',
            'deleted' => true], $state);
        $this->assertValid($this->message('grade_item.deleted', 'grade_item:3', $state));
        $manual = builder::grade_item_deleted_state(7, ['courseid' => 2, 'itemtype' => 'manual', 'itemmodule' => null,
            'iteminstance' => null]);
        $this->assertNull($manual['itemmodule']);
        $this->assertValid($this->message('grade_item.deleted', 'grade_item:7', $manual));
        $withinstance = builder::grade_item_deleted_state(3, ['courseid' => 2, 'itemtype' => 'mod', 'itemmodule' => 'assign',
            'iteminstance' => '1']);
        $this->assertSame(1, $withinstance['iteminstance']);
        $this->assertValid($this->message('grade_item.deleted', 'grade_item:3', $withinstance));
    }

    public function test_module_completion_deleted(): void {
        $state = builder::module_completion_deleted_state(3, 2, 2);
        $this->assertSame(['userid' => 3, 'cmid' => 2, 'courseid' => 2, 'deleted' => true], $state);
        $this->assertValid($this->message('module_completion.deleted', 'module_completion:3:2', $state));
        $this->assertValid($this->message('module_completion.deleted', 'module_completion:3:2',
            builder::module_completion_deleted_state(3, 2, null)));
    }

    public function test_course_completion_deleted(): void {
        $state = builder::course_completion_deleted_state(4, 2);
        $this->assertSame(['userid' => 4, 'courseid' => 2, 'deleted' => true], $state);
        $this->assertValid($this->message('course_completion.deleted', 'course_completion:4:2', $state));
    }

    public function test_attendance_deleted(): void {
        $state = builder::attendance_deleted_state(1, 2);
        $this->assertSame(['sessionid' => 1, 'courseid' => 2, 'deleted' => true], $state);
        $this->assertValid($this->message('attendance.deleted', 'attendance:1', $state));
        $this->assertValid($this->message('attendance.deleted', 'attendance:1', builder::attendance_deleted_state(1, null)));
    }

    /** The validator itself: what the schemas forbid, it reports. */
    public function test_the_schema_check_refuses_what_the_contract_forbids(): void {
        $deleted = $this->message('course_completion.deleted', 'course_completion:4:2', ['userid' => 4, 'courseid' => 2,
            'deleted' => false]);
        $this->assertNotEmpty(self::$schema->errors($deleted));
        $nocourse = $this->message('grade.deleted', 'grade:4:3', ['userid' => 4, 'itemid' => 3, 'deleted' => true]);
        $this->assertNotEmpty(self::$schema->errors($nocourse));
        $stringid = $this->message('attendance.deleted', 'attendance:1', ['sessionid' => '1', 'deleted' => true]);
        $this->assertNotEmpty(self::$schema->errors($stringid));
        $wrongsubject = $this->message('activity.deleted', 'course:2', ['id' => 2, 'courseid' => 2, 'deleted' => true]);
        $this->assertNotEmpty(self::$schema->errors($wrongsubject));
        $extra = $this->message('attendance.deleted', 'attendance:1', ['sessionid' => 1, 'deleted' => true]) + ['x' => 1];
        $this->assertNotEmpty(self::$schema->errors($extra));
        $enrolled = $this->message('enrolment.deleted', 'enrolment:4:2', ['userid' => 4, 'courseid' => 2, 'status' => 'deleted',
            'enrolments' => [['id' => 1]], 'roles' => [], 'groups' => []]);
        $this->assertNotEmpty(self::$schema->errors($enrolled));
        $this->assertNotEmpty(self::$schema->errors(['type' => 'nothing.deleted']));
    }
}
