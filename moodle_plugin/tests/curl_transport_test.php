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

namespace local_crmsync;

/**
 * Moodle's curl security and "Test connection": a refusal names the setting to change (run inside Moodle's PHPUnit).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 * @covers     \local_crmsync\local\curl_transport
 * @covers     \local_crmsync\local\curl_security
 */
final class curl_transport_test extends \advanced_testcase {
    /**
     * @param string $url
     * @return array the transport's answer
     */
    private function post(string $url): array {
        return (new local\curl_transport())->post($url, '{"events":[]}', ['Content-Type' => 'application/json']);
    }

    /**
     * @param array $answer
     * @return string what Test connection shows
     */
    private function shown(array $answer): string {
        return local\status_report::test_result($answer, function(string $identifier, $a) {
            return get_string($identifier, 'local_crmsync', $a);
        });
    }

    public function test_a_port_missing_from_the_allowed_ports_is_named_with_its_setting(): void {
        $this->resetAfterTest();
        // Moodle's defaults for the allowed ports; the host itself is allowed.
        set_config('curlsecurityallowedport', "443\n80");
        set_config('curlsecurityblockedhosts', '');
        $answer = $this->post('http://127.0.0.1:8300/webhooks/moodle');
        $this->assertSame(0, $answer['status']);
        $this->assertTrue($answer['refused']);
        $shown = $this->shown($answer);
        $this->assertStringContainsString('port 8300 is not in its "cURL allowed ports list"', $shown);
        $this->assertStringContainsString('Site administration > General > Security > HTTP security', $shown);
        $this->assertStringNotContainsString('HTTP 0', $shown);
    }

    public function test_a_blocked_host_is_named_with_its_setting(): void {
        $this->resetAfterTest();
        set_config('curlsecurityallowedport', '');
        set_config('curlsecurityblockedhosts', "127.0.0.0/8\nlocalhost");
        $answer = $this->post('http://127.0.0.1:8300/webhooks/moodle');
        $this->assertTrue($answer['refused']);
        $this->assertStringContainsString('127.0.0.1 is in its "cURL blocked hosts list"', $this->shown($answer));
    }

    public function test_nothing_listening_says_nothing_answered_with_curls_reason(): void {
        $this->resetAfterTest();
        set_config('curlsecurityallowedport', '');
        set_config('curlsecurityblockedhosts', '');
        $socket = stream_socket_server('tcp://127.0.0.1:0');
        $port = (int) substr(strrchr(stream_socket_get_name($socket, false), ':'), 1);
        fclose($socket);  // a free port: nothing listens there
        $answer = $this->post("http://127.0.0.1:$port/webhooks/moodle");
        $this->assertSame(0, $answer['status']);
        $this->assertFalse($answer['refused']);
        $shown = $this->shown($answer);
        $this->assertStringStartsWith('Nothing answered at the receiver URL: ', $shown);
        $this->assertStringContainsString((string) $port, $shown);
        $this->assertStringNotContainsString('HTTP 0', $shown);
    }
}
