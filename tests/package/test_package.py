"""The SuiteCRM package: valid PHP, vardefs equal to crm_schema.yaml, a manifest Module Loader accepts,
and a logic hook whose signed notification the Python standardwebhooks library verifies."""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from standardwebhooks import Webhook

from crm_connector.crm_schema import load
from suitecrm_package.build import build
from tests.support import free_port

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
    assert {(h["module"], h["hook"]) for h in hooks} == {
        ("Contacts", "after_save"), ("mdl_Enrolments", "after_save"), ("Contacts", "before_save")}
    for hook in hooks:
        # Module Loader writes these into custom/modules/<module>/logic_hooks.php between single quotes,
        # unescaped (seen on SuiteCRM 7.14.6): a quote there breaks every save of the module.
        for key in ("description", "file", "class", "function"):
            assert not set(hook[key]) & {"'", "\\"}, hook


def test_manifest_registers_the_email_hook_and_its_files_are_valid_php(package):
    """SuiteCRM 7.14 drops a written email1 on a Contact that has an address; the before_save hook fixes it."""
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    [hook] = [h for h in installdefs["logic_hooks"] if h["hook"] == "before_save"]
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


HOOK_SCRIPT = """
require '{root}/SugarModules/custom/crmsync/CrmSyncNotifier.php';
$logged = [];
$notifier = new CrmSyncNotifier(['receiver_url' => '{url}', 'secret' => '{secret}', 'api_user_id' => 'api-user',
                                 'timeout' => 2], function ($level, $message) use (&$logged) {{ $logged[] = $message; }});
$bean = new stdClass();
$bean->id = 'c0ffee00-0000-4000-8000-000000000042';
$bean->first_name = 'Ada'; $bean->last_name = 'Lovelace'; $bean->moodle_user_id_c = '42';
$bean->fetched_row = ['first_name' => 'Augusta', 'last_name' => 'Lovelace', 'moodle_user_id_c' => '42'];
$payload = $notifier->payload('Contacts', $bean, 'https://crm.example.org', 'evt-1', {now});
$status = $notifier->send($payload, {now});
echo json_encode(['configured' => $notifier->isConfigured(), 'own' => $notifier->isOwnWrite('api-user'),
                  'other' => $notifier->isOwnWrite('1'), 'status' => $status, 'logged' => $logged]);
"""


def _run_hook(root, url: str, secret: str, now: int) -> dict:
    return php_json(HOOK_SCRIPT.format(root=root, url=url, secret=secret, now=now), root)


def test_hook_posts_a_signed_payload_the_python_library_verifies(package):
    received = {}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            received["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            received["headers"] = {k.lower(): v for k, v in self.headers.items()}
            self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    import time

    now = int(time.time())
    try:
        result = _run_hook(package[0], f"http://127.0.0.1:{server.server_port}/webhooks/crm", secret, now)
    finally:
        server.shutdown()
    assert result == {"configured": True, "own": True, "other": False, "status": 202, "logged": []}
    payload = Webhook(secret).verify(received["body"], received["headers"])
    assert payload["type"] == "crm.contact.updated"
    assert payload["record"] == {"module": "Contacts", "id": "c0ffee00-0000-4000-8000-000000000042"}
    assert payload["changed"] == ["first_name", "email1", "phone_work", "phone_mobile", "department",
                                  "primary_address_city", "primary_address_country"]


def test_hook_failure_is_logged_not_thrown(package):
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    result = _run_hook(package[0], f"http://127.0.0.1:{free_port()}/webhooks/crm", secret, 1795344000)
    assert result["status"] == 0
    assert result["logged"] and "receiver answered 0" in result["logged"][0]


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
        indices = php_json(script, root)[module.name]["indices"]
        assert sorted((i["type"], tuple(i["fields"])) for i in indices.values()) == sorted(
            ("index", fields) for fields in module.indices), module.name
        assert module.indices and all(name == i["name"] and len(name) <= 64 and name.startswith(f"idx_{module.table}_")
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
                  'cleared' => TemplateHandler::$cleared]);
"""


def test_the_install_scripts_show_every_moodle_field_on_the_contact_and_index_contacts_cstm(
        package, tmp_path, mariadb_database):
    """scripts/post_install.php as Module Loader runs it (SuiteCRM's root as working directory), then the
    installdefs post_uninstall script, on core's Contacts layouts and a real contacts_cstm."""
    root = package[0]
    repo = REPO
    site = tmp_path / "suitecrm"
    (site / "modules/Contacts").mkdir(parents=True)
    subprocess.run(["cp", "-R", str(repo / "tests/php/package/fixtures/suitecrm-7.14.6/modules/Contacts/metadata"),
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

        removed = run(f"require '{root}/scripts/post_uninstall.php';")
        assert all("LBL_CRMSYNC_PANEL" not in v["panels"] for v in removed["views"].values())
        assert list(removed["indices"]) == ["primary"]
        assert not (site / "custom").exists() or not any((site / "custom").rglob("*.php"))
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE IF EXISTS contacts_cstm"))
        engine.dispose()


def test_the_uninstall_script_is_registered_and_the_install_script_is_where_module_loader_looks(package):
    root, names, _ = package
    installdefs = manifest(root)["installdefs"]
    assert installdefs["post_uninstall"] == ["<basepath>/scripts/post_uninstall.php"]
    # UpgradeWizard_commit includes <package>/scripts/post_install.php (SUGARCRM_POST_INSTALL_FILE).
    assert "scripts/post_install.php" in names
