<?php
/**
 * before_save logic hook on Contacts (registered by the package's manifest): a save that writes
 * another email1 than the Contact's primary address (a V8 PATCH from the Moodle sync: a learner's
 * new address, or "" from the anonymise policy) makes it the primary address, or removes the
 * addresses when it is blank. SuiteCRM 7.14 alone ignores such a write; see CrmSyncEmailAddresses.php
 * for why and for the rule.
 *
 * A save from the edit view's e-mail widget is left to SuiteCRM: the widget's list is the truth there.
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
require_once 'custom/crmsync/CrmSyncEmailAddresses.php';

class CrmSyncEmailHook
{
    public function beforeSave($bean, $event, $arguments)
    {
        try {
            if (empty($bean->id) || empty($bean->emailAddress) || !empty($GLOBALS['resavingRelatedBeans'])
                || isset($_REQUEST[$bean->module_dir . '_email_widget_id'])) {
                return;
            }
            $emails = $bean->emailAddress;
            $rows = CrmSyncEmailAddresses::replacement(
                isset($bean->email1) ? $bean->email1 : null,
                is_array($emails->addresses) ? $emails->addresses : array(),
                isset($bean->email_opt_out) ? $bean->email_opt_out : '0',
                isset($bean->invalid_email) ? $bean->invalid_email : '0',
                $emails->regex,
                function ($address) use ($emails) {
                    $row = $emails->db->fetchByAssoc($emails->db->query(
                        "SELECT opt_out, invalid_email FROM email_addresses WHERE email_address_caps = '"
                        . $emails->db->quote(strtoupper($address)) . "' AND deleted = 0"));
                    return $row ?: null;
                }
            );
            if ($rows === null) {
                return;
            }
            $emails->addresses = array();
            foreach ($rows as $row) {
                $emails->addAddress($row['email_address'], $row['primary_address'] === '1',
                    $row['reply_to_address'] === '1', $row['invalid_email'] === '1', $row['opt_out'] === '1',
                    $row['email_address_id']);
            }
            // Person::save() has already saved the old list by now: save the new one, unlinking the rest.
            $emails->saveEmail($bean->id, $bean->module_dir, array(), '', '', '', '', false);
            $emails->populateLegacyFields($bean);
            if (empty($rows)) {
                $bean->email1 = '';
                $bean->email2 = '';
            }
        } catch (\Throwable $error) {
            // A CRM save must never fail because of the sync.
            // fatal: SuiteCRM's default log level writes only fatal lines to suitecrm.log.
            $GLOBALS['log']->fatal('Moodle sync e-mail hook: ' . $error->getMessage());
        }
    }
}
