<?php
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/support/MysqlIndexDb.php';

/** The contacts_cstm index the package's scripts add and remove, on a real MariaDB table. */
final class ContactIndicesTest extends TestCase {
    private const INDEX = ['name' => 'idx_crmsync_cstm_test_moodle_site_id_c_moodle_user_id_c', 'type' => 'index',
                           'fields' => ['moodle_site_id_c', 'moodle_user_id_c']];

    /** @var MysqlIndexDb */
    private $db;
    /** @var string */
    private $table;

    protected function setUp(): void {
        $this->db = MysqlIndexDb::connect();
        $this->table = 'crmsync_cstm_' . getmypid();
        // contacts_cstm as DynamicField creates it, with the package's two identity columns and an index a
        // site added by hand.
        $this->db->link->query("CREATE TABLE {$this->table} (id_c char(36) NOT NULL PRIMARY KEY,
            moodle_site_id_c varchar(64), moodle_user_id_c varchar(36), other_c varchar(10), KEY site_own (other_c))");
    }

    protected function tearDown(): void {
        $this->db->link->query("DROP TABLE IF EXISTS {$this->table}");
    }

    private function indexNames(): array {
        $names = array_keys($this->db->get_indices($this->table));
        sort($names);
        return $names;
    }

    public function test_the_index_is_added_once_and_dropped_without_touching_the_sites_own(): void {
        $this->assertSame([self::INDEX['name']], CrmSyncIndices::add($this->db, $this->table, [self::INDEX]));
        $this->assertSame(['moodle_site_id_c', 'moodle_user_id_c'],
                          $this->db->get_indices($this->table)[self::INDEX['name']]['fields']);
        $this->assertSame([], CrmSyncIndices::add($this->db, $this->table, [self::INDEX]), 'a reinstall or upgrade');
        $this->assertSame([self::INDEX['name'], 'primary', 'site_own'], $this->indexNames());
        $plan = $this->db->link->query("EXPLAIN SELECT id_c FROM {$this->table} WHERE moodle_site_id_c = 's'
                                        AND moodle_user_id_c = '35'")->fetch_assoc();
        $this->assertSame(self::INDEX['name'], $plan['possible_keys']);

        $this->assertSame([self::INDEX['name']], CrmSyncIndices::drop($this->db, $this->table, [self::INDEX]));
        $this->assertSame(['primary', 'site_own'], $this->indexNames());
        $this->assertSame([], CrmSyncIndices::drop($this->db, $this->table, [self::INDEX]));
    }

    public function test_dropping_from_a_table_already_removed_is_no_error(): void {
        $this->db->link->query("DROP TABLE {$this->table}");
        $this->assertSame([], CrmSyncIndices::drop($this->db, $this->table, [self::INDEX]));
    }
}
