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

namespace local_crmsync\external;

use core_external\external_api;
use core_external\external_function_parameters;
use core_external\external_single_structure;
use core_external\external_value;

/**
 * A Moodle notification to every site admin from the CRM sync (the reconciliation tells them it found
 * differences): local_crmsync_notify_admins, through the plugin's message provider 'reconciliation'
 * (db/messages.php), so each admin chooses in their notification preferences how it reaches them.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */
class notify_admins extends external_api {
    /**
     * @return external_function_parameters
     */
    public static function execute_parameters(): external_function_parameters {
        return new external_function_parameters([
            'subject' => new external_value(PARAM_TEXT, 'The notification\'s subject'),
            'message' => new external_value(PARAM_TEXT, 'Its text (plain text; line breaks kept)'),
            'url' => new external_value(PARAM_URL, 'Where the admin reads more (e.g. the report); empty: nowhere',
                VALUE_DEFAULT, ''),
        ]);
    }

    /**
     * @param string $subject
     * @param string $message
     * @param string $url
     * @return array
     */
    public static function execute(string $subject, string $message, string $url = ''): array {
        $params = self::validate_parameters(self::execute_parameters(),
            ['subject' => $subject, 'message' => $message, 'url' => $url]);
        $context = \context_system::instance();
        self::validate_context($context);
        require_capability('local/crmsync:webservice', $context);
        if (trim($params['subject']) === '') {
            throw new \moodle_exception('emptysubject', 'local_crmsync');
        }
        $sent = 0;
        foreach (get_admins() as $admin) {
            $notification = new \core\message\message();
            $notification->component = 'local_crmsync';
            $notification->name = 'reconciliation';
            $notification->userfrom = \core_user::get_noreply_user();
            $notification->userto = $admin;
            $notification->subject = $params['subject'];
            $notification->fullmessage = $params['message'];
            $notification->fullmessageformat = FORMAT_PLAIN;
            $notification->fullmessagehtml = text_to_html(s($params['message']), false, false, true);
            $notification->smallmessage = $params['subject'];
            $notification->notification = 1;
            if ($params['url'] !== '') {
                $notification->contexturl = $params['url'];
                $notification->contexturlname = get_string('reconciliationreport', 'local_crmsync');
            }
            if (message_send($notification)) {
                $sent++;
            }
        }
        return ['sent' => $sent];
    }

    /**
     * @return external_single_structure
     */
    public static function execute_returns(): external_single_structure {
        return new external_single_structure([
            'sent' => new external_value(PARAM_INT, 'How many site admins it was sent to'),
        ]);
    }
}
