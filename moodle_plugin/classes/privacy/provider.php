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

namespace local_crmsync\privacy;

use core_privacy\local\metadata\collection;
use core_privacy\local\request\approved_contextlist;
use core_privacy\local\request\approved_userlist;
use core_privacy\local\request\contextlist;
use core_privacy\local\request\userlist;
use core_privacy\local\request\writer;

/**
 * Privacy API: the outbox holds messages about users until delivered; the receiver (and through it
 * the CRM) is an external location that gets the users' profile and learning data.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class provider implements
        \core_privacy\local\metadata\provider,
        \core_privacy\local\request\plugin\provider,
        \core_privacy\local\request\core_userlist_provider {

    public static function get_metadata(collection $collection): collection {
        $collection->add_database_table('local_crmsync_outbox', [
            'userid' => 'privacy:metadata:outbox:userid',
            'type' => 'privacy:metadata:outbox:type',
            'eventdata' => 'privacy:metadata:outbox:eventdata',
            'snapshot' => 'privacy:metadata:outbox:snapshot',
            'timecreated' => 'privacy:metadata:outbox:timecreated',
        ], 'privacy:metadata:outbox');
        $collection->add_external_location_link('receiver', [
            'username' => 'privacy:metadata:receiver:username',
            'fullname' => 'privacy:metadata:receiver:fullname',
            'email' => 'privacy:metadata:receiver:email',
            'enrolments' => 'privacy:metadata:receiver:enrolments',
            'grades' => 'privacy:metadata:receiver:grades',
            'completions' => 'privacy:metadata:receiver:completions',
            'attendance' => 'privacy:metadata:receiver:attendance',
            'tutors' => 'privacy:metadata:receiver:tutors',
        ], 'privacy:metadata:receiver');
        return $collection;
    }

    public static function get_contexts_for_userid(int $userid): contextlist {
        $contextlist = new contextlist();
        $contextlist->add_system_context();
        return $contextlist;
    }

    public static function get_users_in_context(userlist $userlist) {
        if ($userlist->get_context()->contextlevel === CONTEXT_SYSTEM) {
            $userlist->add_from_sql('userid', 'SELECT userid FROM {local_crmsync_outbox} WHERE userid IS NOT NULL', []);
        }
    }

    public static function export_user_data(approved_contextlist $contextlist) {
        global $DB;
        $userid = $contextlist->get_user()->id;
        foreach ($contextlist->get_contexts() as $context) {
            if ($context->contextlevel !== CONTEXT_SYSTEM) {
                continue;
            }
            $rows = $DB->get_records('local_crmsync_outbox', ['userid' => $userid], 'id');
            $messages = array_map(function($row) {
                return (object) ['type' => $row->type, 'subject' => $row->subject, 'status' => $row->status,
                    'timecreated' => \core_privacy\local\request\transform::datetime($row->timecreated),
                    'eventdata' => json_decode((string) $row->eventdata), 'snapshot' => json_decode((string) $row->snapshot)];
            }, array_values($rows));
            if ($messages) {
                writer::with_context($context)->export_data([get_string('pluginname', 'local_crmsync')],
                    (object) ['messages' => $messages]);
            }
        }
    }

    public static function delete_data_for_all_users_in_context(\context $context) {
        global $DB;
        if ($context->contextlevel === CONTEXT_SYSTEM) {
            $DB->delete_records_select('local_crmsync_outbox', 'userid IS NOT NULL');
        }
    }

    public static function delete_data_for_user(approved_contextlist $contextlist) {
        global $DB;
        foreach ($contextlist->get_contexts() as $context) {
            if ($context->contextlevel === CONTEXT_SYSTEM) {
                $DB->delete_records('local_crmsync_outbox', ['userid' => $contextlist->get_user()->id]);
            }
        }
    }

    public static function delete_data_for_users(approved_userlist $userlist) {
        global $DB;
        if ($userlist->get_context()->contextlevel !== CONTEXT_SYSTEM || !$userlist->get_userids()) {
            return;
        }
        [$in, $params] = $DB->get_in_or_equal($userlist->get_userids(), SQL_PARAMS_NAMED);
        $DB->delete_records_select('local_crmsync_outbox', "userid $in", $params);
    }
}
