<?php
/**
 * What a CRM user picks a names field's lines from in an edit view (CrmSyncPicker.js asks the entry point
 * crmsyncPicker): the Moodle Courses' short names, or the names of the Moodle Groups of a course, synced
 * from Moodle or made in the CRM. Only records the CRM still has (deleted = 0), so a group Moodle deleted
 * is not offered.
 */
require_once 'custom/crmsync/CrmSyncFields.php';

class CrmSyncPicker
{
    const MAX_CHOICES = 500;

    /** @var object SuiteCRM's DBManager, or anything with its query/fetchByAssoc/quote */
    private $db;

    public function __construct($db)
    {
        $this->db = $db;
    }

    /** @return array of array('name' => short name, 'title' => full name), by short name */
    public function courses(): array
    {
        $courses = CrmSyncFields::PICKER['courses'];
        return $this->rows("SELECT DISTINCT c.shortname AS name, c.name AS title FROM {$courses['table']} c"
            . " WHERE c.deleted = 0 AND c.shortname IS NOT NULL AND c.shortname <> '' ORDER BY c.shortname");
    }

    /** The groups of the course whose CRM id is given. @return array of array('name' => group name) */
    public function groupsOfCourse(string $courseId): array
    {
        return $this->groups('c.id = ' . $this->quoted($courseId));
    }

    /**
     * The groups of the courses with these short names, each once, with the short names of the courses that
     * have it: a move by intake takes a group name to every course where it exists.
     * @return array of array('name' => group name, 'courses' => array of short names)
     */
    public function groupsOfCourses(array $shortnames): array
    {
        $shortnames = array_values(array_unique(array_filter(array_map('trim', $shortnames), 'strlen')));
        if (!$shortnames) {
            return array();
        }
        $byName = array();
        foreach ($this->groups('c.shortname IN (' . implode(', ', array_map(array($this, 'quoted'), $shortnames)) . ')') as $row) {
            $byName[$row['name']][] = $row['course'];
        }
        $out = array();
        foreach ($byName as $name => $courses) {
            $courses = array_values(array_unique($courses));
            sort($courses);
            $out[] = array('name' => (string) $name, 'courses' => $courses);
        }
        return $out;
    }

    private function groups(string $courseCondition): array
    {
        $groups = CrmSyncFields::PICKER['groups'];
        $courses = CrmSyncFields::PICKER['courses'];
        $join = $groups['course'];
        $rows = $this->rows("SELECT g.name AS name, c.shortname AS course FROM {$groups['table']} g"
            . " JOIN {$join['table']} j ON j.{$join['child']} = g.id AND j.deleted = 0"
            . " JOIN {$courses['table']} c ON c.id = j.{$join['parent']} AND c.deleted = 0"
            . " WHERE g.deleted = 0 AND g.name IS NOT NULL AND g.name <> '' AND {$courseCondition} ORDER BY g.name, c.shortname");
        return array_map(function ($row) {
            return array('name' => (string) $row['name'], 'course' => (string) $row['course']);
        }, $rows);
    }

    private function quoted(string $value): string
    {
        return "'" . $this->db->quote($value) . "'";
    }

    private function rows(string $sql): array
    {
        $result = $this->db->query($sql . ' LIMIT ' . self::MAX_CHOICES);
        $rows = array();
        while ($result && ($row = $this->db->fetchByAssoc($result, false))) {
            $rows[] = $row;
        }
        return $rows;
    }
}
