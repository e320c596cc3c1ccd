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

namespace local_crmsync\local;

/**
 * Moodle's curl class as the delivery transport, so $CFG->curlsecurityblockedhosts and
 * curlsecurityallowedport apply: a receiver URL Moodle's curl security blocks is refused, with the
 * setting that refuses it.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class curl_transport implements transport {
    /**
     * @param string $url
     * @param string $body
     * @param array $headers
     * @return array as transport::post, and 'refused' => true when Moodle itself refused to connect
     */
    public function post(string $url, string $body, array $headers): array {
        global $CFG;
        require_once($CFG->libdir . '/filelib.php');
        $security = new curl_security();
        $refusal = $security->refusal($url);
        if ($refusal !== null) {
            return ['status' => 0, 'body' => '', 'error' => $refusal, 'refused' => true];
        }
        $curl = new \curl(['ignoresecurity' => false, 'securityhelper' => $security]);
        foreach ($headers as $name => $value) {
            $curl->setHeader("$name: $value");
        }
        $answer = $curl->post($url, $body, ['CURLOPT_TIMEOUT' => 30, 'CURLOPT_CONNECTTIMEOUT' => 10]);
        $refusal = curl_security::refused_by($curl, (string) $answer);
        if ($refusal !== null) {
            return ['status' => 0, 'body' => '', 'error' => $refusal, 'refused' => true];
        }
        $info = $curl->get_info();
        return ['status' => (int) ($info['http_code'] ?? 0), 'body' => (string) $answer,
            'error' => $curl->get_errno() ? (string) $curl->error : '', 'refused' => false];
    }
}
