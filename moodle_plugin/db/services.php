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
 * The web service the CRM sync writes to Moodle through (CRM → Moodle), and the plugin's own function.
 *
 * The service lists exactly the functions the sync calls (crm_connector/moodle/client.py and the CRM → Moodle
 * jobs): an admin enables it, authorises one dedicated user and creates one token for it
 * (docs/moodle-admin-guide.md, "Let the CRM write to Moodle"). It is disabled until then, and only users
 * holding local/crmsync:webservice at system level can use it.
 *
 * @package    local_crmsync
 * @copyright  2026 Moodle SuiteCRM sync project
 * @license    http://www.gnu.org/copyleft/gpl.html GNU GPL v3 or later
 */

defined('MOODLE_INTERNAL') || die();

$functions = [
    'local_crmsync_update_enrolments' => [
        'classname' => \local_crmsync\external\update_enrolments::class,
        'description' => 'Change the status (active or suspended) and the start and end dates of existing manual '
            . 'enrolments, only what is given; never creates an enrolment, never touches roles.',
        'type' => 'write',
        'ajax' => false,
        'capabilities' => 'enrol/manual:manage',
    ],
    // Reconciliation (docs/operator-guide.md): read Moodle's state, resend what the CRM lacks, tell the admins.
    'local_crmsync_export_state' => [
        'classname' => \local_crmsync\external\export_state::class,
        'description' => 'Moodle\'s current state of one kind of subject (user, course, enrolment, group, grade, '
            . 'course_completion, module_completion, attendance, consent, course_summary), a page at a time, as the '
            . 'messages the CRM sync\'s outbox sends, for the synced people only.',
        'type' => 'read',
        'ajax' => false,
        'capabilities' => 'local/crmsync:webservice',
    ],
    'local_crmsync_resend' => [
        'classname' => \local_crmsync\external\resend::class,
        'description' => 'Record fresh messages of these subjects in the CRM sync\'s outbox, as a backfill does, so '
            . 'they are delivered by the normal ordered path (a subject whose entity is gone is sent as its deletion).',
        'type' => 'write',
        'ajax' => false,
        'capabilities' => 'local/crmsync:webservice',
    ],
    'local_crmsync_notify_admins' => [
        'classname' => \local_crmsync\external\notify_admins::class,
        'description' => 'Send a notification of the CRM sync to every site admin.',
        'type' => 'write',
        'ajax' => false,
        'capabilities' => 'local/crmsync:webservice',
    ],
];

$services = [
    'CRM sync' => [
        'shortname' => 'crmsync',
        'functions' => [
            'core_webservice_get_site_info',
            // Find the learner a Contact is linked to, create or update them.
            'core_user_get_users_by_field',
            'core_user_create_users',
            'core_user_update_users',
            // Courses and enrolments.
            'core_course_get_courses_by_field',
            'core_enrol_get_enrolled_users',
            'enrol_manual_enrol_users',
            'enrol_manual_unenrol_users',
            'local_crmsync_update_enrolments',
            // Tutors: a teaching role in a course.
            'core_role_assign_roles',
            'core_role_unassign_roles',
            // Groups.
            'core_group_get_course_groups',
            'core_group_create_groups',
            'core_group_add_group_members',
            'core_group_delete_group_members',
            'core_completion_get_course_completion_status',
            // Reconciliation.
            'local_crmsync_export_state',
            'local_crmsync_resend',
            'local_crmsync_notify_admins',
        ],
        'requiredcapability' => 'local/crmsync:webservice',
        'restrictedusers' => 1,
        'enabled' => 0,
        'downloadfiles' => 0,
        'uploadfiles' => 0,
    ],
];
