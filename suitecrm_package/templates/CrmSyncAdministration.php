<?php
// Installed as custom/Extension/modules/Administration/Ext/Administration/crmsync.php: a "Moodle sync"
// section on the Administration page.
$admin_option_defs = array();
$admin_option_defs['Administration']['crmsync_status'] = array(
    'Administration', 'LBL_CRMSYNC_STATUS_TITLE', 'LBL_CRMSYNC_STATUS_DESC',
    './index.php?module=Administration&action=CrmSyncStatus',
);
$admin_group_header[] = array('LBL_CRMSYNC_ADMIN_HEADER', '', false, $admin_option_defs, 'LBL_CRMSYNC_ADMIN_HEADER_DESC');
