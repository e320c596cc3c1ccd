<?php
/**
 * after_save logic hook on Contacts and mdl_Enrolments (registered by the package's manifest).
 * Off until configured in config_override.php:
 *   $sugar_config['crmsync']['receiver_url'] = 'https://sync.example.org/webhooks/crm';
 *   $sugar_config['crmsync']['secret'] = 'whsec_…';
 *   $sugar_config['crmsync']['api_user_id'] = '<id of the user the sync's OAuth2 client acts as>';
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncNotifier.php';

class CrmSyncHook
{
    public function afterSave($bean, $event, $arguments)
    {
        global $sugar_config, $current_user;
        try {
            $notifier = new CrmSyncNotifier($sugar_config['crmsync'] ?? array(), function ($level, $message) {
                $GLOBALS['log']->$level($message);
            });
            if (!$notifier->isConfigured() || $notifier->isOwnWrite((string) ($current_user->id ?? ''))) {
                return;
            }
            $now = time();
            $notifier->send($notifier->payload($bean->module_name, $bean, (string) $sugar_config['site_url'],
                create_guid(), $now), $now);
        } catch (\Throwable $error) {
            // A CRM save must never fail because of the sync.
            $GLOBALS['log']->error('Moodle sync hook: ' . $error->getMessage());
        }
    }
}
