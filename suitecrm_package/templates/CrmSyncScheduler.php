<?php
/**
 * The Schedulers row of the package's job, added at install (and left as an admin changed it on an
 * upgrade) and removed at uninstall: a scheduled task with no row never runs.
 * SQL over DBManager's query/fetchByAssoc/quote, the columns Scheduler::save writes.
 */
class CrmSyncScheduler
{
    const JOB = 'function::crmsync_deliver_outbox';

    /** @return bool whether a row was added */
    public static function add($db, string $name, int $now): bool
    {
        $found = $db->fetchByAssoc($db->query("SELECT id FROM schedulers WHERE job = '" . self::JOB . "' AND deleted = 0"), false);
        if ($found) {
            return false;
        }
        $time = gmdate('Y-m-d H:i:s', $now);
        $values = array(
            'id' => create_guid(), 'deleted' => '0', 'date_entered' => $time, 'date_modified' => $time,
            'created_by' => '1', 'modified_user_id' => '1', 'name' => $name, 'job' => self::JOB,
            'date_time_start' => '2015-01-01 00:00:01', 'job_interval' => '*::*::*::*::*', 'status' => 'Active',
            // A CRM whose cron stopped for an hour needs one run, not sixty.
            'catch_up' => '0',
        );
        $db->query('INSERT INTO schedulers (' . implode(', ', array_keys($values)) . ") VALUES ('"
            . implode("', '", array_map(array($db, 'quote'), $values)) . "')");
        return true;
    }

    public static function remove($db, int $now): void
    {
        $db->query("UPDATE schedulers SET deleted = 1, date_modified = '" . gmdate('Y-m-d H:i:s', $now)
            . "' WHERE job = '" . self::JOB . "' AND deleted = 0");
    }
}
