<?php
// The SuiteCRM package's hook classes, loaded the way SuiteCRM loads them: from custom/crmsync/ on
// the include path (a temporary directory whose custom/crmsync is the templates folder).
if (!defined('sugarEntry')) {
    define('sugarEntry', true);
}
(function (): void {
    $root = sys_get_temp_dir() . '/crmsync-package-' . getmypid();
    if (!is_dir($root . '/custom')) {
        mkdir($root . '/custom', 0700, true);
        symlink(CRMSYNC_REPO . '/suitecrm_package/templates', $root . '/custom/crmsync');
        register_shutdown_function(function () use ($root): void {
            unlink($root . '/custom/crmsync');
            rmdir($root . '/custom');
            rmdir($root);
        });
    }
    // The generated custom/crmsync/CrmSyncFields.php is not a template: the tests' own stands in for it.
    set_include_path($root . PATH_SEPARATOR . CRMSYNC_REPO . '/tests/php/package/support/site' . PATH_SEPARATOR
                     . get_include_path());
})();
require_once 'custom/crmsync/CrmSyncEmailAddresses.php';
require_once 'custom/crmsync/CrmSyncEmailHook.php';
require_once 'custom/crmsync/CrmSyncHook.php';
require_once 'custom/crmsync/CrmSyncDelivery.php';

require_once CRMSYNC_REPO . '/tests/php/package/support/suitecrm_functions.php';
require_once CRMSYNC_REPO . '/suitecrm_package/templates/CrmSyncContactLayout.php';
require_once CRMSYNC_REPO . '/suitecrm_package/templates/CrmSyncIndices.php';
require_once CRMSYNC_REPO . '/suitecrm_package/templates/CrmSyncScheduler.php';
