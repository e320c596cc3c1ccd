<?php
// This file is part of Moodle - https://moodle.org/
//
// Moodle is free software: you can redistribute it and/or modify
// it under the terms of the GNU General Public License as published by
// the Free Software Foundation, either version 3 of the License, or
// (at your option) any later version.
//
// Moodle is distributed in the hope that it will be useful,
// but WITHOUT ANY WARRANTY; without even the implied warranty of
// MERCHANTABILITY or FITNESS FOR A PARTICULAR PURPOSE.  See the
// GNU General Public License for more details.
//
// You should have received a copy of the GNU General Public License
// along with Moodle.  If not, see <https://www.gnu.org/licenses/>.

/**
 * Delivery status: queue depth, oldest waiting, last success, failures; resend, test, backfill, new secret.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

require(__DIR__ . '/../../config.php');
require_once($CFG->libdir . '/adminlib.php');

use local_crmsync\local\moodle_outbox;
use local_crmsync\local\secret_rotation;
use local_crmsync\local\status_report;

// Site admins and every user with local/crmsync:manage (settings.php registers the page with it).
admin_externalpage_setup('local_crmsync_status');
$context = context_system::instance();
require_capability('local/crmsync:manage', $context);

$action = optional_param('action', '', PARAM_ALPHA);
$url = new moodle_url('/local/crmsync/index.php');
if ($action && confirm_sesskey()) {
    if ($action === 'resend') {
        moodle_outbox::resend(optional_param('id', null, PARAM_INT));
    } else if ($action === 'newsecret') {
        $secret = \local_crmsync\webhook\signer::generate_secret();
        $now = time();
        secret_rotation::store($secret, $now);
        $config = get_config('local_crmsync');
        $previous = secret_rotation::still_valid(secret_rotation::decode($config->previoussecrets ?? null), $secret, $now);
        if ($previous) {
            \core\notification::warning(get_string('newsecretset', 'local_crmsync',
                ['secret' => $secret, 'until' => userdate(max(array_column($previous, 'until')))]));
        } else {
            \core\notification::warning(get_string('newsecretsetnooverlap', 'local_crmsync', $secret));
        }
    } else if ($action === 'backfill') {
        \core\task\manager::queue_adhoc_task(new \local_crmsync\task\backfill_task(), true);
        \core\notification::info(get_string('backfillqueued', 'local_crmsync'));
    } else if ($action === 'test') {
        // Signed with the current secret only, even while a replaced one is valid: the answer then says
        // whether the receiver has the new secret yet (401: not yet).
        $config = get_config('local_crmsync');
        $ping = \local_crmsync\local\message_builder::envelope(\local_crmsync\local\delivery::uuid(), 'ping', 0, 'site',
            ['id' => $config->siteid, 'url' => $CFG->wwwroot], null, ['message' => 'Test connection'], time());
        $body = json_encode($ping);
        $headers = (new \local_crmsync\webhook\signer($config->secret))->headers($ping['id'], time(), $body);
        $answer = (new \local_crmsync\local\curl_transport())->post($config->receiverurl, $body,
            $headers + ['Content-Type' => 'application/json']);
        $result = status_report::test_result($answer, function(string $identifier, $a) {
            return get_string($identifier, 'local_crmsync', $a);
        });
        $answered = $answer['status'] >= 200 && $answer['status'] < 300;
        \core\notification::add(s($result), $answered ? \core\notification::SUCCESS : \core\notification::ERROR);
    }
    redirect($url);
}

$table = moodle_outbox::TABLE;
$waiting = $DB->count_records($table, ['status' => 'pending']);
$oldest = $DB->get_field_sql("SELECT MIN(timecreated) FROM {{$table}} WHERE status = 'pending'");
// Not the rows' timedelivered: coalesced rows are marked delivered even while the receiver is down.
$last = moodle_outbox::last_acknowledged();
$failed = $DB->get_records_select($table, "status = 'failed' OR (status = 'pending' AND attempts > 0)", [],
    'id DESC', 'id, type, subject, status, attempts, lasterror, timecreated', 0, 100);
$config = get_config('local_crmsync');
$previous = secret_rotation::still_valid(secret_rotation::decode($config->previoussecrets ?? null),
    (string) ($config->secret ?? ''), time());

echo $OUTPUT->header();
echo $OUTPUT->heading(get_string('status', 'local_crmsync'));
$previousuntil = $previous ? max(array_column($previous, 'until')) : 0;
if ($previousuntil) {
    echo $OUTPUT->notification(get_string('previoussecretvalid', 'local_crmsync', userdate($previousuntil)), 'info');
}
$summary = new html_table();
$summary->data = [
    [get_string('queuedepth', 'local_crmsync'), $waiting],
    [get_string('oldestpending', 'local_crmsync'), $oldest ? userdate($oldest) : '-'],
    [get_string('lastsuccess', 'local_crmsync'), $last ? userdate($last) : get_string('never', 'local_crmsync')],
    [get_string('previoussecretuntil', 'local_crmsync'), $previousuntil
        ? userdate($previousuntil) : get_string('previoussecretnone', 'local_crmsync')],
];
echo html_writer::table($summary);
$button = function(string $action, string $label, array $params = [], ?string $confirm = null) use ($url) {
    global $OUTPUT;
    $button = new single_button(new moodle_url($url, ['action' => $action, 'sesskey' => sesskey()] + $params),
        get_string($label, 'local_crmsync'));
    if ($confirm !== null) {
        $button->add_confirm_action(get_string($confirm, 'local_crmsync'));
    }
    return $OUTPUT->render($button);
};
echo $button('test', 'testconnection') . $button('resend', 'resendall') . $button('backfill', 'backfill')
    . $button('newsecret', 'newsecret', [], 'newsecretconfirm');
echo $OUTPUT->heading(get_string('failures', 'local_crmsync'), 3);
$failures = status_report::failures_table($failed, function(string $identifier) {
    return get_string($identifier, 'local_crmsync');
}, function(int $id) use ($button) {
    return $button('resend', 'resend', ['id' => $id]);
});
if ($failures['data']) {
    $list = new html_table();
    $list->head = $failures['head'];
    $list->data = $failures['data'];
    echo html_writer::table($list);
} else {
    echo html_writer::tag('p', get_string('nofailures', 'local_crmsync'));
}
echo $OUTPUT->footer();
