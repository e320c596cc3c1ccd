<?php
// Signs standard input with the plugin's signer and prints the webhook headers as JSON.
// Usage: php tests/php/tools/sign_message.php <whsec_secret> <webhook-id> <unix-timestamp> [<previous whsec_secret>...] < body
// Used by the cross-language tests: what the plugin signs, the Python receiver must accept. Previous
// secrets are those still valid after a rotation: the header then carries one signature per secret.

require_once(dirname(__DIR__, 3) . '/moodle_plugin/classes/webhook/signer.php');

if ($argc < 4) {
    fwrite(STDERR, "usage: php sign_message.php <whsec_secret> <webhook-id> <unix-timestamp> [<previous whsec_secret>...] < body\n");
    exit(2);
}
$signer = new \local_crmsync\webhook\signer($argv[1], array_slice($argv, 4));
echo json_encode($signer->headers($argv[2], (int) $argv[3], stream_get_contents(STDIN))), "\n";
