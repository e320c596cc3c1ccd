<?php
use PHPUnit\Framework\TestCase;

require_once(__DIR__ . '/contract_schema.php');
require_once(__DIR__ . '/memory_state_source.php');

/**
 * What the tests of messages built from Moodle's state share: the contract's schemas, and a course with a
 * learner in a Moodle held in memory (memory_state_source), made again for every test.
 */
abstract class state_messages_test_case extends TestCase {
    /** @var contract_schema */
    protected static $schema;
    /** @var memory_state_source */
    protected $moodle;

    public static function setUpBeforeClass(): void {
        self::$schema = new contract_schema();
    }

    protected function setUp(): void {
        $this->moodle = memory_state_source::course_with_a_learner();
    }
}
