"""The SuiteCRM package: valid PHP, vardefs equal to crm_schema.yaml, a manifest Module Loader accepts,
and a CRM → Moodle channel whose signed batches the Python standardwebhooks library verifies."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from crm_connector.crm_schema import load
from suitecrm_package.build import build

SCHEMA = load()
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    target = tmp_path_factory.mktemp("package")
    path = build(target / "dist")
    with zipfile.ZipFile(path) as archive:
        archive.extractall(target / "unpacked")
        names = archive.namelist()
    return target / "unpacked", names, path


def php_json(script: str, cwd) -> object:
    result = subprocess.run(["php", "-r", script], capture_output=True, text=True, cwd=cwd)
    assert result.returncode == 0, result.stderr + result.stdout
    return json.loads(result.stdout)


def test_zip_is_versioned_and_every_php_file_is_valid(package):
    root, names, path = package
    assert path.name == f"mdl-moodle-sync-{SCHEMA.package['version']}.zip"
    php_files = [n for n in names if n.endswith(".php")]
    assert len(php_files) > 50
    for name in php_files:
        lint = subprocess.run(["php", "-l", str(root / name)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout


def manifest(root) -> dict:
    return php_json("include 'manifest.php'; echo json_encode(['manifest' => $manifest, 'installdefs' => $installdefs]);",
                    root)


def test_manifest_accepts_suitecrm_7_14_and_8(package):
    data = manifest(package[0])["manifest"]
    assert data["type"] == "module" and data["is_uninstallable"] is True and data["key"] == "mdl"
    for version in ("7.14.6", "8.7.1"):
        assert any(re.fullmatch(p, version) for p in data["acceptable_suitecrm_versions"]["regex_matches"])
    assert any(re.fullmatch(p, "6.5.25") for p in data["acceptable_sugar_versions"]["regex_matches"])


def test_every_installdefs_path_is_in_the_zip(package):
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    assert {b["module"] for b in installdefs["beans"]} == {m.name for m in SCHEMA.modules}
    for key in ("layoutdefs", "relationships", "copy", "language", "vardefs"):
        for entry in installdefs[key]:
            source = (entry.get("from") or entry.get("meta_data")).replace("<basepath>/", "")
            assert (root / source).exists(), f"installdefs[{key}] names {source}, missing from the zip"
    hooks = installdefs["logic_hooks"]
    administered = {m.name for m in SCHEMA.modules if m.crm_changes}
    assert administered == {"mdl_Enrolments", "mdl_Groups", "mdl_Intakes", "mdl_Registrations"}
    assert {(h["module"], h["hook"]) for h in hooks} == {
        ("Contacts", "after_save"), ("Contacts", "after_delete"), ("Contacts", "after_retrieve"), ("Contacts", "before_save"),
        *((m, hook) for m in administered for hook in ("after_save", "after_delete", "after_retrieve", "before_save",
                                                        "after_relationship_add", "after_relationship_delete"))}
    # One entry per module and event: Module Loader would keep a second one with the same description.
    assert len(hooks) == len({(h["module"], h["hook"]) for h in hooks})
    for hook in hooks:
        # Module Loader writes these into custom/modules/<module>/logic_hooks.php between single quotes,
        # unescaped (seen on SuiteCRM 7.14.6): a quote there breaks every save of the module.
        for key in ("description", "file", "class", "function"):
            assert not set(hook[key]) & {"'", "\\"}, hook


def test_manifest_registers_the_email_hook_and_its_files_are_valid_php(package):
    """SuiteCRM 7.14 drops a written email1 on a Contact that has an address; the before_save hook fixes it."""
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    [hook] = [h for h in installdefs["logic_hooks"] if (h["module"], h["hook"]) == ("Contacts", "before_save")]
    assert (hook["module"], hook["class"], hook["function"]) == ("Contacts", "CrmSyncEmailHook", "beforeSave")
    assert hook["file"] == "custom/crmsync/CrmSyncEmailHook.php"
    copied = {entry["to"]: entry["from"].replace("<basepath>/", "") for entry in installdefs["copy"]}
    source = root / copied["custom/crmsync"] / "CrmSyncEmailHook.php"
    for php in (source, source.with_name("CrmSyncEmailAddresses.php")):
        assert php.relative_to(root).as_posix() in names
        lint = subprocess.run(["php", "-l", str(php)], capture_output=True, text=True)
        assert lint.returncode == 0, lint.stdout
    # The hook file defines the class the manifest names, and requires its helper from where it is copied to.
    text = source.read_text()
    assert "class CrmSyncEmailHook" in text and "public function beforeSave($bean, $event, $arguments)" in text
    assert "require_once 'custom/crmsync/CrmSyncEmailAddresses.php';" in text


def test_module_vardefs_equal_the_schema(package):
    root = package[0]
    for module in SCHEMA.modules:
        script = ("class VardefManager { static function createVardef() {} } $dictionary = [];"
                  f"include 'SugarModules/modules/{module.name}/vardefs.php'; echo json_encode($dictionary);")
        dictionary = php_json(script, root)[module.name]
        assert dictionary["table"] == module.table
        generated = dictionary["fields"]
        assert list(generated) == [f.name for f in module.fields]
        for field in module.fields:
            vardef = generated[field.name]
            assert vardef["type"] == field.type
            assert vardef.get("len") == (str(field.len) if field.len is not None else None)
            assert vardef.get("precision") == (str(field.precision) if field.precision is not None else None)
            if field.type == "enum":
                assert vardef["options"] == field.options
            # A Moodle id reads 3001 on screen, not "3,001".
            assert vardef.get("disable_num_format", False) is (field.type == "int" and field.name.startswith("moodle_"))


def test_contact_custom_fields_equal_the_schema(package):
    custom = manifest(package[0])["installdefs"]["custom_fields"]
    assert {c["name"]: (c["type"], c["ext1"]) for c in custom.values()} == {
        f.name: (f.type, f.options or "") for f in SCHEMA.contact_fields}


def test_only_the_package_dropdowns_are_shipped(package):
    root = package[0]
    strings = php_json("$app_list_strings = []; include 'SugarModules/language/application/en_us.lang.php';"
                       "echo json_encode($app_list_strings);", root)
    assert set(strings) - {"moduleList", "moduleListSingular"} == set(SCHEMA.dropdowns)


def test_relationship_metadata_uses_module_builder_names(package):
    root = package[0]
    for rel in SCHEMA.relationships:
        metadata = php_json(f"include 'SugarModules/relationships/relationships/{rel.name}MetaData.php';"
                            f"echo json_encode($dictionary['{rel.name}']);", root)
        definition = metadata["relationships"][rel.name]
        assert (metadata["table"], definition["join_key_lhs"], definition["join_key_rhs"]) == (
            rel.join_table, rel.lhs_column, rel.rhs_column)


DELIVERY_SCRIPT = """
require '{root}/SugarModules/custom/crmsync/CrmSyncDelivery.php';
require '{root}/SugarModules/custom/crmsync/CrmSyncFields.php';
// One outbox row of a Contact, as CrmSyncOutbox::due gives it, and the Contact's row in the database.
$group = ['module' => 'Contacts', 'record_id' => 'c0ffee00-0000-4000-8000-000000000042', 'rows' => [
    ['id' => '7', 'uuid' => '0b6c5d1e-0000-4000-8000-000000000007', 'created' => '2026-12-01 10:00:00',
     'changed' => '["last_name"]', 'attempts' => '0']]];
$record = ['last_name' => 'O&#039;Neil &amp;amp; Co', 'first_name' => 'Zoë', 'moodle_site_id_c' => 'site-1',
           'moodle_user_id_c' => '42', 'date_modified' => '2026-12-01 10:00:00', 'deleted' => '0'];
$state = CrmSyncDelivery::state(CrmSyncFields::MODULES['Contacts'], $record);
$delivery = new CrmSyncDelivery(new CrmSyncOutbox(null), function () use ($state) {{ return $state; }},
    ['receiver_url' => 'http://127.0.0.1/', 'secret' => '{secret}', 'previous_secret' => '{previous}'],
    ['unique_key' => 'k', 'site_url' => 'https://crm.example.org'], CrmSyncFields::MODULES);
$message = $delivery->message($group);
$body = json_encode(['events' => [$message]], CrmSyncDelivery::JSON_FLAGS);
echo json_encode(['body' => $body, 'headers' => $delivery->headers('batch-1', {now}, $body)]);
"""


def _signed_batch(root, secret: str, previous: str = "") -> dict:
    import time

    return php_json(DELIVERY_SCRIPT.format(root=root, secret=secret, previous=previous, now=int(time.time())), root)


def _secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def test_the_packages_signed_batch_verifies_with_the_python_standardwebhooks_library(package):
    secret = _secret()
    signed = _signed_batch(package[0], secret)
    batch = Webhook(secret).verify(signed["body"].encode(), signed["headers"])
    [message] = batch["events"]
    assert (message["type"], message["subject"], message["sequence"]) == (
        "contact.updated", "contact:c0ffee00-0000-4000-8000-000000000042", 7)
    assert message["data"]["fields"]["last_name"] == "O'Neil & Co"  # plain text, never HTML-encoded
    assert message["data"]["fields"]["first_name"] == "Zoë"
    assert message["data"]["moodle"] == {"site_id": "site-1", "user_id": 42}


def test_during_a_rotation_the_new_and_the_old_secret_both_verify(package):
    new, old = _secret(), _secret()
    signed = _signed_batch(package[0], new, old)
    assert len(signed["headers"]["webhook-signature"].split(" ")) == 2
    for secret in (new, old):
        Webhook(secret).verify(signed["body"].encode(), signed["headers"])
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret()).verify(signed["body"].encode(), signed["headers"])


def test_the_package_sends_exactly_the_contact_fields_of_the_field_mapping(package):
    from crm_connector.mapping import DEFAULT_MAPPING, _load_mapping

    modules = php_json("require 'SugarModules/custom/crmsync/CrmSyncFields.php'; echo json_encode(CrmSyncFields::MODULES);",
                       package[0])
    assert modules["Contacts"] == {"subject": "contact", "fields": list(_load_mapping(str(DEFAULT_MAPPING))["contact"]),
                                   "moodle": {"site_id": "moodle_site_id_c", "user_id": "moodle_user_id_c"}}


def test_the_package_records_the_crm_changes_of_crm_schema_and_where_each_parent_is_stored(package):
    """What an enrolment's, a group's and an intake's messages carry is crm_schema.yaml's crm_changes, with each
    related parent's relate id field and join table as SuiteCRM's Module Builder names them."""
    embedded = php_json("require 'SugarModules/custom/crmsync/CrmSyncFields.php';"
                        "echo json_encode(['modules' => CrmSyncFields::MODULES, 'joins' => CrmSyncFields::RELATIONSHIPS,"
                        " 'picker' => CrmSyncFields::PICKER]);",
                        package[0])
    administered = {m.name: m.crm_changes for m in SCHEMA.modules if m.crm_changes}
    assert set(embedded["modules"]) == {"Contacts", *administered}
    for name, changes in administered.items():
        module = embedded["modules"][name]
        assert (module["subject"], module["fields"]) == (changes.subject, list(changes.fields))
        assert list(module["related"]) == list(changes.related)
    assert embedded["modules"]["mdl_Enrolments"]["related"]["contact"] == {
        "relationship": "mdl_enrolments_contacts", "link": "mdl_enrolments_contacts",
        "id_field": "mdl_enrolments_contactscontacts_ida"}  # as recorded on SuiteCRM 7.14.6 (fixtures' README)
    assert embedded["modules"]["mdl_Intakes"]["related"]["prospect_list"]["id_field"] == \
        "mdl_intakes_prospectlistsprospectlists_ida"
    assert embedded["joins"]["mdl_enrolments_contacts"] == {
        "table": "mdl_enrolments_contacts_c", "parent": "mdl_enrolments_contactscontacts_ida",
        "child": "mdl_enrolments_contactsmdl_enrolments_idb"}
    assert set(embedded["joins"]) == {rel for changes in administered.values() for rel in changes.related.values()}
    # The PHP tests' stand-in for the generated file holds the same enrolments.
    stand_in = php_json(f"require '{REPO}/tests/php/package/support/site/custom/crmsync/CrmSyncFields.php';"
                        "echo json_encode(['modules' => CrmSyncFields::MODULES, 'joins' => CrmSyncFields::RELATIONSHIPS,"
                        " 'picker' => CrmSyncFields::PICKER]);",
                        package[0])
    assert stand_in["modules"]["mdl_Enrolments"] == embedded["modules"]["mdl_Enrolments"]
    assert stand_in["modules"]["mdl_Registrations"] == embedded["modules"]["mdl_Registrations"]
    assert {name: module.get("waits") for name, module in embedded["modules"].items()} == {
        "Contacts": None, "mdl_Enrolments": True, "mdl_Groups": True, "mdl_Intakes": True, "mdl_Registrations": False}
    assert stand_in["joins"] == {rel: embedded["joins"][rel] for rel in stand_in["joins"]}
    assert stand_in["picker"] == embedded["picker"]


def test_a_sites_own_field_mapping_decides_which_contact_fields_are_sent(tmp_path):
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text("contact:\n  first_name: firstname\n  title: profile.jobtitle\n")
    path = build(tmp_path / "dist", mapping_file=mapping)
    with zipfile.ZipFile(path) as archive:
        text = archive.read("SugarModules/custom/crmsync/CrmSyncFields.php").decode()
    assert "'first_name',\n                'title',\n            )" in text


def test_manifest_registers_the_outbox_hooks_scheduler_job_admin_page_and_table(package):
    """What Module Loader installs for the CRM → Moodle channel (ModuleInstaller::installExt and
    install_copy, SuiteCRM 7.14.6), and that each file is in the zip and valid PHP."""
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    hooks = {(h["hook"], h["function"]) for h in installdefs["logic_hooks"] if h["class"] == "CrmSyncHook"}
    assert hooks == {("after_save", "afterSave"), ("after_delete", "afterDelete"), ("after_retrieve", "afterRetrieve"),
                     ("before_save", "beforeSave"), ("after_relationship_add", "afterRelationshipAdd"),
                     ("after_relationship_delete", "afterRelationshipDelete")}
    assert {h["module"] for h in installdefs["logic_hooks"]} == {"Contacts", "mdl_Enrolments", "mdl_Groups", "mdl_Intakes",
                                                                 "mdl_Registrations"}
    [scheduler] = installdefs["scheduledefs"]
    [admin] = installdefs["administration"]
    assert (scheduler["to_module"], admin["to_module"]) == ("Schedulers", "Administration")
    copied = {entry["to"]: entry["from"].replace("<basepath>/", "") for entry in installdefs["copy"]}
    for target in ("custom/metadata/crmsync_outboxMetaData.php",
                   "custom/Extension/application/Ext/TableDictionary/crmsync_outbox.php",
                   "custom/modules/Administration/CrmSyncStatus.php"):
        assert copied[target] in names, target
    for source in (scheduler["from"], admin["from"], *copied.values()):
        path = root / source.replace("<basepath>/", "")
        for php in ([path] if path.is_file() else sorted(path.rglob("*.php"))):
            lint = subprocess.run(["php", "-l", str(php)], capture_output=True, text=True)
            assert lint.returncode == 0, lint.stdout

    # The scheduled task: its function, listed in $job_strings, named by a Schedulers label.
    job = php_json(f"$job_strings = []; include '{scheduler['from'].replace('<basepath>/', '')}';"
                   "echo json_encode(['jobs' => $job_strings, 'defined' => function_exists('crmsync_deliver_outbox')]);",
                   root)
    assert job == {"jobs": ["crmsync_deliver_outbox"], "defined": True}
    # The table, as the table dictionary extension includes it (from SuiteCRM's root).
    site = root / "site"
    (site / "custom/metadata").mkdir(parents=True)
    (site / "custom/metadata/crmsync_outboxMetaData.php").write_bytes(
        (root / copied["custom/metadata/crmsync_outboxMetaData.php"]).read_bytes())
    table = php_json("$dictionary = []; include '" + str(root / copied[
        "custom/Extension/application/Ext/TableDictionary/crmsync_outbox.php"]) + "'; echo json_encode($dictionary);", site)
    definition = table["crmsync_outbox"]
    assert definition["table"] == "crmsync_outbox" and definition["fields"]["id"]["auto_increment"] is True
    assert {"uuid", "module", "record_id", "action", "changed", "created", "attempts", "next_attempt", "status",
            "last_error", "delivered"} <= set(definition["fields"])
    # The Administration page section links to the page the package copies.
    panel = php_json(f"$admin_group_header = []; include '{admin['from'].replace('<basepath>/', '')}';"
                     "echo json_encode($admin_group_header);", root)
    [[header, _, _, options, _]] = panel
    assert header == "LBL_CRMSYNC_ADMIN_HEADER"
    assert options["Administration"]["crmsync_status"][3] == "./index.php?module=Administration&action=CrmSyncStatus"
    # Install adds the job's Schedulers row, uninstall removes it.
    assert "CrmSyncScheduler::add(" in (root / "scripts/post_install.php").read_text()
    assert "CrmSyncScheduler::remove(" in (root / "scripts/post_uninstall.php").read_text()


def test_the_channels_labels_are_defined_for_administration_and_schedulers(package):
    root = package[0]
    installdefs = manifest(root)["installdefs"]
    targets = _installed_language_files(installdefs)
    admin = _strings(root, targets[f"custom/Extension/modules/Administration/Ext/Language/en_us.{installdefs['id']}.php"])
    schedulers = _strings(root, targets[f"custom/Extension/modules/Schedulers/Ext/Language/en_us.{installdefs['id']}.php"])
    assert schedulers == {"LBL_CRMSYNC_DELIVER_OUTBOX": "Moodle sync: deliver CRM changes"}
    used = set(re.findall(r"LBL_CRMSYNC_[A-Z_]+", (root / "SugarModules/administration/CrmSyncStatus.php").read_text()
                          + (root / "SugarModules/administration/crmsync.php").read_text()))
    assert used and used <= set(admin), sorted(used - set(admin))
    assert admin["LBL_CRMSYNC_STATUS_TITLE"] == "Moodle sync"


def _installed_language_files(installdefs: dict) -> dict[str, list[str]]:
    """Where Module Loader copies each language entry: custom/Extension/modules/<module>/Ext/Language/
    <language>.<package id>.php (ModuleInstaller::getInstallLanguagesPath, SuiteCRM 7.14.6)."""
    targets: dict[str, list[str]] = {}
    for entry in installdefs["language"]:
        module = entry["to_module"]
        base = "custom/Extension/application" if module == "application" else f"custom/Extension/modules/{module}"
        target = f"{base}/Ext/Language/{entry['language']}.{installdefs['id']}.php"
        targets.setdefault(target, []).append(entry["from"].replace("<basepath>/", ""))
    return targets


def test_each_module_gets_one_language_file_so_none_overwrites_another(package):
    targets = _installed_language_files(manifest(package[0])["installdefs"])
    assert {t: sources for t, sources in targets.items() if len(sources) > 1} == {}


def _strings(root, sources: list[str]) -> dict:
    includes = "".join(f"include '{s}';" for s in sources)
    return php_json(f"$mod_strings = []; {includes} echo json_encode((object) $mod_strings);", root)


def test_every_label_the_package_uses_is_defined_for_its_module(package):
    """What a CRM user reads instead of LBL_MDL_ENROLMENTS_CONTACTS_FROM_MDL_ENROLMENTS_TITLE or a blank
    field label: every label key on a field, subpanel or panel resolves in the module's installed strings."""
    root = package[0]
    installdefs = manifest(root)["installdefs"]
    installed = {}  # module -> strings after install (the last copy to a target wins)
    for target, sources in _installed_language_files(installdefs).items():
        module = target.split("/")[3] if "/modules/" in target else "application"
        installed[module] = _strings(root, sources[-1:])
    used: dict[str, set[str]] = {}
    for entry in installdefs["vardefs"]:
        source = entry["from"].replace("<basepath>/", "")
        dictionary = php_json(f"$dictionary = []; include '{source}'; echo json_encode($dictionary);", root)
        for fields in dictionary.values():
            used.setdefault(entry["to_module"], set()).update(f["vname"] for f in fields["fields"].values())
    for entry in installdefs["layoutdefs"]:
        source = entry["from"].replace("<basepath>/", "")
        layout = php_json(f"$layout_defs = []; include '{source}'; echo json_encode($layout_defs);", root)
        for subpanel in layout[entry["to_module"]]["subpanel_setup"].values():
            used.setdefault(entry["to_module"], set()).add(subpanel["title_key"])
    for field in installdefs["custom_fields"].values():
        used.setdefault(field["module"], set()).add(field["label"])
    used["Contacts"].add("LBL_CRMSYNC_PANEL")
    for module in SCHEMA.modules:
        # A custom module's own strings come with its folder (modules/<module>/language), the rest from Ext.
        own = _strings(root, [f"SugarModules/modules/{module.name}/language/en_us.lang.php"])
        installed[module.name] = {**own, **installed.get(module.name, {})}
        script = ("class VardefManager { static function createVardef() {} } $dictionary = [];"
                  f"include 'SugarModules/modules/{module.name}/vardefs.php'; echo json_encode($dictionary);")
        fields = php_json(script, root)[module.name]["fields"]
        used.setdefault(module.name, set()).update(f["vname"] for f in fields.values())
    missing = {module: sorted(keys - set(installed.get(module, {}))) for module, keys in used.items()}
    assert {m: keys for m, keys in missing.items() if keys} == {}
    assert installed["Contacts"]["LBL_MDL_ENROLMENTS_CONTACTS_FROM_MDL_ENROLMENTS_TITLE"] == "Moodle Enrolments"
    assert installed["Contacts"]["LBL_MDL_CONSENTS_CONTACTS_FROM_MDL_CONSENTS_TITLE"] == "Moodle Consents"
    assert installed["mdl_Courses"]["LBL_MDL_ACTIVITIES_MDL_COURSES_FROM_MDL_ACTIVITIES_TITLE"] == "Moodle Activities"
    assert installed["Contacts"]["LBL_MOODLE_USER_ID_C"] == "Moodle user id"


def test_module_tables_are_indexed_on_the_ids_the_connector_looks_records_up_by(package):
    root = package[0]
    for module in SCHEMA.modules:
        script = ("class VardefManager { static function createVardef() {} } $dictionary = [];"
                  f"include 'SugarModules/modules/{module.name}/vardefs.php'; echo json_encode($dictionary);")
        indices = php_json(script, root)[module.name]["indices"] or {}  # PHP's empty array is JSON's []
        assert sorted((i["type"], tuple(i["fields"])) for i in indices.values()) == sorted(
            ("index", fields) for fields in module.indices), module.name
        # Intakes and the catalogue are looked up by their CRM ids only; every module Moodle fills by Moodle ids.
        assert module.indices or module.name in {"mdl_Intakes", "mdl_RegProjects", "mdl_Programmes"}
        assert all(name == i["name"] and len(name) <= 64 and name.startswith(f"idx_{module.table}_")
                                      for name, i in indices.items())


def test_every_custom_module_has_its_views_and_a_subpanel_where_the_schema_says(package):
    root, names, _ = package
    for module in SCHEMA.modules:
        for view in ("listviewdefs", "detailviewdefs", "editviewdefs", "searchdefs", "popupdefs",
                     "subpanels/default"):
            assert f"SugarModules/modules/{module.name}/metadata/{view}.php" in names, (module.name, view)
    layouts = {(e["to_module"], e["from"].rsplit("/", 1)[1]) for e in manifest(root)["installdefs"]["layoutdefs"]}
    assert ("mdl_Courses", "mdl_activities_mdl_courses.php") in layouts
    assert ("Contacts", "mdl_consents_contacts.php") in layouts


def test_a_childs_views_link_to_its_learner_and_course(package):
    """Seen on a real SuiteCRM: an enrolment's detail view named neither its learner nor its course."""
    root = package[0]
    for module in SCHEMA.modules:
        parents = [rel for rel in SCHEMA.relationships if rel.rhs_module == module.name and not rel.many_to_many]
        if not parents:
            continue
        views = php_json(f"$module_name = '{module.name}'; include 'SugarModules/modules/{module.name}/metadata/"
                         f"detailviewdefs.php'; include 'SugarModules/modules/{module.name}/metadata/listviewdefs.php';"
                         " echo json_encode(['detail' => $viewdefs[$module_name]['DetailView']['panels']['default'],"
                         " 'list' => array_keys($listViewDefs[$module_name])]);", root)
        shown = {cell for row in views["detail"] for cell in row}
        assert {rel.relate_name_field for rel in parents} <= shown, module.name
        assert views["list"][1] == parents[0].relate_name_field.upper(), module.name


# schedulers as SuiteCRM 7.14.6 creates it (modules/Schedulers/vardefs.php).
SCHEDULERS_TABLE = """CREATE TABLE schedulers (id char(36) NOT NULL PRIMARY KEY, deleted tinyint(1) DEFAULT 0,
    date_entered datetime, date_modified datetime, created_by char(36), modified_user_id char(36), name varchar(255),
    job varchar(255), date_time_start datetime, date_time_end datetime, job_interval varchar(100), time_from time,
    time_to time, last_run datetime, status varchar(100), catch_up tinyint(1) DEFAULT 1)"""

SCRIPT_DRIVER = """
require '{repo}/tests/php/package/support/suitecrm_functions.php';
require '{repo}/tests/php/package/support/MysqlIndexDb.php';
$GLOBALS['db'] = MysqlIndexDb::connect();
chdir('{site}');
{run}
$views = [];
foreach (['DetailView' => 'detailviewdefs.php', 'EditView' => 'editviewdefs.php'] as $view => $file) {{
    $viewdefs = [];
    include is_file("custom/modules/Contacts/metadata/$file") ? "custom/modules/Contacts/metadata/$file"
                                                             : "modules/Contacts/metadata/$file";
    $views[$view] = $viewdefs['Contacts'][$view];
}}
echo json_encode(['views' => $views, 'indices' => $GLOBALS['db']->get_indices('contacts_cstm'),
                  'cleared' => TemplateHandler::$cleared,
                  'repaired' => $GLOBALS['db']->repaired, 'removed_hooks' => $GLOBALS['removed_logic_hooks'] ?? [],
                  'schedulers' => $GLOBALS['db']->link->query('SELECT job, job_interval, status, deleted FROM schedulers')
                                                      ->fetch_all(MYSQLI_ASSOC)]);
"""


def test_the_install_scripts_show_every_moodle_field_on_the_contact_and_index_contacts_cstm(
        package, tmp_path, mariadb_database):
    """scripts/post_install.php as Module Loader runs it (SuiteCRM's root as working directory), then the
    installdefs post_uninstall script, on core's Contacts layouts and a real contacts_cstm."""
    root = package[0]
    repo = REPO
    site = tmp_path / "suitecrm"
    (site / "modules/Contacts").mkdir(parents=True)
    subprocess.run(["cp", "-R", str(repo / "tests/php/package/fixtures/core-layout/modules/Contacts/metadata"),
                    str(site / "modules/Contacts/")], check=True)
    (site / "include/TemplateHandler").mkdir(parents=True)
    (site / "include/TemplateHandler/TemplateHandler.php").write_text(
        "<?php class TemplateHandler { public static $cleared = []; "
        "public static function clearCache($m) { self::$cleared[] = $m; } }")
    engine = create_engine(mariadb_database)
    with engine.begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS contacts_cstm"))
        conn.execute(text("CREATE TABLE contacts_cstm (id_c char(36) NOT NULL PRIMARY KEY, "
                          + ", ".join(f"{f.name} varchar(255)" for f in SCHEMA.contact_fields) + ")"))
        conn.execute(text("DROP TABLE IF EXISTS schedulers"))
        conn.execute(text(SCHEDULERS_TABLE))
    env = {**os.environ, "TEST_MARIADB_URL": mariadb_database}

    def run(code: str) -> dict:
        script = SCRIPT_DRIVER.format(repo=repo, site=site, run=code)
        result = subprocess.run(["php", "-r", script], capture_output=True, text=True, env=env)
        assert result.returncode == 0, result.stderr + result.stdout
        return json.loads(result.stdout)

    try:
        installed = run(f"require '{root}/scripts/post_install.php'; post_install();")
        for view in ("DetailView", "EditView"):
            panel = installed["views"][view]["panels"]["LBL_CRMSYNC_PANEL"]
            assert [c["name"] for row in panel for c in row if c] == [f.name for f in SCHEMA.contact_fields]
        # Shown, not editable: Moodle owns the values; an enum shows its label, not its key.
        edit = {c["name"]: c for row in installed["views"]["EditView"]["panels"]["LBL_CRMSYNC_PANEL"] for c in row if c}
        for f in SCHEMA.contact_fields:
            assert (edit[f.name].get("type"), edit[f.name].get("customCode")) == (
                (None, f"{{$fields.{f.name}.options[$fields.{f.name}.value]}}") if f.type == "enum"
                else ("readonly", None)), f.name
        [index] = [i for name, i in installed["indices"].items() if name != "primary"]
        assert [index["fields"]] == [list(fields) for fields in SCHEMA.contact_indices]
        assert installed["cleared"] == ["Contacts"], "the compiled views that predate the panel are dropped"

        # The job runs every minute once installed: a scheduled task without a Schedulers row never runs.
        assert installed["schedulers"] == [{"job": "function::crmsync_deliver_outbox", "job_interval": "*::*::*::*::*",
                                            "status": "Active", "deleted": "0"}]
        # The outbox table is created (Module Loader's repair leaves it out), and an upgrade takes away the hook
        # an earlier version registered, which would record every change a second time.
        [[fields, indices]] = [installed["repaired"]["crmsync_outbox"]]
        assert fields["id"]["auto_increment"] is True and {i["type"] for i in indices} == {"primary", "index"}
        assert [(m, e, h[1]) for m, e, h in installed["removed_hooks"]] == [
            (m, "after_save", "Moodle sync: tell the receiver about a change made in the CRM")
            for m in ("Contacts", "mdl_Enrolments")]
        again = run(f"require '{root}/scripts/post_install.php'; post_install();")
        assert len(again["schedulers"]) == 1, "an upgrade adds no second row"

        removed = run(f"require '{root}/scripts/post_uninstall.php';")
        assert all("LBL_CRMSYNC_PANEL" not in v["panels"] for v in removed["views"].values())
        assert list(removed["indices"]) == ["primary"]
        assert [row["deleted"] for row in removed["schedulers"]] == ["1"]
        assert not (site / "custom").exists() or not any((site / "custom").rglob("*.php"))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS contacts_cstm"))
            conn.execute(text("DROP TABLE IF EXISTS schedulers"))
        engine.dispose()


def test_the_uninstall_script_is_registered_and_the_install_script_is_where_module_loader_looks(package):
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    assert installdefs["post_uninstall"] == ["<basepath>/scripts/post_uninstall.php"]
    # UpgradeWizard_commit includes <package>/scripts/post_install.php (SUGARCRM_POST_INSTALL_FILE).
    assert "scripts/post_install.php" in names


def test_an_intake_hangs_off_a_target_list_as_module_builder_relates_a_core_module(package):
    """ProspectLists is SuiteCRM's own module (the Target List): its vardefs are $dictionary['ProspectList'],
    its table prospect_lists, and the intakes subpanel sits on the Target List's detail view."""
    root = package[0]
    installdefs = manifest(root)["installdefs"]
    rel = SCHEMA.relationship("ProspectLists", "mdl_Intakes")
    assert ("ProspectLists", f"{rel.name}.php") in {
        (e["to_module"], e["from"].rsplit("/", 1)[1]) for e in installdefs["layoutdefs"]}
    [vardefs] = [e for e in installdefs["vardefs"] if e["to_module"] == "ProspectLists"]
    parent = php_json(f"$dictionary = []; include '{vardefs['from'].replace('<basepath>/', '')}'; echo json_encode($dictionary);",
                      root)
    assert parent["ProspectList"]["fields"][rel.link]["module"] == "mdl_Intakes"
    child = php_json(f"$dictionary = []; include 'SugarModules/relationships/vardefs/{rel.name}_mdl_Intakes.php';"
                     " echo json_encode($dictionary);", root)["mdl_Intakes"]["fields"]
    assert (child[rel.link]["bean_name"], child[rel.relate_name_field]["table"], child[rel.relate_name_field]["id_name"]) == (
        "ProspectList", "prospect_lists", "mdl_intakes_prospectlistsprospectlists_ida")
    metadata = php_json(f"include 'SugarModules/relationships/relationships/{rel.name}MetaData.php';"
                        f"echo json_encode($dictionary['{rel.name}']['relationships']['{rel.name}']);", root)
    assert (metadata["lhs_table"], metadata["rhs_table"]) == ("prospect_lists", "mdl_intakes")
    labels = _strings(root, ["SugarModules/language/ProspectLists/en_us.lang.php"])
    assert labels["LBL_MDL_INTAKES_PROSPECTLISTS_FROM_MDL_INTAKES_TITLE"] == "Moodle Intakes"
    intake_labels = _strings(root, ["SugarModules/language/mdl_Intakes/en_us.lang.php"])
    assert intake_labels["LBL_MDL_INTAKES_PROSPECTLISTS_FROM_PROSPECTLISTS_TITLE"] == "Target List"


# What 1.1.0's manifest registered (released 2026-12; the descriptions are the hooks' identity).
HOOKS_1_1_0 = [
    *(("Contacts", hook, [90, f"Moodle sync: {what}", "custom/crmsync/CrmSyncHook.php", "CrmSyncHook", function])
      for hook, function, what in (("after_save", "afterSave", "record a change for Moodle in the outbox"),
                                   ("after_delete", "afterDelete", "record a deletion for Moodle in the outbox"),
                                   ("after_retrieve", "afterRetrieve", "note the e-mail address a save may change"))),
    ("Contacts", "before_save", [90, "Moodle sync: a written email1 becomes the primary e-mail address of the Contact",
                                 "custom/crmsync/CrmSyncEmailHook.php", "CrmSyncEmailHook", "beforeSave"]),
]


def test_an_upgrade_from_1_1_0_creates_the_new_modules_and_registers_each_hook_once(package):
    """Module Loader's upgrade installs this version over 1.1.0 without uninstalling its hooks
    (ModuleInstaller::install: install_beans creates the new modules' tables, install_relationships the new
    join tables, repairDatabase the new columns, enable_manifest_logichooks adds each hook missing from
    custom/modules/<module>/logic_hooks.php); post_install then removes RETIRED_HOOKS."""
    root = package[0]
    installdefs = manifest(root)["installdefs"]
    assert {"mdl_Groups", "mdl_Intakes"} <= {b["module"] for b in installdefs["beans"]}
    assert {e["meta_data"].rsplit("/", 1)[1] for e in installdefs["relationships"]} == {
        f"{rel.name}MetaData.php" for rel in SCHEMA.relationships}
    registered = {(module, hook): [entry] for module, hook, entry in HOOKS_1_1_0}
    for h in installdefs["logic_hooks"]:  # check_logic_hook_file: added unless the same entry is there
        entry = [h["order"], h["description"], h["file"], h["class"], h["function"]]
        if entry not in registered.setdefault((h["module"], h["hook"]), []):
            registered[(h["module"], h["hook"])].append(entry)
    text = (root / "scripts/post_install.php").read_text()
    retired = re.findall(r"remove_logic_hook\('(\w+)', '(\w+)', array\(\s*90,\s*'([^']+)'", text)
    assert len(retired) == 2, text
    for module, hook, description in retired:
        registered[(module, hook)] = [e for e in registered.get((module, hook), []) if e[1] != description]
    assert {key: len(entries) for key, entries in registered.items() if len(entries) != 1} == {}, \
        "a hook registered twice records every change twice"
    assert ("mdl_Intakes", "after_relationship_add") in registered


def test_a_programmes_courses_are_a_many_to_many_relationship_with_a_subpanel_on_each_side(package):
    """Module Builder's many-to-many: one join table with a key on the pair, a link field on each module and no
    relate field (neither side holds one other record), a subpanel on each detail view."""
    root = package[0]
    rel = next(r for r in SCHEMA.relationships if r.name == "mdl_programmes_mdl_courses")
    assert (rel.lhs_module, rel.rhs_module, rel.many_to_many) == ("mdl_Programmes", "mdl_Courses", True)
    metadata = php_json(f"include 'SugarModules/relationships/relationships/{rel.name}MetaData.php';"
                        f"echo json_encode($dictionary['{rel.name}']);", root)
    assert metadata["true_relationship_type"] == "many-to-many"
    assert {i["type"]: i["fields"] for i in metadata["indices"]}["alternate_key"] == [
        rel.lhs_column, rel.rhs_column]
    for module, other in (("mdl_Programmes", "mdl_Courses"), ("mdl_Courses", "mdl_Programmes")):
        fields = php_json(f"include 'SugarModules/relationships/vardefs/{rel.name}_{module}.php';"
                          f"echo json_encode($dictionary['{module}']['fields']);", root)
        assert list(fields) == [rel.link]
        assert (fields[rel.link]["type"], fields[rel.link]["module"]) == ("link", other)
    layouts = {(e["to_module"], e["from"].rsplit("/", 1)[1]) for e in manifest(root)["installdefs"]["layoutdefs"]}
    assert {("mdl_Programmes", f"{rel.name}_mdl_Programmes.php"), ("mdl_Courses", f"{rel.name}_mdl_Courses.php")} <= layouts
    with pytest.raises(ValueError):
        rel.relate_id_field  # noqa: B018 - no record holds "its" course


def test_registration_list_views_show_sensible_columns_and_offer_the_others_in_the_column_chooser(package):
    """SuiteCRM's list view shows the columns whose `default` is true; the column chooser offers the others."""
    root = package[0]
    for name in ("mdl_Registrations", "mdl_Programmes", "mdl_RegProjects"):
        module = SCHEMA.module(name)
        columns = php_json(f"$module_name = '{name}'; include 'SugarModules/modules/{name}/metadata/listviewdefs.php';"
                           " echo json_encode($listViewDefs[$module_name]);", root)
        shown = [key.lower() for key, column in columns.items() if column["default"]]
        offered = [key.lower() for key, column in columns.items() if not column["default"]]
        parents = [r.relate_name_field for r in SCHEMA.relationships if r.rhs_module == name]
        assert shown == [module.list_fields[0], *parents[:1], *module.list_fields[1:]], name
        assert offered == [*parents[1:], *module.list_available], name
    registrations = php_json("$module_name = 'mdl_Registrations'; include 'SugarModules/modules/mdl_Registrations/"
                             "metadata/listviewdefs.php'; echo json_encode(array_keys($listViewDefs[$module_name]));", root)
    assert registrations[:3] == ["NAME", "MDL_REGISTRATIONS_MDL_PROGRAMMES_NAME", "EMAIL"]
    assert "MDL_REGISTRATIONS_CONTACTS_NAME" in registrations
    # Filters on programme, status and the dates (range search on datetimes).
    search = php_json("$module_name = 'mdl_Registrations'; include 'SugarModules/modules/mdl_Registrations/metadata/"
                      "searchdefs.php'; include 'SugarModules/modules/mdl_Registrations/metadata/SearchFields.php';"
                      " echo json_encode(['layout' => array_keys($searchdefs[$module_name]['layout']['advanced_search']),"
                      " 'fields' => array_keys($searchFields[$module_name])]);", root)
    assert {"mdl_registrations_mdl_programmes_name", "status", "submitted_at", "confirmed_at"} <= set(search["layout"])
    assert {"range_submitted_at", "start_range_submitted_at", "end_range_submitted_at"} <= set(search["fields"])


def test_a_programmes_status_is_shown_not_editable_on_its_edit_view(package):
    """The registration service writes a programme's status (open, full ...): staff see it, the form keeps it."""
    edit = php_json("$module_name = 'mdl_Programmes'; include 'SugarModules/modules/mdl_Programmes/metadata/"
                    "editviewdefs.php'; echo json_encode($viewdefs[$module_name]['EditView']['panels']['default']);",
                    package[0])
    cells = {(cell["name"] if isinstance(cell, dict) else cell): cell for row in edit for cell in row}
    assert cells["status"]["customCode"] == "{$fields.status.options[$fields.status.value]}"
    assert cells["capacity"] == "capacity"
    assert "mdl_programmes_mdl_regprojects_name" in cells


def test_edit_views_offer_real_courses_and_groups_to_pick_from(package):
    """The names fields of crm_schema.yaml with a picker: their edit views load CrmSyncPicker.js, whose
    config names each field and where its course comes from (the form's relate id field of the enrolment's
    course, or the intake's Courses field), and the entry point it asks is registered for logged-in users."""
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    [entry] = installdefs["entrypoints"]
    assert entry["to_module"] == "application"
    registry = php_json(f"$entry_point_registry = []; include '{entry['from'].replace('<basepath>/', '')}';"
                        "echo json_encode($entry_point_registry);", root)
    assert registry == {"crmsyncPicker": {"file": "custom/crmsync/CrmSyncPickerEntryPoint.php", "auth": True}}
    copied = {e["to"]: e["from"].replace("<basepath>/", "") for e in installdefs["copy"]}
    for php in ("CrmSyncPicker.php", "CrmSyncPickerEntryPoint.php"):
        source = root / copied["custom/crmsync"] / php
        assert subprocess.run(["php", "-l", str(source)], capture_output=True).returncode == 0
    script = (root / copied["custom/crmsync"] / "CrmSyncPicker.js").read_text()
    config = json.loads(re.search(r"var PICKERS = (\{.*\});", script).group(1))
    assert config == {
        "mdl_Enrolments": {"groups_list": {"choices": "groups",
                                           "course_id_field": "mdl_enrolments_mdl_coursesmdl_courses_ida"}},
        "mdl_Intakes": {"courses": {"choices": "courses"},
                        "groups_list": {"choices": "groups", "courses_field": "courses"},
                        "move_from": {"choices": "groups", "courses_field": "courses"}}}
    for module in SCHEMA.modules:
        edit = php_json(f"$viewdefs = []; include 'SugarModules/modules/{module.name}/metadata/editviewdefs.php';"
                        "echo json_encode($viewdefs);", root)[module.name]["EditView"]
        assert (edit["templateMeta"].get("includes") == [{"file": "custom/crmsync/CrmSyncPicker.js"}]) \
            is (module.name in config)
        on_form = {cell["name"] if isinstance(cell, dict) else cell for row in edit["panels"]["default"] for cell in row}
        assert set(config.get(module.name, {})) <= on_form
