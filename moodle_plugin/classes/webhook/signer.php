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

namespace local_crmsync\webhook;

/**
 * Signs messages as the Standard Webhooks specification says (https://www.standardwebhooks.com/).
 *
 * Plain PHP with no Moodle dependency, so it is unit-tested without a Moodle install and
 * cross-checked against the Python `standardwebhooks` library.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class signer {
    /** @var string Prefix of a Standard Webhooks secret. */
    const SECRET_PREFIX = 'whsec_';

    /** @var string[] The raw HMAC keys: the current secret's first, then those still valid after a rotation. */
    private $keys = [];

    /**
     * @param string $secret A `whsec_` secret: the prefix followed by the base64 of the key.
     * @param string[] $previous Secrets that stay valid for a while after a rotation: every message is
     *     signed with each of them too, so the receiver accepts it whether it has the new secret yet or not.
     * @throws \InvalidArgumentException When a secret is not of that form.
     */
    public function __construct(string $secret, array $previous = []) {
        foreach (array_merge([$secret], $previous) as $one) {
            $key = self::key((string) $one);
            if (!in_array($key, $this->keys, true)) {
                $this->keys[] = $key;
            }
        }
    }

    /**
     * @param string $secret
     * @return string the raw key
     * @throws \InvalidArgumentException
     */
    private static function key(string $secret): string {
        if (strpos($secret, self::SECRET_PREFIX) !== 0) {
            throw new \InvalidArgumentException('The signing secret must start with whsec_');
        }
        $key = base64_decode(substr($secret, strlen(self::SECRET_PREFIX)), true);
        if ($key === false || strlen($key) < 16) {
            throw new \InvalidArgumentException('The signing secret must be whsec_ followed by base64 of 16+ bytes');
        }
        return $key;
    }

    /**
     * Whether a string is a usable secret.
     *
     * @param string $secret
     * @return bool
     */
    public static function is_valid(string $secret): bool {
        try {
            self::key($secret);
            return true;
        } catch (\InvalidArgumentException $e) {
            return false;
        }
    }

    /**
     * Makes a new secret for the settings page's "generate" button.
     *
     * @return string
     */
    public static function generate_secret(): string {
        return self::SECRET_PREFIX . base64_encode(random_bytes(32));
    }

    /**
     * The `webhook-signature` header value for one message: `v1,<base64>` per secret, space-separated
     * (Standard Webhooks: a receiver accepts the message when any of them verifies).
     *
     * @param string $id The webhook-id (the message id, or the batch id).
     * @param int $timestamp Unix time of sending.
     * @param string $body The exact bytes that are sent.
     * @return string
     */
    public function signature(string $id, int $timestamp, string $body): string {
        return implode(' ', array_map(function(string $key) use ($id, $timestamp, $body) {
            return 'v1,' . base64_encode(hash_hmac('sha256', $id . '.' . $timestamp . '.' . $body, $key, true));
        }, $this->keys));
    }

    /**
     * The three Standard Webhooks headers for a POST of $body.
     *
     * @param string $id
     * @param int $timestamp
     * @param string $body
     * @return array header name => value
     */
    public function headers(string $id, int $timestamp, string $body): array {
        return [
            'webhook-id' => $id,
            'webhook-timestamp' => (string) $timestamp,
            'webhook-signature' => $this->signature($id, $timestamp, $body),
        ];
    }
}
