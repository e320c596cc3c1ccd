<?php
// A stand-in receiver for the delivery tests, served by `php -S`: it records each request and
// answers with the status written in <dir>/status (default 202).
$dir = getenv('CRMSYNC_TEST_DIR');
$status = is_file("$dir/status") ? (int) file_get_contents("$dir/status") : 202;
$headers = [];
foreach (getallheaders() as $name => $value) {
    $headers[strtolower($name)] = $value;
}
file_put_contents("$dir/requests.jsonl", json_encode(['headers' => $headers, 'body' => file_get_contents('php://input')]) . "\n",
    FILE_APPEND);
http_response_code($status);
header('Content-Type: application/json');
echo $status === 422 ? '{"error":"invalid messages","errors":{"events.0.data.id":["bad"]}}' : '{"accepted":1}';
