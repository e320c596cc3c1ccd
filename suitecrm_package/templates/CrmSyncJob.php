<?php
/**
 * The scheduler job "Moodle sync: deliver CRM changes" (custom/Extension/modules/Schedulers/Ext/
 * ScheduledTasks/crmsync.php; SuiteCRM's cron.php runs it every minute) and the admin page's
 * "Send now": CrmSyncDelivery over SuiteCRM's database and beans.
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncDelivery.php';
require_once 'custom/crmsync/CrmSyncFields.php';

class CrmSyncJob
{
    /** Delivered rows are kept this long, for the admin page and for looking into a problem. */
    const KEEP_DELIVERED_SECONDS = 30 * 86400;

    /**
     * Deliver what is due. Never throws.
     *
     * @return array ['ok' => bool, 'message' => what happened, for the job log and the admin page]
     */
    public static function run(bool $ignoreBackoff = false): array
    {
        global $sugar_config;
        $outbox = new CrmSyncOutbox($GLOBALS['db']);
        try {
            $delivery = new CrmSyncDelivery($outbox, array(self::class, 'state'), $sugar_config['crmsync'] ?? array(),
                array('unique_key' => $sugar_config['unique_key'] ?? '', 'site_url' => $sugar_config['site_url'] ?? ''),
                CrmSyncFields::MODULES);
            $problem = $delivery->misconfiguration();
            if ($problem !== null) {
                return array('ok' => false, 'message' => "Moodle sync is not configured: $problem.");
            }
            if (!$outbox->lock()) {
                return array('ok' => true, 'message' => 'Another delivery is running.');
            }
            try {
                $now = time();
                $counts = $delivery->run($now, $ignoreBackoff);
                $outbox->prune($now - self::KEEP_DELIVERED_SECONDS);
            } finally {
                $outbox->unlock();
            }
            return array('ok' => $counts['retry'] === 0, 'message' => sprintf('%d messages delivered (%d changes), '
                . '%d changes to retry later, %d failed.', $counts['delivered'], $counts['rows'], $counts['retry'],
                $counts['failed']));
        } catch (\Throwable $error) {
            $GLOBALS['log']->fatal('Moodle sync delivery: ' . get_class($error) . ': ' . $error->getMessage());
            return array('ok' => false, 'message' => 'The delivery stopped: ' . $error->getMessage());
        }
    }

    /**
     * A record as the database holds it now, deleted or not; null when it is gone. A module with
     * `related`: with its parents' ids as its relationships' join tables hold them.
     */
    public static function state(string $module, string $id): ?array
    {
        $bean = BeanFactory::newBean($module);
        if (!$bean || !$bean->retrieve($id, false, false) || !is_array($bean->fetched_row)) {
            return null;
        }
        $row = $bean->fetched_row;
        if (property_exists($bean, 'email1')) {
            $row['email1'] = (string) $bean->email1;
        }
        $definition = CrmSyncFields::MODULES[$module];
        $parents = isset($definition['related'])
            ? CrmSyncDelivery::parentIds($GLOBALS['db'], $definition, CrmSyncFields::RELATIONSHIPS, $id) : array();
        return CrmSyncDelivery::state($definition, $row, $parents);
    }
}
