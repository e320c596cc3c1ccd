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

/**
 * Install: the site id for the messages (derived from Moodle's siteidentifier, so a reinstall keeps it),
 * and a signing secret to paste into the receiver.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

/**
 * @return bool
 */
function xmldb_local_crmsync_install() {
    set_config('siteid', \local_crmsync\local\site_identity::current(), 'local_crmsync');
    set_config('secret', \local_crmsync\webhook\signer::generate_secret(), 'local_crmsync');
    return true;
}
