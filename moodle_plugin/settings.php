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
 * Admin settings and the status page link.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

if ($hassiteconfig) {
    $ADMIN->add('localplugins', new admin_category('local_crmsync_category', get_string('pluginname', 'local_crmsync')));
    $settings = new admin_settingpage('local_crmsync', get_string('settings', 'local_crmsync'));
    $ADMIN->add('local_crmsync_category', $settings);
    $ADMIN->add('local_crmsync_category', new admin_externalpage('local_crmsync_status',
        get_string('status', 'local_crmsync'), new moodle_url('/local/crmsync/index.php'), 'local/crmsync:manage'));

    if ($ADMIN->fulltree) {
        $settings->add(new admin_setting_configtext('local_crmsync/receiverurl', get_string('receiverurl', 'local_crmsync'),
            get_string('receiverurl_desc', 'local_crmsync'), '', PARAM_URL));
        $settings->add(new admin_setting_configpasswordunmask('local_crmsync/secret', get_string('secret', 'local_crmsync'),
            get_string('secret_desc', 'local_crmsync'), ''));
        $groups = array_unique(array_values(\local_crmsync\local\event_map::GROUPS));
        $choices = array_combine($groups, array_map(function($group) {
            return get_string('group_' . $group, 'local_crmsync');
        }, $groups));
        $settings->add(new admin_setting_configmulticheckbox('local_crmsync/eventgroups',
            get_string('eventgroups', 'local_crmsync'), get_string('eventgroups_desc', 'local_crmsync'),
            array_fill_keys($groups, 1), $choices));
        $settings->add(new admin_setting_configtext('local_crmsync/batchsize', get_string('batchsize', 'local_crmsync'),
            get_string('batchsize_desc', 'local_crmsync'), 100, PARAM_INT));
        $settings->add(new admin_setting_configtext('local_crmsync/retentiondays', get_string('retentiondays', 'local_crmsync'),
            get_string('retentiondays_desc', 'local_crmsync'), 7, PARAM_INT));
        $settings->add(new admin_setting_configtext('local_crmsync/profilefields', get_string('profilefields', 'local_crmsync'),
            get_string('profilefields_desc', 'local_crmsync'), '', PARAM_TEXT));
    }
}
