<?php
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/support/OutboxDb.php';
require_once 'custom/crmsync/CrmSyncPicker.php';

/**
 * What the edit views offer a CRM user to pick (CrmSyncPicker, asked by CrmSyncPicker.js through the entry
 * point): real courses and the groups of the chosen course, read from the package's tables in MariaDB as
 * SuiteCRM 7.14.6 keeps them (deleted rows stay, flagged; a group belongs to its course through the join
 * table of mdl_groups_mdl_courses).
 */
final class PickerTest extends TestCase {
    /** @var OutboxDb */
    private $db;
    /** @var CrmSyncPicker */
    private $picker;
    private $rows = 0;

    protected function setUp(): void {
        $this->db = OutboxDb::create();
        $join = CrmSyncFields::PICKER['groups']['course'];
        foreach (array("CREATE TABLE mdl_courses (id char(36) PRIMARY KEY, name varchar(255), shortname varchar(255), deleted tinyint(1) DEFAULT 0)",
                       "CREATE TABLE mdl_groups (id char(36) PRIMARY KEY, name varchar(255), deleted tinyint(1) DEFAULT 0)",
                       "CREATE TABLE {$join['table']} (id varchar(36) PRIMARY KEY, deleted tinyint(1) DEFAULT 0,"
                       . " {$join['parent']} varchar(36), {$join['child']} varchar(36))") as $sql) {
            $this->db->link->query($sql);
        }
        $this->course('c1', 'MATH101', 'Mathematics');
        $this->course('c2', 'PHYS101', 'Physics');
        $this->course('c3', 'OLD', 'Deleted course', 1);
        $this->group('g1', 'Cohort 2026 A', 'c1');
        $this->group('g2', 'Cohort 2026 B', 'c1');
        $this->group('g3', 'Cohort 2026 A', 'c2');
        $this->group('g4', 'Evening', 'c2');
        $this->group('g5', 'Deleted group', 'c1', 1);
        $this->group('g6', 'Unlinked group', 'c1', 0, 1);
        $this->group('g7', 'Of a deleted course', 'c3');
        $this->picker = new CrmSyncPicker($this->db);
    }

    protected function tearDown(): void {
        $this->db->drop();
    }

    private function course(string $id, string $shortname, string $name, int $deleted = 0): void {
        $this->db->link->query("INSERT INTO mdl_courses VALUES ('$id', '$name', '$shortname', $deleted)");
    }

    private function group(string $id, string $name, string $course, int $deleted = 0, int $unlinked = 0): void {
        $join = CrmSyncFields::PICKER['groups']['course'];
        $this->db->link->query("INSERT INTO mdl_groups VALUES ('$id', '$name', $deleted)");
        $this->db->link->query("INSERT INTO {$join['table']} VALUES ('j" . ++$this->rows . "', $unlinked, '$course', '$id')");
    }

    public function testTheCoursesAreTheCoursesTheCrmStillHasByShortName(): void {
        $this->assertSame(array(array('name' => 'MATH101', 'title' => 'Mathematics'),
                                array('name' => 'PHYS101', 'title' => 'Physics')), $this->picker->courses());
    }

    public function testTheGroupsOfACourseAreItsLinkedLiveGroupsOnly(): void {
        $this->assertSame(array(array('name' => 'Cohort 2026 A', 'course' => 'MATH101'),
                                array('name' => 'Cohort 2026 B', 'course' => 'MATH101')),
                          $this->picker->groupsOfCourse('c1'));
        $this->assertSame(array(), $this->picker->groupsOfCourse('c3'));
        $this->assertSame(array(), $this->picker->groupsOfCourse("c1' OR '1'='1"));
    }

    public function testTheGroupsOfSeveralCoursesComeOnceEachWithTheCoursesThatHaveThem(): void {
        $this->assertSame(array(array('name' => 'Cohort 2026 A', 'courses' => array('MATH101', 'PHYS101')),
                                array('name' => 'Cohort 2026 B', 'courses' => array('MATH101')),
                                array('name' => 'Evening', 'courses' => array('PHYS101'))),
                          $this->picker->groupsOfCourses(array('PHYS101', ' MATH101 ', '', 'MATH101', 'NOSUCH')));
        $this->assertSame(array(), $this->picker->groupsOfCourses(array('', ' ')));
    }
}
