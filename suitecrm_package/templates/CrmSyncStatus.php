<?php
/**
 * Administration → Moodle sync (custom/modules/Administration/CrmSyncStatus.php, a classic action of
 * the Administration module): what waits for Moodle, what failed and why, the last delivery the
 * receiver acknowledged; "Send now" and "Retry failed".
 */
if (!defined('sugarEntry') || !sugarEntry) {
    die('Not A Valid Entry Point');
}
global $current_user, $mod_strings;
if (!is_admin($current_user)) {
    sugar_die($GLOBALS['app_strings']['ERR_NOT_ADMIN']);
}
require_once 'custom/crmsync/CrmSyncJob.php';

$crmsyncOutbox = new CrmSyncOutbox($GLOBALS['db']);
$crmsyncResult = null;
if ($_SERVER['REQUEST_METHOD'] === 'POST' && ($_POST['crmsync_action'] ?? '') === 'retry_failed') {
    $crmsyncOutbox->retryFailed(time());
}
if ($_SERVER['REQUEST_METHOD'] === 'POST' && in_array($_POST['crmsync_action'] ?? '', array('send_now', 'retry_failed'), true)) {
    $crmsyncResult = CrmSyncJob::run(true);
}
$crmsyncSummary = $crmsyncOutbox->summary();
$h = function ($text) {
    return htmlspecialchars((string) $text, ENT_QUOTES, 'UTF-8');
};
$l = function ($key) use ($mod_strings, $h) {
    return $h($mod_strings[$key] ?? $key);
};
// SuiteP shows a <th> of a table outside its list views in white: labels are bold cells.
$label = function ($key) use ($l) {
    return '<td style="font-weight: bold; width: 25%">' . $l($key) . '</td>';
};
$utc = function ($time) use ($h, $mod_strings) {
    return $time ? $h($time . ' UTC') : $h($mod_strings['LBL_CRMSYNC_NEVER'] ?? '-');
};

echo getClassicModuleTitle('Administration', array(
    '<a href="index.php?module=Administration&action=index">' . $l('LBL_MODULE_NAME') . '</a>',
    $l('LBL_CRMSYNC_STATUS_TITLE')), false);
if ($crmsyncResult !== null) {
    echo '<p class="' . ($crmsyncResult['ok'] ? 'msg' : 'error') . '" id="crmsync-result">' . $h($crmsyncResult['message']) . '</p>';
}
$crmsyncLastError = $crmsyncSummary['last_error'];
echo '<table class="table" id="crmsync-status"><tbody>'
    . '<tr>' . $label('LBL_CRMSYNC_WAITING') . '<td id="crmsync-waiting">' . (int) $crmsyncSummary['waiting'] . '</td></tr>'
    . '<tr>' . $label('LBL_CRMSYNC_OLDEST_WAITING') . '<td>' . $utc($crmsyncSummary['oldest_waiting']) . '</td></tr>'
    . '<tr>' . $label('LBL_CRMSYNC_NEXT_ATTEMPT') . '<td>' . $utc($crmsyncSummary['next_attempt']) . '</td></tr>'
    . '<tr>' . $label('LBL_CRMSYNC_LAST_ERROR') . '<td id="crmsync-last-error">'
    . ($crmsyncLastError ? $h($crmsyncLastError['last_error']) . ' (' . (int) $crmsyncLastError['attempts'] . ' '
        . $l('LBL_CRMSYNC_ATTEMPTS') . ')' : '-') . '</td></tr>'
    . '<tr>' . $label('LBL_CRMSYNC_FAILED') . '<td id="crmsync-failed">' . (int) $crmsyncSummary['failed'] . '</td></tr>'
    . '<tr>' . $label('LBL_CRMSYNC_LAST_DELIVERED') . '<td id="crmsync-last-delivered">'
    . $utc($crmsyncSummary['last_delivered']) . '</td></tr>'
    . '</tbody></table>';
echo '<form method="post" action="index.php?module=Administration&action=CrmSyncStatus" style="margin: 1em 0">'
    . '<button type="submit" class="button" name="crmsync_action" value="send_now" id="crmsync-send-now">'
    . $l('LBL_CRMSYNC_SEND_NOW') . '</button> '
    . '<button type="submit" class="button" name="crmsync_action" value="retry_failed" id="crmsync-retry-failed">'
    . $l('LBL_CRMSYNC_RETRY_FAILED') . '</button></form>';
if ($crmsyncSummary['failed_rows']) {
    echo '<h3>' . $l('LBL_CRMSYNC_FAILED_CHANGES') . '</h3><table class="table" id="crmsync-failed-rows">'
        . '<tbody><tr><td style="font-weight: bold">#</td>' . $label('LBL_CRMSYNC_RECORD') . $label('LBL_CRMSYNC_CHANGE')
        . $label('LBL_CRMSYNC_RECORDED') . $label('LBL_CRMSYNC_REASON') . '</tr>';
    foreach ($crmsyncSummary['failed_rows'] as $row) {
        echo '<tr><td>' . (int) $row['id'] . '</td><td><a href="index.php?module=' . urlencode($row['module'])
            . '&action=DetailView&record=' . urlencode($row['record_id']) . '">' . $h($row['module'] . ' ' . $row['record_id'])
            . '</a></td><td>' . $h($row['action']) . '</td><td>' . $utc($row['created']) . '</td><td>'
            . $h($row['last_error']) . '</td></tr>';
    }
    echo '</tbody></table>';
}
