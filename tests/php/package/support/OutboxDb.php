<?php
/**
 * The part of SuiteCRM's DBManager the package's outbox and install scripts use (query, fetchByAssoc,
 * quote), on a database of its own in the test MariaDB, dropped by drop().
 */
final class OutboxDb
{
    /** @var mysqli */
    public $link;
    /** @var string */
    public $name;

    public static function create(): self
    {
        $url = parse_url(getenv('TEST_MARIADB_URL') ?: 'mysql+pymysql://root@127.0.0.1:3306/test');
        $link = new mysqli($url['host'], $url['user'] ?? 'root', $url['pass'] ?? '', '', $url['port'] ?? 3306);
        $db = new self();
        $db->link = $link;
        $db->name = 'crmsync_outbox_test_' . getmypid() . '_' . bin2hex(random_bytes(3));
        $link->query("CREATE DATABASE {$db->name} CHARACTER SET utf8mb4");
        $link->select_db($db->name);
        return $db;
    }

    public function drop(): void
    {
        $this->link->query("DROP DATABASE IF EXISTS {$this->name}");
        $this->link->close();
    }

    /** The table of a SuiteCRM table dictionary entry, with the column types MysqlManager gives its fields. */
    public function createTable(array $definition): void
    {
        $types = array('int' => 'int(%s)', 'id' => 'char(36)', 'varchar' => 'varchar(%s)', 'text' => 'text',
                       'datetime' => 'datetime', 'bool' => 'tinyint(1)');
        $columns = array();
        foreach ($definition['fields'] as $field) {
            $column = $field['name'] . ' ' . sprintf($types[$field['type']], $field['len'] ?? '');
            if (!empty($field['auto_increment'])) {
                $column .= ' NOT NULL AUTO_INCREMENT';
            } elseif (isset($field['default'])) {
                $column .= " DEFAULT '" . $this->quote($field['default']) . "'";
            } else {
                $column .= ' NULL';
            }
            $columns[] = $column;
        }
        foreach ($definition['indices'] as $index) {
            $columns[] = ($index['type'] === 'primary' ? 'PRIMARY KEY' : "KEY {$index['name']}")
                . ' (' . implode(', ', $index['fields']) . ')';
        }
        $this->link->query("CREATE TABLE {$definition['table']} (" . implode(', ', $columns) . ')');
    }

    /** Like DBManager::query with $dieOnError false: false on an error (SuiteCRM logs it). */
    public function query($sql)
    {
        try {
            return $this->link->query($sql);
        } catch (mysqli_sql_exception $error) {
            return false;
        }
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

    public function rows(string $sql): array
    {
        return $this->link->query($sql)->fetch_all(MYSQLI_ASSOC);
    }
}
