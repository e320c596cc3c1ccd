<?php
// The CRM's outbox of changes for Moodle (CrmSyncOutbox.php). Installed as
// custom/metadata/crmsync_outboxMetaData.php and named in the table dictionary
// (custom/Extension/application/Ext/TableDictionary/crmsync_outbox.php), so Module Loader's
// repair creates the table and Quick Repair and Rebuild keeps it.
$dictionary['crmsync_outbox'] = array(
    'table' => 'crmsync_outbox',
    'fields' => array(
        // The per-CRM sequence of the messages.
        'id' => array('name' => 'id', 'type' => 'int', 'len' => '11', 'isnull' => 'false', 'auto_increment' => true),
        'uuid' => array('name' => 'uuid', 'type' => 'id', 'required' => true),
        'module' => array('name' => 'module', 'type' => 'varchar', 'len' => '100', 'required' => true),
        'record_id' => array('name' => 'record_id', 'type' => 'id', 'required' => true),
        'action' => array('name' => 'action', 'type' => 'varchar', 'len' => '10', 'required' => true),
        'changed' => array('name' => 'changed', 'type' => 'text'),
        'created' => array('name' => 'created', 'type' => 'datetime'),
        'attempts' => array('name' => 'attempts', 'type' => 'int', 'len' => '11', 'default' => '0'),
        'next_attempt' => array('name' => 'next_attempt', 'type' => 'datetime'),
        'status' => array('name' => 'status', 'type' => 'varchar', 'len' => '10', 'default' => 'waiting'),
        'last_error' => array('name' => 'last_error', 'type' => 'text'),
        'delivered' => array('name' => 'delivered', 'type' => 'datetime'),
    ),
    'indices' => array(
        array('name' => 'crmsync_outboxpk', 'type' => 'primary', 'fields' => array('id')),
        array('name' => 'idx_crmsync_outbox_due', 'type' => 'index', 'fields' => array('status', 'next_attempt')),
        array('name' => 'idx_crmsync_outbox_record', 'type' => 'index', 'fields' => array('module', 'record_id', 'status')),
    ),
);
