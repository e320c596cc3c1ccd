<?php
use PHPUnit\Framework\TestCase;

require_once __DIR__ . '/support/OutboxDb.php';
require_once __DIR__ . '/support/log.php';

/**
 * What a CRM user's administration of Moodle from SuiteCRM records: an enrolment's saves, deletions and
 * its parents (the learner's Contact, the course, the intake) related or unrelated, in a real
 * crmsync_outbox table (MariaDB), and the enrolment.* message built from the record and its join tables.
 * The beans are SuiteCRM's as the hooks see them (SugarBean::save, retrieve, mark_deleted and
 * SugarRelationship::callAfterAdd/Delete in 7.14.6): plain objects with the properties the hooks read.
 */
final class AdministeredRecordsTest extends TestCase {
    const ENROLMENT = 'e0000000-0000-4000-8000-000000000001';
    const CONTACT = 'c0ffee00-0000-4000-8000-000000000042';
    const OTHER_CONTACT = 'c0ffee00-0000-4000-8000-000000000043';
    const COURSE = 'c0c0c0c0-0000-4000-8000-000000000007';
    const API_USER = 'a91e0000-0000-4000-8000-0000000000a9';
    const CONTACT_ID = 'mdl_enrolments_contactscontacts_ida';
    const COURSE_ID = 'mdl_enrolments_mdl_coursesmdl_courses_ida';

    /** @var OutboxDb */
    private $db;
    /** @var CrmSyncHook */
    private $hook;

    protected function setUp(): void {
        $this->db = OutboxDb::create();
        $dictionary = [];
        include CRMSYNC_REPO . '/suitecrm_package/templates/crmsync_outboxMetaData.php';
        $this->db->createTable($dictionary['crmsync_outbox']);
        $GLOBALS['db'] = $this->db;
        $GLOBALS['log'] = new RecordingLog();
        $GLOBALS['sugar_config'] = ['crmsync' => ['receiver_url' => 'http://127.0.0.1:9/webhooks/crm',
                                                  'secret' => 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw',
                                                  'api_user_id' => self::API_USER]];
        $GLOBALS['current_user'] = (object) ['id' => '1'];
        $this->hook = new CrmSyncHook();
    }

    protected function tearDown(): void {
        $this->db->drop();
        unset($GLOBALS['db'], $GLOBALS['log'], $GLOBALS['sugar_config'], $GLOBALS['current_user']);
    }

    private function rows(): array {
        return array_map(function ($row) {
            return [$row['module'], $row['record_id'], $row['action'], json_decode($row['changed'], true)];
        }, $this->db->rows('SELECT * FROM crmsync_outbox ORDER BY id'));
    }

    /** An enrolment as SugarBean::retrieve leaves it: fetched_row the columns, the relate id fields filled, after_retrieve run. */
    private function retrieved(array $columns = [], array $parents = []): object {
        $bean = new stdClass();
        $bean->module_dir = 'mdl_Enrolments';
        $bean->table_name = 'mdl_enrolments';
        $bean->id = self::ENROLMENT;
        $bean->deleted = 0;
        $row = $columns + ['id' => self::ENROLMENT, 'role' => 'student', 'status' => 'active', 'time_start' => '2026-12-01 00:00:00',
                           'time_end' => '', 'groups_list' => 'Group A', 'sync_state' => 'done', 'sync_message' => '', 'deleted' => '0'];
        foreach ($row as $field => $value) {
            $bean->$field = $value;
        }
        $bean->fetched_row = $row;
        foreach ($parents + [self::CONTACT_ID => self::CONTACT, self::COURSE_ID => self::COURSE,
                             'mdl_enrolments_mdl_intakesmdl_intakes_ida' => ''] as $field => $id) {
            $bean->$field = $id;
        }
        $this->hook->afterRetrieve($bean, 'after_retrieve', ['id' => self::ENROLMENT]);
        return $bean;
    }

    /** SugarBean::save's hooks in their order: relationships saved (in_save), before_save, the row written, after_save. */
    private function save(object $bean, array $relatedInSave = []): void {
        $bean->in_save = true;
        foreach ($relatedInSave as [$event, $link]) {
            $this->relationship($bean, $event, $link);
        }
        $this->hook->beforeSave($bean, 'before_save', ['check_notify' => false]);
        $this->hook->afterSave($bean, 'after_save', '');
        $bean->in_save = false;
    }

    private function relationship(object $bean, string $event, string $link, string $relatedId = self::CONTACT): void {
        $arguments = ['id' => $bean->id, 'related_id' => $relatedId, 'module' => $bean->module_dir,
                      'related_module' => 'Contacts', 'link' => $link, 'relationship' => $link];
        $event === 'after_relationship_add' ? $this->hook->afterRelationshipAdd($bean, $event, $arguments)
                                            : $this->hook->afterRelationshipDelete($bean, $event, $arguments);
    }

    public function test_a_crm_users_new_enrolment_waits_for_moodle_and_records_its_values_and_parents_in_one_row(): void {
        $bean = new stdClass();
        $bean->module_dir = 'mdl_Enrolments';
        $bean->id = self::ENROLMENT;
        $bean->fetched_row = false;
        foreach (['role' => 'editingteacher', 'status' => 'active', 'time_start' => '2026-12-01 09:00:00', 'time_end' => '',
                  'groups_list' => "Group A\nGroup B", 'sync_state' => '', 'sync_message' => 'Moodle refused: old reason',
                  self::CONTACT_ID => self::CONTACT, self::COURSE_ID => self::COURSE] as $field => $value) {
            $bean->$field = $value;
        }
        // Created from the intake's subpanel: SuiteCRM relates it from the request (relate_to), not a relate id field.
        $this->save($bean, [['after_relationship_add', self::CONTACT_ID], ['after_relationship_add', 'mdl_enrolments_mdl_intakes']]);
        $this->assertSame(['pending', ''], [$bean->sync_state, $bean->sync_message], 'shown "Waiting for Moodle" at once');
        $this->assertSame([['mdl_Enrolments', self::ENROLMENT, 'save',
                            ['role', 'status', 'time_start', 'groups_list', 'contact', 'course', 'intake']]], $this->rows());
        $this->assertSame([], $GLOBALS['log']->lines);
    }

    public function test_an_edit_records_the_changed_fields_and_the_parent_whose_id_changed(): void {
        $bean = $this->retrieved();
        $bean->status = 'suspended';
        $bean->{self::CONTACT_ID} = self::OTHER_CONTACT;
        // save_relationship_changes moves the join row: SuiteCRM calls both relationship hooks on the bean in save.
        $this->save($bean, [['after_relationship_delete', 'mdl_enrolments_contacts'], ['after_relationship_add', 'mdl_enrolments_contacts']]);
        $this->assertSame('pending', $bean->sync_state);
        $this->assertSame([['mdl_Enrolments', self::ENROLMENT, 'save', ['status', 'contact']]], $this->rows());
    }

    public function test_a_save_that_changes_nothing_moodle_has_neither_waits_nor_records(): void {
        $bean = $this->retrieved(['sync_state' => 'failed', 'sync_message' => 'No such group in the course: Group Z']);
        $bean->description = 'Called the learner';
        $bean->groups_list = 'Group A';  // saved as it was
        $this->save($bean);
        $this->assertSame(['failed', 'No such group in the course: Group Z'], [$bean->sync_state, $bean->sync_message]);
        $this->assertSame([], $this->rows());
    }

    public function test_the_sync_api_users_writes_neither_wait_nor_are_recorded(): void {
        $GLOBALS['current_user'] = (object) ['id' => self::API_USER];
        $bean = $this->retrieved();
        $bean->status = 'suspended';
        $bean->sync_state = 'done';
        $this->save($bean);
        $this->relationship($bean, 'after_relationship_add', 'mdl_enrolments_contacts');
        (new CrmSyncHook())->afterDelete($bean, 'after_delete', ['id' => self::ENROLMENT]);
        $this->assertSame('done', $bean->sync_state);
        $this->assertSame([], $this->rows());
    }

    public function test_relating_and_unrelating_a_parent_from_a_subpanel_records_the_enrolment_only(): void {
        $this->db->query("CREATE TABLE mdl_enrolments (id char(36), sync_state varchar(100), sync_message text)");
        $this->db->query("INSERT INTO mdl_enrolments VALUES ('" . self::ENROLMENT . "', 'done', 'earlier')");
        $enrolment = $this->retrieved([], [self::CONTACT_ID => '']);
        $this->relationship($enrolment, 'after_relationship_add', 'mdl_enrolments_contacts');
        // The same add, as SuiteCRM also calls it on the Contact (the Contacts' hooks have no related parents).
        $contact = (object) ['module_dir' => 'Contacts', 'id' => self::CONTACT, 'deleted' => 0];
        $this->hook->afterRelationshipAdd($contact, 'after_relationship_add', ['id' => self::CONTACT,
            'related_id' => self::ENROLMENT, 'module' => 'Contacts', 'related_module' => 'mdl_Enrolments',
            'link' => 'mdl_enrolments_contacts', 'relationship' => 'mdl_enrolments_contacts']);
        // A relationship that is no parent of the enrolment (its security groups).
        $this->hook->afterRelationshipAdd($enrolment, 'after_relationship_add', ['id' => self::ENROLMENT,
            'related_id' => '1', 'module' => 'mdl_Enrolments', 'related_module' => 'SecurityGroups',
            'link' => 'SecurityGroups', 'relationship' => 'securitygroups_mdl_enrolments']);
        $this->relationship($enrolment, 'after_relationship_delete', 'mdl_enrolments_mdl_coursesmdl_courses_ida', self::COURSE);
        $this->assertSame([['mdl_Enrolments', self::ENROLMENT, 'relate', ['contact']],
                           ['mdl_Enrolments', self::ENROLMENT, 'unrelate', ['course']]], $this->rows());
        // No save shows it waiting, so the hook does: the CRM user sees "Waiting for Moodle" at once.
        $this->assertSame([['sync_state' => 'pending', 'sync_message' => '']],
                          $this->db->rows('SELECT sync_state, sync_message FROM mdl_enrolments'));

        // Its next save knows the parent the database holds now: setting the same contact again is no change.
        $enrolment->{self::CONTACT_ID} = self::CONTACT;
        $enrolment->{self::COURSE_ID} = '';
        $this->save($enrolment);
        $this->assertCount(2, $this->rows());
    }

    public function test_staff_deciding_a_registration_record_its_status_and_parents_and_no_sync_state(): void {
        // mdl_Registrations has no sync_state (its status_message is the result): the hooks neither set one on
        // the bean nor write one to its table, which has no such column.
        $this->db->query("CREATE TABLE mdl_registrations (id char(36), status varchar(100), status_message text)");
        $id = 'e0000000-0000-4000-8000-00000000000b';
        $this->db->query("INSERT INTO mdl_registrations VALUES ('$id', 'submitted', '')");
        $bean = new stdClass();
        $bean->module_dir = 'mdl_Registrations';
        $bean->table_name = 'mdl_registrations';
        $bean->id = $id;
        $bean->deleted = 0;
        $row = ['id' => $id, 'status' => 'submitted', 'status_message' => '', 'deleted' => '0'];
        foreach ($row as $field => $value) {
            $bean->$field = $value;
        }
        $bean->fetched_row = $row;
        $bean->mdl_registrations_contactscontacts_ida = self::CONTACT;
        $bean->mdl_registrations_mdl_programmesmdl_programmes_ida = '';
        $this->hook->afterRetrieve($bean, 'after_retrieve', ['id' => $id]);

        $bean->status = 'accepted';
        $this->save($bean);
        $this->hook->afterRelationshipAdd($bean, 'after_relationship_add', ['id' => $id, 'related_id' => self::COURSE,
            'module' => 'mdl_Registrations', 'related_module' => 'mdl_Programmes',
            'link' => 'mdl_registrations_mdl_programmes', 'relationship' => 'mdl_registrations_mdl_programmes']);
        $this->assertSame([['mdl_Registrations', $id, 'save', ['status']],
                           ['mdl_Registrations', $id, 'relate', ['programme']]], $this->rows());
        $this->assertFalse(property_exists($bean, 'sync_state'));
        $this->assertSame([['status' => 'submitted', 'status_message' => '']],
                          $this->db->rows('SELECT status, status_message FROM mdl_registrations'));
        $this->assertSame([], $GLOBALS['log']->lines);
    }

    public function test_a_deletion_is_one_change_not_one_per_parent_it_unrelates(): void {
        $bean = $this->retrieved();
        // SugarBean::mark_deleted: deleted set, relationships marked deleted (their hooks), then after_delete.
        $bean->deleted = 1;
        $this->relationship($bean, 'after_relationship_delete', 'mdl_enrolments_contacts');
        $this->hook->afterDelete($bean, 'after_delete', ['id' => self::ENROLMENT]);
        $this->assertSame([['mdl_Enrolments', self::ENROLMENT, 'delete', ['deleted']]], $this->rows());
    }

    public function test_a_failing_outbox_is_logged_and_never_stops_the_save_nor_the_relating(): void {
        $this->db->link->query('DROP TABLE crmsync_outbox');
        $bean = $this->retrieved();
        $bean->role = 'teacher';
        $this->save($bean);
        $this->relationship($bean, 'after_relationship_add', 'mdl_enrolments_contacts');
        $this->assertSame('pending', $bean->sync_state);
        $this->assertSame(['fatal', 'fatal'], array_column($GLOBALS['log']->lines, 0));
        $this->assertStringContainsString('not recorded in the outbox', $GLOBALS['log']->lines[0][1]);
    }

    /** A join table as Module Builder's relationship metadata declares it. */
    private function joinTable(string $table, string $parent, string $child): void {
        $this->db->link->query("CREATE TABLE $table (id varchar(36) NOT NULL PRIMARY KEY, date_modified datetime,
            deleted tinyint(1) DEFAULT 0, $parent varchar(36), $child varchar(36))");
    }

    public function test_the_enrolment_message_carries_its_plain_fields_and_its_parents_as_the_join_tables_hold_them(): void {
        foreach (CrmSyncFields::RELATIONSHIPS as $join) {
            $this->joinTable($join['table'], $join['parent'], $join['child']);
        }
        $contacts = CrmSyncFields::RELATIONSHIPS['mdl_enrolments_contacts'];
        $courses = CrmSyncFields::RELATIONSHIPS['mdl_enrolments_mdl_courses'];
        $this->db->link->query("INSERT INTO {$contacts['table']} VALUES
            ('r1', '2026-12-01 09:00:00', 1, '" . self::OTHER_CONTACT . "', '" . self::ENROLMENT . "'),
            ('r2', '2026-12-01 10:00:00', 0, '" . self::CONTACT . "', '" . self::ENROLMENT . "')");
        $this->db->link->query("INSERT INTO {$courses['table']} VALUES
            ('r3', '2026-12-01 10:00:00', 0, '" . self::COURSE . "', 'e0000000-0000-4000-8000-000000000099')");
        $module = CrmSyncFields::MODULES['mdl_Enrolments'];
        $row = ['id' => self::ENROLMENT, 'role' => 'student', 'status' => 'suspended', 'time_start' => '2026-12-01 09:00:00',
                'time_end' => null, 'groups_list' => "Group A &amp; B\nGroup C", 'date_modified' => '2026-12-01 10:00:00',
                'deleted' => '0'];
        $state = function (string $name, string $id) use ($module, $row) {
            return CrmSyncDelivery::state($module, $row, CrmSyncDelivery::parentIds($this->db, $module, CrmSyncFields::RELATIONSHIPS, $id));
        };
        $delivery = new CrmSyncDelivery(new CrmSyncOutbox($this->db), $state, $GLOBALS['sugar_config']['crmsync'],
            ['unique_key' => 'the-crm-unique-key', 'site_url' => 'https://crm.example.org'], CrmSyncFields::MODULES);
        $message = $delivery->message(['module' => 'mdl_Enrolments', 'record_id' => self::ENROLMENT, 'rows' => [
            ['id' => '7', 'uuid' => '0b6c5d1e-0000-4000-8000-000000000007', 'created' => '2026-12-01 10:00:00',
             'changed' => '["status"]', 'attempts' => '0'],
            ['id' => '9', 'uuid' => '0b6c5d1e-0000-4000-8000-000000000009', 'created' => '2026-12-01 10:00:01',
             'changed' => '["contact"]', 'attempts' => '0']]]);
        $this->assertSame([
            'id' => '0b6c5d1e-0000-4000-8000-000000000009', 'type' => 'enrolment.updated', 'occurred_at' => '2026-12-01T10:00:01Z',
            'sequence' => 9, 'subject' => 'enrolment:' . self::ENROLMENT,
            'crm' => ['id' => substr(hash('sha256', 'the-crm-unique-key'), 0, 20), 'url' => 'https://crm.example.org'],
            'data' => ['id' => self::ENROLMENT, 'changed' => ['status', 'contact'],
                       'fields' => ['role' => 'student', 'status' => 'suspended', 'time_start' => '2026-12-01 09:00:00',
                                    'time_end' => '', 'groups_list' => "Group A & B\nGroup C"],
                       'related' => ['contact' => self::CONTACT, 'course' => null, 'intake' => null],
                       'date_modified' => 1796119200, 'deleted' => false],
        ], json_decode(json_encode($message, CrmSyncDelivery::JSON_FLAGS), true));

        $gone = new CrmSyncDelivery(new CrmSyncOutbox($this->db), function () {
            return null;
        }, $GLOBALS['sugar_config']['crmsync'], ['unique_key' => 'k', 'site_url' => ''], CrmSyncFields::MODULES);
        $deleted = $gone->message(['module' => 'mdl_Enrolments', 'record_id' => self::ENROLMENT, 'rows' => [
            ['id' => '10', 'uuid' => '0b6c5d1e-0000-4000-8000-000000000010', 'created' => '2026-12-01 10:00:02',
             'changed' => '["deleted"]', 'attempts' => '0']]]);
        $this->assertSame(['enrolment.deleted', ['contact' => null, 'course' => null, 'intake' => null], [], null, true],
            [$deleted['type'], (array) $deleted['data']['related'], (array) $deleted['data']['fields'],
             $deleted['data']['date_modified'], $deleted['data']['deleted']]);
        $this->assertArrayNotHasKey('moodle', $deleted['data']);
    }
}
