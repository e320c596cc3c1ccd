<?php
// What the generated custom/crmsync/CrmSyncFields.php holds (tests/package/test_package.py checks the
// generated one against the field mapping, and the enrolments' entries here against the generated ones),
// for the plain PHP tests of the hooks.
class CrmSyncFields
{
    const MODULES = array(
        'Contacts' => array(
            'subject' => 'contact',
            'fields' => array('first_name', 'last_name', 'email1', 'department', 'moodle_idnumber_c'),
            'moodle' => array('site_id' => 'moodle_site_id_c', 'user_id' => 'moodle_user_id_c'),
        ),
        'mdl_Enrolments' => array(
            'subject' => 'enrolment',
            'fields' => array('role', 'status', 'time_start', 'time_end', 'groups_list'),
            'related' => array(
                'contact' => array(
                    'relationship' => 'mdl_enrolments_contacts',
                    'link' => 'mdl_enrolments_contacts',
                    'id_field' => 'mdl_enrolments_contactscontacts_ida',
                ),
                'course' => array(
                    'relationship' => 'mdl_enrolments_mdl_courses',
                    'link' => 'mdl_enrolments_mdl_courses',
                    'id_field' => 'mdl_enrolments_mdl_coursesmdl_courses_ida',
                ),
                'intake' => array(
                    'relationship' => 'mdl_enrolments_mdl_intakes',
                    'link' => 'mdl_enrolments_mdl_intakes',
                    'id_field' => 'mdl_enrolments_mdl_intakesmdl_intakes_ida',
                ),
            ),
            'waits' => true,
        ),
        'mdl_Registrations' => array(
            'subject' => 'registration',
            'fields' => array('status'),
            'related' => array(
                'contact' => array(
                    'relationship' => 'mdl_registrations_contacts',
                    'link' => 'mdl_registrations_contacts',
                    'id_field' => 'mdl_registrations_contactscontacts_ida',
                ),
                'programme' => array(
                    'relationship' => 'mdl_registrations_mdl_programmes',
                    'link' => 'mdl_registrations_mdl_programmes',
                    'id_field' => 'mdl_registrations_mdl_programmesmdl_programmes_ida',
                ),
            ),
            'waits' => false,
        ),
    );
    const RELATIONSHIPS = array(
        'mdl_enrolments_contacts' => array(
            'table' => 'mdl_enrolments_contacts_c',
            'parent' => 'mdl_enrolments_contactscontacts_ida',
            'child' => 'mdl_enrolments_contactsmdl_enrolments_idb',
        ),
        'mdl_enrolments_mdl_courses' => array(
            'table' => 'mdl_enrolments_mdl_courses_c',
            'parent' => 'mdl_enrolments_mdl_coursesmdl_courses_ida',
            'child' => 'mdl_enrolments_mdl_coursesmdl_enrolments_idb',
        ),
        'mdl_enrolments_mdl_intakes' => array(
            'table' => 'mdl_enrolments_mdl_intakes_c',
            'parent' => 'mdl_enrolments_mdl_intakesmdl_intakes_ida',
            'child' => 'mdl_enrolments_mdl_intakesmdl_enrolments_idb',
        ),
        'mdl_registrations_contacts' => array(
            'table' => 'mdl_registrations_contacts_c',
            'parent' => 'mdl_registrations_contactscontacts_ida',
            'child' => 'mdl_registrations_contactsmdl_registrations_idb',
        ),
        'mdl_registrations_mdl_programmes' => array(
            'table' => 'mdl_registrations_mdl_programmes_c',
            'parent' => 'mdl_registrations_mdl_programmesmdl_programmes_ida',
            'child' => 'mdl_registrations_mdl_programmesmdl_registrations_idb',
        ),
    );
    const PICKER = array(
        'courses' => array('table' => 'mdl_courses'),
        'groups' => array(
            'table' => 'mdl_groups',
            'course' => array(
                'table' => 'mdl_groups_mdl_courses_c',
                'parent' => 'mdl_groups_mdl_coursesmdl_courses_ida',
                'child' => 'mdl_groups_mdl_coursesmdl_groups_idb',
            ),
        ),
    );
}
