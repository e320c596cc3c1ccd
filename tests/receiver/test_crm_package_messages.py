"""The messages the SuiteCRM package builds (its own PHP, suitecrm_package/templates/CrmSyncDelivery.php,
with the field list the package build generates) are what /webhooks/crm accepts, and arrive as plain text."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from sqlalchemy import select

from crm_connector.crm_schema import load
from crmsync import db
from crmsync.models import InboxEvent
from suitecrm_package.build import outbox_fields
from tests.support import REPO

LINKED = "b01740b3-5021-693e-195e-6b0f36de7703"
PURGED = "c2f8a4e1-0b7d-4e3a-9c5f-1a2b3c4d5e6f"

# The Contact as SuiteCRM hands it to the package: values HTML-encoded (once, or twice in _cstm columns).
BUILD = r"""<?php
require_once $argv[1] . '/CrmSyncDelivery.php';
require_once $argv[2];
$module = CrmSyncFields::MODULES['Contacts'];
$row = array_fill_keys($module['fields'], '');
$row = array_merge($row, array('first_name' => 'Siobh&aacute;n', 'last_name' => 'O&#039;Neil &amp;amp; Co',
    'email1' => 's.oneil@example.org', 'primary_address_street' => "1 High St\nFlat 2",
    'moodle_site_id_c' => '7c1f0b9e2d4a61f3b8c0', 'moodle_user_id_c' => '42',
    'date_modified' => '2026-12-01 21:04:54', 'deleted' => '0'));
$records = array($argv[3] => $row);
$state = function (string $m, string $id) use ($records, $module) {
    return isset($records[$id]) ? CrmSyncDelivery::state($module, $records[$id]) : null;
};
$delivery = new CrmSyncDelivery(new CrmSyncOutbox(null), $state, array(),
    array('unique_key' => 'a-unique-key', 'site_url' => 'https://crm.example.org'), CrmSyncFields::MODULES);
$rows = function (int $id, string $changed) {
    return array(array('id' => $id, 'uuid' => CrmSyncOutbox::uuid(), 'created' => '2026-12-01 21:04:54',
        'changed' => $changed));
};
echo json_encode(array('events' => array(
    $delivery->message(array('module' => 'Contacts', 'record_id' => $argv[3], 'rows' => $rows(7, '["last_name"]'))),
    $delivery->message(array('module' => 'Contacts', 'record_id' => $argv[4], 'rows' => $rows(8, '["deleted"]'))),
)), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
"""


def test_the_packages_messages_are_accepted_and_stored_as_plain_text(receiver, database_url, tmp_path):
    if shutil.which("php") is None:
        pytest.fail("php is not installed (make test installs php-cli)")
    fields = tmp_path / "CrmSyncFields.php"
    fields.write_text(outbox_fields(load()))
    script = tmp_path / "build.php"
    script.write_text(BUILD)
    built = subprocess.run(["php", str(script), str(REPO / "suitecrm_package" / "templates"), str(fields), LINKED,
                            PURGED], capture_output=True, text=True, check=True, timeout=60)

    response = receiver.post_crm(built.stdout)
    assert response.status_code == 202, response.json
    assert response.json["accepted"] == 2
    with db.session_scope(database_url) as session:
        stored = {e.subject: (e.type, e.site_id, e.payload["data"]) for e in session.scalars(select(InboxEvent))}
    kind, site, data = stored[f"contact:{LINKED}"]
    assert kind == "contact.updated" and site.startswith("crm:")
    assert (data["fields"]["first_name"], data["fields"]["last_name"]) == ("Siobhán", "O'Neil & Co")
    assert data["fields"]["primary_address_street"] == "1 High St\nFlat 2"
    assert data["moodle"] == {"site_id": "7c1f0b9e2d4a61f3b8c0", "user_id": 42}
    kind, _, data = stored[f"contact:{PURGED}"]
    assert kind == "contact.deleted" and (data["fields"], data["date_modified"]) == ({}, None)
    assert json.loads(built.stdout)["events"][1]["data"]["changed"] == ["deleted"]


# An enrolment, a group and an intake as the database holds them (values HTML-encoded once), with their
# parents' ids as the join tables hold them ('' for none); then each message, updated, and one deleted.
ADMINISTERED = r"""<?php
require_once $argv[1] . '/CrmSyncDelivery.php';
require_once $argv[2];
$records = array(
    'mdl_Enrolments' => array(array('role' => 'editingteacher', 'status' => 'active', 'time_start' => '2026-12-01 09:00:00',
        'time_end' => null, 'groups_list' => "Group A &amp; B\nGroup C", 'date_modified' => '2026-12-01 21:04:54',
        'deleted' => '0'), array('contact' => $argv[3], 'course' => $argv[4], 'intake' => '')),
    'mdl_Groups' => array(array('name' => 'Tuesday &amp; Thursday', 'idnumber' => 'TT-1', 'description' => '',
        'date_modified' => '2026-12-01 21:04:54', 'deleted' => '0'), array('course' => $argv[4])),
    'mdl_Intakes' => array(array('action' => 'move', 'courses' => "MATH101\nPHYS101", 'groups_list' => 'Group B',
        'move_from' => 'Group A', 'role' => 'student', 'time_start' => '', 'time_end' => '',
        'date_modified' => '2026-12-01 21:04:54', 'deleted' => '0'), array('prospect_list' => $argv[3])),
);
$state = function (string $module, string $id) use ($records) {
    return CrmSyncDelivery::state(CrmSyncFields::MODULES[$module], $records[$module][0], $records[$module][1]);
};
$delivery = new CrmSyncDelivery(new CrmSyncOutbox(null), $state, array(),
    array('unique_key' => 'a-unique-key', 'site_url' => 'https://crm.example.org'), CrmSyncFields::MODULES);
$events = array();
$sequence = 10;
foreach (array('mdl_Enrolments' => '["status","contact"]', 'mdl_Groups' => '["name"]', 'mdl_Intakes' => '["prospect_list"]')
         as $module => $changed) {
    $events[] = $delivery->message(array('module' => $module, 'record_id' => $argv[5], 'rows' => array(array(
        'id' => $sequence++, 'uuid' => CrmSyncOutbox::uuid(), 'created' => '2026-12-01 21:04:54', 'changed' => $changed))));
}
$gone = new CrmSyncDelivery(new CrmSyncOutbox(null), function () { return null; }, array(),
    array('unique_key' => 'a-unique-key', 'site_url' => 'https://crm.example.org'), CrmSyncFields::MODULES);
$events[] = $gone->message(array('module' => 'mdl_Enrolments', 'record_id' => $argv[6], 'rows' => array(array(
    'id' => $sequence, 'uuid' => CrmSyncOutbox::uuid(), 'created' => '2026-12-01 21:04:55', 'changed' => '["deleted"]'))));
echo json_encode(array('events' => $events), JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
"""


def test_the_packages_enrolment_group_and_intake_messages_follow_the_crm_contract(receiver, database_url, tmp_path):
    from crmsync.contract import CRM, validator_for

    fields = tmp_path / "CrmSyncFields.php"
    fields.write_text(outbox_fields(load()))
    script = tmp_path / "administered.php"
    script.write_text(ADMINISTERED)
    course, record = "0c0c0c0c-0000-4000-8000-000000000007", "e0000000-0000-4000-8000-000000000001"
    built = subprocess.run(["php", str(script), str(REPO / "suitecrm_package" / "templates"), str(fields), LINKED, course,
                            record, PURGED], capture_output=True, text=True, check=True, timeout=60)
    events = json.loads(built.stdout)["events"]
    for event in events:
        errors = [error.message for error in validator_for(event["type"], CRM).iter_errors(event)]
        assert errors == [], (event["type"], errors)
    assert [e["type"] for e in events] == ["enrolment.updated", "group.updated", "intake.updated", "enrolment.deleted"]

    response = receiver.post_crm(built.stdout)
    assert response.status_code == 202, response.json
    with db.session_scope(database_url) as session:
        stored = {(e.type, e.subject): e.payload["data"] for e in session.scalars(select(InboxEvent))}
    enrolment = stored[("enrolment.updated", f"enrolment:{record}")]
    assert enrolment["fields"] == {"role": "editingteacher", "status": "active", "time_start": "2026-12-01 09:00:00",
                                   "time_end": "", "groups_list": "Group A & B\nGroup C"}
    assert (enrolment["related"], enrolment["changed"]) == (
        {"contact": LINKED, "course": course, "intake": None}, ["status", "contact"])
    assert stored[("group.updated", f"group:{record}")]["fields"]["name"] == "Tuesday & Thursday"
    assert stored[("intake.updated", f"intake:{record}")]["related"] == {"prospect_list": LINKED}
    deleted = stored[("enrolment.deleted", f"enrolment:{PURGED}")]
    assert (deleted["fields"], deleted["related"], deleted["date_modified"]) == (
        {}, {"contact": None, "course": None, "intake": None}, None)
