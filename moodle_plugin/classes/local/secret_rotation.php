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

use local_crmsync\webhook\signer;

/**
 * A new signing secret without an outage: the replaced one stays valid for an overlap period.
 *
 * During the overlap every message is signed with the new secret and with each replaced one still
 * valid (Standard Webhooks allows several signatures in one header), so the receiver accepts it
 * whether its WEBHOOK_SECRETS already has the new secret or not. Every replaced secret keeps its own
 * end: two rotations in a row (a double click) never drop the secret the receiver still has.
 *
 * Stored in the plugin's config: `secret` (current), `previoussecrets` (JSON list of
 * {"secret", "until"}), `secretoverlapdays` (the setting, default 7).
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class secret_rotation {
    /** Days a replaced secret stays valid, when the setting was never saved. */
    const DEFAULT_OVERLAP_DAYS = 7;

    /**
     * What to store when $new replaces $current at $now.
     *
     * @param string $current the secret in use until now ('' when none)
     * @param array $previous the stored list of replaced secrets, each ['secret' => string, 'until' => int]
     * @param string $new
     * @param int $now
     * @param int $overlapdays
     * @return array ['secret' => $new, 'previous' => the list to store: the ones still valid, and $current]
     */
    public static function rotate(string $current, array $previous, string $new, int $now, int $overlapdays): array {
        $kept = array_values(array_filter($previous, function(array $entry) use ($new, $now) {
            return $entry['until'] > $now && $entry['secret'] !== $new;
        }));
        if ($current !== '' && $current !== $new && signer::is_valid($current) && $overlapdays > 0) {
            $kept = array_values(array_filter($kept, function(array $entry) use ($current) {
                return $entry['secret'] !== $current;
            }));
            $kept[] = ['secret' => $current, 'until' => $now + $overlapdays * 86400];
        }
        return ['secret' => $new, 'previous' => $kept];
    }

    /**
     * The replaced secrets that are still valid at $now (and usable), each with its end.
     *
     * @param array $previous each ['secret' => string, 'until' => int]
     * @param string $current
     * @param int $now
     * @return array each ['secret' => string, 'until' => int]
     */
    public static function still_valid(array $previous, string $current, int $now): array {
        return array_values(array_filter($previous, function(array $entry) use ($current, $now) {
            return $entry['until'] > $now && $entry['secret'] !== $current && signer::is_valid($entry['secret']);
        }));
    }

    /**
     * The stored list, read leniently: anything unreadable counts as no replaced secret.
     *
     * @param string|false|null $json the `previoussecrets` config value
     * @return array each ['secret' => string, 'until' => int]
     */
    public static function decode($json): array {
        $list = is_string($json) ? json_decode($json, true) : null;
        if (!is_array($list)) {
            return [];
        }
        $entries = [];
        foreach ($list as $entry) {
            if (is_array($entry) && isset($entry['secret'], $entry['until']) && is_string($entry['secret'])) {
                $entries[] = ['secret' => $entry['secret'], 'until' => (int) $entry['until']];
            }
        }
        return $entries;
    }

    /**
     * The signer for the plugin's config at $now: the current secret, and the replaced ones still valid.
     *
     * @param object $config get_config('local_crmsync')
     * @param int $now
     * @return signer
     */
    public static function signer(object $config, int $now): signer {
        $current = (string) ($config->secret ?? '');
        $previous = self::still_valid(self::decode($config->previoussecrets ?? null), $current, $now);
        return new signer($current, array_column($previous, 'secret'));
    }

    /**
     * Make $new the plugin's secret (Moodle), keeping the replaced one valid for the overlap.
     *
     * @param string $new
     * @param int $now
     * @param string|null $replaced the secret replaced (when it is already overwritten, as by the settings form)
     */
    public static function store(string $new, int $now, ?string $replaced = null): void {
        $config = get_config('local_crmsync');
        $days = isset($config->secretoverlapdays) && $config->secretoverlapdays !== ''
            ? (int) $config->secretoverlapdays : self::DEFAULT_OVERLAP_DAYS;
        $rotated = self::rotate($replaced ?? (string) ($config->secret ?? ''), self::decode($config->previoussecrets ?? null),
            $new, $now, $days);
        set_config('previoussecrets', json_encode($rotated['previous']), 'local_crmsync');
        set_config('secret', $rotated['secret'], 'local_crmsync');
    }
}
