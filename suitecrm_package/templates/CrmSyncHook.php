<?php
/**
 * Logic hooks on the synced modules (CrmSyncFields::MODULES; registered by the package's manifest):
 * a CRM user's save that changes a synced field, or a deletion, adds one row to the outbox
 * (CrmSyncOutbox). Nothing is sent from here: the scheduler job delivers (CrmSyncJob), so a save
 * never waits for, nor fails because of, the receiver.
 *
 * Off until $sugar_config['crmsync']['receiver_url'] is set (config_override.php). Saves made by the
 * sync's own API user ($sugar_config['crmsync']['api_user_id']) are not recorded: they are Moodle's
 * changes arriving, and sending them back would echo.
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncOutbox.php';
require_once 'custom/crmsync/CrmSyncFields.php';

class CrmSyncHook
{
    /**
     * @var WeakMap|null bean => its email1 as retrieved: email1 is no column, so fetched_row lacks it,
     *     and Person::save has replaced the bean's addresses before after_save
     */
    private static $retrievedEmail;

    public function afterRetrieve($bean, $event, $arguments)
    {
        try {
            if (isset(CrmSyncFields::MODULES[$bean->module_dir]) && property_exists($bean, 'email1')) {
                self::$retrievedEmail = self::$retrievedEmail ?? new WeakMap();
                self::$retrievedEmail[$bean] = (string) $bean->email1;
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function afterSave($bean, $event, $arguments)
    {
        try {
            $module = CrmSyncFields::MODULES[$bean->module_dir] ?? null;
            if ($module === null || !self::recording()) {
                return;
            }
            $before = null;
            if (!empty($bean->fetched_row) && is_array($bean->fetched_row)) {
                $before = $bean->fetched_row;
                if (self::$retrievedEmail !== null && isset(self::$retrievedEmail[$bean])) {
                    $before['email1'] = self::$retrievedEmail[$bean];
                }
            }
            $after = array();
            foreach ($module['fields'] as $field) {
                $after[$field] = isset($bean->$field) ? $bean->$field : '';
            }
            $changed = CrmSyncOutbox::changedFields($module['fields'], $before, $after);
            if ($changed) {
                (new CrmSyncOutbox($GLOBALS['db']))->record($bean->module_dir, (string) $bean->id, 'save', $changed, time());
            }
            // The next save of this bean compares with what this one wrote.
            if (self::$retrievedEmail !== null && property_exists($bean, 'email1')) {
                self::$retrievedEmail[$bean] = (string) $bean->email1;
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    public function afterDelete($bean, $event, $arguments)
    {
        try {
            if (isset(CrmSyncFields::MODULES[$bean->module_dir]) && self::recording()) {
                (new CrmSyncOutbox($GLOBALS['db']))->record($bean->module_dir, (string) ($arguments['id'] ?? $bean->id),
                    'delete', array(CrmSyncOutbox::DELETED), time());
            }
        } catch (\Throwable $error) {
            self::log($error);
        }
    }

    private static function recording(): bool
    {
        $settings = $GLOBALS['sugar_config']['crmsync'] ?? array();
        $apiUser = (string) ($settings['api_user_id'] ?? '');
        $user = isset($GLOBALS['current_user']->id) ? (string) $GLOBALS['current_user']->id : '';
        return !empty($settings['receiver_url']) && !($apiUser !== '' && $user === $apiUser);
    }

    private static function log(\Throwable $error): void
    {
        // A CRM save must never fail because of the sync. fatal: SuiteCRM's default log level writes
        // only fatal lines to suitecrm.log. The message names no value of the record.
        $GLOBALS['log']->fatal('Moodle sync hook: the change was not recorded in the outbox: ' . get_class($error)
            . ': ' . $error->getMessage());
    }
}
