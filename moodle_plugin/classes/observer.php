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

use core\event\base;

/**
 * Records Moodle events in the outbox. Never calls HTTP, never throws into Moodle.
 *
 * Only rows about synced people are recorded (local\synced_people). Only the subject and, for deletions, a
 * snapshot are recorded here: the state itself is read when
 * the message is sent, under the delivery lock, so a newer row always carries newer state.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class observer {
    /**
     * @param base $event
     */
    public static function record(base $event): void {
        try {
            $entries = local\event_map::entries($event->get_data(), self::carried($event));
            // A row about someone the CRM keeps no Contact for (a site admin, the guest, the sync's own
            // web service user) would wait downstream for a Contact that never comes.
            $learners = array_filter(array_column($entries, 'userid'), function($userid) {
                return $userid !== null;
            });
            $synced = array_flip(local\synced_people::filter($learners));
            $inserted = false;
            foreach ($entries as $entry) {
                if ($entry['userid'] !== null && !isset($synced[(int) $entry['userid']])) {
                    continue;
                }
                $inserted = local\moodle_outbox::add($entry) || $inserted;
            }
            if ($inserted) {
                $task = new task\deliver_adhoc();
                \core\task\manager::queue_adhoc_task($task, true);
            }
        } catch (\Throwable $error) {
            debugging('local_crmsync could not record ' . $event->eventname . ': ' . $error->getMessage(), DEBUG_NORMAL);
        }
    }

    /**
     * What an event carries besides its data: grade_item_deleted holds the deleted grade item object it
     * was created from (its row is gone), the only place its iteminstance is still known. A group's
     * rename or deletion concerns its members: the current ones of a renamed group; for a deleted one
     * every user enrolled in the course, because groups_delete_group() has removed its members before
     * the event fires and fires no group_member_removed for them; and a deleted group's name and idnumber
     * (its row is gone). A role change names the role by id: its shortname says whether a tutor changed.
     *
     * @param base $event
     * @return array|null
     */
    private static function carried(base $event): ?array {
        global $DB;
        if ($event instanceof \core\event\group_updated) {
            return ['members' => $DB->get_fieldset_select('groups_members', 'userid', 'groupid = ?', [$event->objectid])];
        }
        if ($event instanceof \core\event\group_deleted) {
            return ['members' => $DB->get_fieldset_sql('SELECT DISTINCT ue.userid FROM {user_enrolments} ue
                                                          JOIN {enrol} e ON e.id = ue.enrolid
                                                         WHERE e.courseid = ?', [$event->courseid]),
                'group' => self::deleted_group($event)];
        }
        if ($event instanceof \core\event\role_assigned || $event instanceof \core\event\role_unassigned) {
            // The role is still there when it is unassigned (a deleted role unassigns nobody by event).
            return ['role' => (string) $DB->get_field('role', 'shortname', ['id' => $event->objectid])];
        }
        if (!$event instanceof \core\event\grade_item_deleted) {
            return null;
        }
        try {
            $item = $event->get_grade_item();
        } catch (\Throwable $error) {
            return null;
        }
        return $item ? ['iteminstance' => $item->iteminstance ?? null] : null;
    }

    /**
     * The deleted group's name and idnumber, from the row groups_delete_group() attached to its event.
     *
     * @param \core\event\group_deleted $event
     * @return array name, idnumber; empty when the event carries no snapshot
     */
    private static function deleted_group(\core\event\group_deleted $event): array {
        try {
            $group = $event->get_record_snapshot('groups', $event->objectid);
        } catch (\Throwable $error) {
            return [];
        }
        return $group ? ['name' => (string) $group->name, 'idnumber' => (string) ($group->idnumber ?? '')] : [];
    }
}
