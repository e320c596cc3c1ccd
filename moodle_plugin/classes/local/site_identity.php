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
 * The site id every message carries, derived from Moodle's own $CFG->siteidentifier.
 *
 * Moodle keeps siteidentifier for the life of the site (it is in the database, so a restore keeps
 * it too); deriving the id from it means an uninstall and reinstall of the plugin keeps the site the
 * CRM already knows, instead of making a new one whose every record would arrive twice. The hash
 * keeps Moodle's identifier itself out of the messages.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class site_identity {
    /**
     * @param string $siteidentifier Moodle's $CFG->siteidentifier
     * @return string 20 hexadecimal characters
     */
    public static function from_siteidentifier(string $siteidentifier): string {
        if ($siteidentifier === '') {
            throw new \InvalidArgumentException('Moodle has no siteidentifier yet');
        }
        return substr(hash('sha256', $siteidentifier), 0, 20);
    }

    /**
     * The site id of this Moodle.
     *
     * @return string
     */
    public static function current(): string {
        return self::from_siteidentifier((string) get_site_identifier());
    }
}
