<?php
// A stand-in receiver for the delivery tests, served by `php -S`: it records each request and answers
// as receiver/webhooks.py does, after the rules in <dir>/rules.json (all optional):
//   maxbytes: a larger body is refused with 413 (the receiver's MAX_BODY_BYTES);
//   maxevents: a batch of more events is refused with 422 naming no message (MAX_BATCH_EVENTS);
//   invalid: subjects whose messages break the contract: 422 naming each by index, as messages.py does;
// otherwise with the status written in <dir>/status (default 202).
$dir = getenv('CRMSYNC_TEST_DIR');
$status = is_file("$dir/status") ? (int) file_get_contents("$dir/status") : 202;
$rules = is_file("$dir/rules.json") ? json_decode(file_get_contents("$dir/rules.json"), true) : [];
$headers = [];
foreach (getallheaders() as $name => $value) {
    $headers[strtolower($name)] = $value;
}
$body = file_get_contents('php://input');
file_put_contents("$dir/requests.jsonl", json_encode(['headers' => $headers, 'body' => $body]) . "\n", FILE_APPEND);
header('Content-Type: application/json');
$answer = function(int $status, array $json) {
    http_response_code($status);
    echo json_encode($json);
    exit;
};
if (isset($rules['maxbytes']) && strlen($body) > $rules['maxbytes']) {
    $answer(413, ['error' => "body larger than {$rules['maxbytes']} bytes"]);
}
$events = json_decode($body, true)['events'] ?? [];
if (isset($rules['maxevents']) && count($events) > $rules['maxevents']) {
    $answer(422, ['error' => "a batch holds at most {$rules['maxevents']} events", 'errors' => ['events' => [count($events) . ' given']]]);
}
$errors = [];
foreach ($events as $index => $event) {
    if (in_array($event['subject'] ?? '', $rules['invalid'] ?? [], true)) {
        $errors["events.$index.data.id"] = ['Not a valid integer.'];
        $errors["events.$index.data"] = ["'lastaccess' is a required property"];
    }
}
if ($errors) {
    $answer(422, ['error' => 'invalid messages', 'errors' => $errors]);
}
http_response_code($status);
echo $status === 422 ? '{"error":"invalid messages","errors":{"events.0.data.id":["bad"]}}' : '{"accepted":1}';
