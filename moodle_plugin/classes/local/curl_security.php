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
 * Moodle's cURL security, saying which of its settings refuses a URL: the same checks as Moodle's own
 * helper (it is that helper), so what it names is what Moodle's curl class refuses.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class curl_security extends \core\files\curl_security_helper {
    /**
     * @param string $url
     * @return string|null why Moodle refuses to connect to the URL (naming the setting to change), null when it does not
     */
    public function refusal(string $url): ?string {
        if (!$this->url_is_blocked($url)) {
            return null;
        }
        try {
            $parsed = new \moodle_url($url);
            $host = $parsed->get_host();
            $port = $parsed->get_port() ?: ($this->transportschemes[$parsed->get_scheme()] ?? null);
        } catch (\moodle_exception $error) {
            return get_string('urlblocked', 'local_crmsync');
        }
        if ($host && $this->host_is_blocked($host)) {
            return get_string('urlblockedhost', 'local_crmsync', $host);
        }
        if ($port && $this->port_is_blocked($port)) {
            return get_string('urlblockedport', 'local_crmsync', $port);
        }
        return get_string('urlblocked', 'local_crmsync');
    }

    /**
     * Why Moodle's curl class refused a request it was asked to make (a redirect to a blocked URL, or a
     * plugin's security check): it then answers with its reason instead of a response, with no HTTP
     * status and no cURL error number (a connection that failed always has one).
     *
     * @param \curl $curl after the request
     * @param string $answer what the request returned
     * @return string|null
     */
    public static function refused_by(\curl $curl, string $answer): ?string {
        $info = $curl->get_info();
        if (empty($info['http_code']) && !$curl->get_errno()) {
            $reason = trim((string) $curl->error ?: $answer);
            return get_string('urlblocked', 'local_crmsync') . ($reason !== '' ? " ($reason)" : '');
        }
        return null;
    }
}
