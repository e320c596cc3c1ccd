<?php
// What the generated custom/crmsync/CrmSyncFields.php holds (tests/package/test_package.py checks the
// generated one against the field mapping), for the plain PHP tests of the hooks.
class CrmSyncFields
{
    const MODULES = array(
        'Contacts' => array(
            'subject' => 'contact',
            'fields' => array('first_name', 'last_name', 'email1', 'department', 'moodle_idnumber_c'),
            'moodle' => array('site_id' => 'moodle_site_id_c', 'user_id' => 'moodle_user_id_c'),
        ),
    );
}
