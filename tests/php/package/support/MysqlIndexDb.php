<?php
/**
 * The part of SuiteCRM's DBManager the package's install scripts use, on a real MariaDB/MySQL: the SQL is
 * that of MysqlManager::get_indices, add_drop_constraint and tableExists in SuiteCRM 7.14.6.
 */
final class MysqlIndexDb
{
    /** @var mysqli */
    public $link;
    /** @var array the tables repairTableParams was asked to create or change: name => [fields, indices] */
    public $repaired = [];

    public function __construct(mysqli $link)
    {
        $this->link = $link;
    }

    public static function connect(): self
    {
        // The MariaDB the Python tests use (tests/conftest.py).
        $url = parse_url(getenv('TEST_MARIADB_URL') ?: 'mysql+pymysql://root@127.0.0.1:3306/test');
        return new self(new mysqli($url['host'], $url['user'] ?? 'root', $url['pass'] ?? '',
                                   ltrim($url['path'], '/'), $url['port'] ?? 3306));
    }

    public function query($sql)
    {
        return $this->link->query($sql);
    }

    public function fetchByAssoc($result, $encode = true)
    {
        $row = $result instanceof mysqli_result ? $result->fetch_assoc() : null;
        return $row ?: false;
    }

    public function quote($string)
    {
        return $this->link->real_escape_string((string) $string);
    }

    public function repairTableParams($table, $fielddefs, $indices, $execute = true, $engine = null)
    {
        $this->repaired[$table] = [$fielddefs, $indices];
        return '';
    }

    public function tableExists($table): bool
    {
        return $this->link->query("SHOW TABLES LIKE '" . $this->link->real_escape_string($table) . "'")->num_rows > 0;
    }

    public function get_indices($table): array
    {
        $indices = [];
        foreach ($this->link->query("SHOW INDEX FROM $table")->fetch_all(MYSQLI_ASSOC) as $row) {
            $type = $row['Key_name'] === 'PRIMARY' ? 'primary' : ($row['Non_unique'] == '0' ? 'unique' : 'index');
            $name = strtolower($row['Key_name']);
            $indices[$name]['name'] = $name;
            $indices[$name]['type'] = $type;
            $indices[$name]['fields'][] = strtolower($row['Column_name']);
        }
        return $indices;
    }

    public function addIndexes($table, $indexes, $execute = true)
    {
        foreach ($indexes as $index) {
            $this->link->query("ALTER TABLE $table ADD INDEX {$index['name']} (" . implode(',', $index['fields']) . ")");
        }
    }

    public function dropIndexes($table, $indexes, $execute = true)
    {
        foreach ($indexes as $index) {
            $this->link->query("ALTER TABLE $table DROP INDEX {$index['name']}");
        }
    }
}
