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
 * Admin settings and the delivery status page.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

// The delivery status page is for everyone with local/crmsync:manage, not only site admins: Moodle
// builds the Local plugins category only for users with moodle/site:config, so the page goes under
// Site administration > Reports, which every user's admin tree has (as report plugins do), and
// admin_externalpage_setup() lets in exactly the users with the capability.
$ADMIN->add('reports', new admin_externalpage('local_crmsync_status', get_string('status', 'local_crmsync'),
    new moodle_url('/local/crmsync/index.php'), 'local/crmsync:manage'));

if ($hassiteconfig) {
    $settings = new admin_settingpage('local_crmsync', get_string('pluginname', 'local_crmsync'));
    $ADMIN->add('localplugins', $settings);

    if ($ADMIN->fulltree) {
        $settings->add(new admin_setting_heading('local_crmsync/statuspage', '',
            get_string('statuspage_desc', 'local_crmsync', (new moodle_url('/local/crmsync/index.php'))->out())));
        $settings->add(new admin_setting_configtext('local_crmsync/receiverurl', get_string('receiverurl', 'local_crmsync'),
            get_string('receiverurl_desc', 'local_crmsync'), '', PARAM_URL));
        $settings->add(new \local_crmsync\admin\setting_secret('local_crmsync/secret', get_string('secret', 'local_crmsync'),
            get_string('secret_desc', 'local_crmsync'), ''));
        $settings->add(new admin_setting_configtext('local_crmsync/secretoverlapdays',
            get_string('secretoverlapdays', 'local_crmsync'), get_string('secretoverlapdays_desc', 'local_crmsync'),
            \local_crmsync\local\secret_rotation::DEFAULT_OVERLAP_DAYS, PARAM_INT));
        $groups = array_unique(array_values(\local_crmsync\local\event_map::GROUPS));
        $choices = array_combine($groups, array_map(function($group) {
            return get_string('group_' . $group, 'local_crmsync');
        }, $groups));
        $settings->add(new admin_setting_configmulticheckbox('local_crmsync/eventgroups',
            get_string('eventgroups', 'local_crmsync'), get_string('eventgroups_desc', 'local_crmsync'),
            array_fill_keys($groups, 1), $choices));
        // Backfill sends grades and completions only for holders of these roles (default: the student archetype's).
        $settings->add(new admin_setting_pickroles('local_crmsync/learnerroles', get_string('learnerroles', 'local_crmsync'),
            get_string('learnerroles_desc', 'local_crmsync'), ['student']));
        $settings->add(new admin_setting_configtext('local_crmsync/batchsize', get_string('batchsize', 'local_crmsync'),
            get_string('batchsize_desc', 'local_crmsync'), 100, PARAM_INT));
        $settings->add(new admin_setting_configtext('local_crmsync/maxbatchkb', get_string('maxbatchkb', 'local_crmsync'),
            get_string('maxbatchkb_desc', 'local_crmsync'), \local_crmsync\local\delivery::DEFAULT_MAX_BATCH_BYTES / 1024,
            PARAM_INT));
        $settings->add(new admin_setting_configtext('local_crmsync/retentiondays', get_string('retentiondays', 'local_crmsync'),
            get_string('retentiondays_desc', 'local_crmsync'), 7, PARAM_INT));
        $settings->add(new admin_setting_configtext('local_crmsync/profilefields', get_string('profilefields', 'local_crmsync'),
            get_string('profilefields_desc', 'local_crmsync'), '', PARAM_TEXT));
    }
}
