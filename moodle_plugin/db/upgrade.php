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
 * Upgrade steps.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

/**
 * @param int $oldversion
 * @return bool
 */
function xmldb_local_crmsync_upgrade($oldversion) {
    global $DB;
    $dbman = $DB->get_manager();

    if ($oldversion < 2026112200) {
        $table = new xmldb_table('local_crmsync_outbox');
        $field = new xmldb_field('snapshot', XMLDB_TYPE_TEXT, null, null, null, null, null, 'eventdata');
        if ($dbman->table_exists($table) && !$dbman->field_exists($table, $field)) {
            $dbman->add_field($table, $field);
        }
        upgrade_plugin_savepoint(true, 2026112200, 'local', 'crmsync');
    }

    if ($oldversion < 2026112700) {
        // Delivery no longer pauses (nothing in the product answers 410 Gone, and the pause/resume
        // buttons are gone): a stored pause would only mislead, so it goes. An install that was paused
        // delivers again. The 'deliverypaused' message provider is removed by Moodle itself, because
        // db/messages.php no longer declares it.
        unset_config('paused', 'local_crmsync');
        // New settings, with their defaults, so that delivery has them before an admin saves the
        // settings page: a replaced signing secret stays valid 7 days; a request is at most 512 KiB.
        // The 'What to send' setting is left alone: never saved still means every group.
        foreach (['secretoverlapdays' => 7, 'maxbatchkb' => 512] as $name => $default) {
            if (get_config('local_crmsync', $name) === false) {
                set_config($name, $default, 'local_crmsync');
            }
        }
        upgrade_plugin_savepoint(true, 2026112700, 'local', 'crmsync');
    }

    if ($oldversion < 2026120200) {
        // An attendance row is about no learner, yet kept the event, which names the student who marked
        // themselves: a privacy deletion of that student (by userid) missed it. Such rows keep only their
        // course now (what a deletion message needs), waiting and delivered ones alike.
        $rows = $DB->get_recordset('local_crmsync_outbox', ['type' => 'attendance.recorded'], '', 'id, eventdata');
        foreach ($rows as $row) {
            $event = json_decode((string) $row->eventdata, true);
            if (!is_array($event)) {
                continue;
            }
            $snapshot = isset($event['courseid']) ? json_encode(['courseid' => (int) $event['courseid']]) : null;
            $DB->update_record('local_crmsync_outbox', (object) ['id' => $row->id, 'eventdata' => null,
                'snapshot' => $snapshot]);
        }
        $rows->close();
        upgrade_plugin_savepoint(true, 2026120200, 'local', 'crmsync');
    }
    return true;
}
