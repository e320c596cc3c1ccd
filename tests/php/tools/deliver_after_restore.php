<?php
// Drives the plugin's own delivery code (plain PHP) against a real receiver through the life of a
// Moodle site: a first install, a database restore, a plugin reinstall. Used by
// tests/connector/test_guarantees.py to show that neither makes the CRM go back or duplicate.
//
// php deliver_after_restore.php PHASE RECEIVER_URL SECRET STATE_FILE
//   PHASE: install | restore | reinstall. STATE_FILE keeps what a real site keeps between phases.
define('CRMSYNC_REPO', dirname(__DIR__, 3));
require_once(__DIR__ . '/../bootstrap.d/plugin.php');
require_once(CRMSYNC_REPO . '/tests/php/plugin/memory_state_source.php');
require_once(CRMSYNC_REPO . '/tests/php/plugin/memory_outbox.php');

use local_crmsync\local\backoff;
use local_crmsync\local\delivery;
use local_crmsync\local\site_identity;
use local_crmsync\local\state_reader;
use local_crmsync\webhook\signer;

[, $phase, $url, $secret, $statefile] = $argv;
$saved = is_file($statefile) ? json_decode(file_get_contents($statefile), true) : ['backup' => null, 'last' => null];
$names = ['install' => 'Installed', 'restore' => 'Restored', 'reinstall' => 'Reinstalled'];

$outbox = new memory_outbox();
if ($phase === 'install') {
    $outbox->lastsequence = (time() - 3600) * 1000000;  // the site ran before: this is what the backup holds
    $saved['backup'] = $outbox->lastsequence;
} else if ($phase === 'restore') {
    $outbox->lastsequence = $saved['backup'];  // the database as the backup held it, before the install's sends
} else {
    $outbox->lastsequence = null;  // uninstalled: the plugin's settings and outbox are gone
}
$source = new memory_state_source();
$source->site['id'] = site_identity::from_siteidentifier('moodle-site-identifier-kept-by-moodle');
$source->users[3] = (object) ['id' => '3', 'username' => 'student1', 'firstname' => $names[$phase],
    'lastname' => 'Anders', 'email' => 'student1@example.invalid', 'suspended' => '0', 'deleted' => '0',
    'timemodified' => '1795344000'];
// The outbox starts again at id 1 after a restore or reinstall: the same row id as the first send.
$outbox->add(1, 'user:3', $phase === 'install' ? 'user.created' : 'user.updated');
$messages = function($row, int $sequence) use ($source) {
    return state_reader::message($row, $sequence, $source);
};
$delivery = new delivery($outbox, new curl_test_transport(), new signer($secret), $messages,
    new backoff(60, 21600, function() { return 0.0; }), $url);
$counts = $delivery->run(100, time());
$saved['last'] = $outbox->lastsequence;
file_put_contents($statefile, json_encode($saved));
echo json_encode(['counts' => $counts, 'site' => $source->site['id'], 'lastsequence' => $outbox->lastsequence]), "\n";
exit($counts['delivered'] === 1 ? 0 : 1);
