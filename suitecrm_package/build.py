"""Build the SuiteCRM Module Loader package from crm_connector/crm_schema.yaml.

The layout is what SuiteCRM 7.14's Module Builder *Publish* produces (modules/ModuleBuilder/MB/
MBPackage.php, MBModule.php, MBRelationship.php): manifest.php, SugarModules/modules/<Module>/,
SugarModules/relationships/{relationships,layoutdefs,vardefs}/, SugarModules/language/<module>/,
icons/. On top of that, the Contacts custom fields (installdefs `custom_fields`, as Studio exports
them), the CRM → Moodle channel (logic hooks that record CRM users' changes in the outbox table
crmsync_outbox, a scheduler job that delivers it to the receiver, an Administration → Moodle sync
page), the hook that makes a written email1 take effect on an existing Contact, and scripts/ that
add the Moodle panel to the Contact's views, the indices on contacts_cstm and the job's Schedulers
row (and take them away on uninstall).
"""

from __future__ import annotations

import json
import re
import zipfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from crm_connector.crm_schema import CORE_MODULES, CrmSchema, Field, Module, Relationship, load
from crm_connector.mapping import DEFAULT_MAPPING, _load_mapping
from suitecrm_package.php import HEADER, assign, literal

TEMPLATES = Path(__file__).with_name("templates")
# Copied to custom/crmsync/ (with the generated CrmSyncFields.php).
HOOK_FILES = ("CrmSyncHook.php", "CrmSyncOutbox.php", "CrmSyncDelivery.php", "CrmSyncJob.php", "CrmSyncEmailHook.php",
              "CrmSyncEmailAddresses.php", "CrmSyncPicker.php", "CrmSyncPickerEntryPoint.php")
PICKER_SCRIPT = "custom/crmsync/CrmSyncPicker.js"
# ModuleInstaller::install_extensions, section entrypoints: custom/Extension/application/Ext/EntryPointRegistry/.
ENTRY_POINT_EXTENSION = "SugarModules/entrypoints/crmsync.php"
# Used by the install scripts only, so shipped in scripts/ and never copied into the CRM.
SCRIPT_FILES = ("CrmSyncContactLayout.php", "CrmSyncIndices.php", "CrmSyncScheduler.php")
# The modules whose CRM users' changes go to Moodle, with the field-mapping section that lists their
# synced fields (which is also the messages' subject and type prefix: contact:<id>, contact.updated).
OUTBOX_MODULES = {"Contacts": "contact"}
# The Contact's Moodle identity: data.moodle of its messages.
CONTACT_IDENTITY = {"site_id": "moodle_site_id_c", "user_id": "moodle_user_id_c"}
# On every outbox module. The descriptions are the hooks' identity (remove_logic_hook): never change one
# without retiring the old one (RETIRED_HOOKS).
OUTBOX_HOOKS = (("after_save", "afterSave", "record a change for Moodle in the outbox"),
                ("after_delete", "afterDelete", "record a deletion for Moodle in the outbox"),
                ("after_retrieve", "afterRetrieve", "note the e-mail address a save may change"))
# On the modules with crm_changes besides: relating and unrelating their parents is a change too, and a
# CRM user's change shows "Waiting for Moodle" at once (sync_state). after_retrieve notes the parents too.
CRM_CHANGES_HOOKS = (("before_save", "beforeSave", "a change waits for Moodle"),
                     ("after_relationship_add", "afterRelationshipAdd", "record a related record for Moodle"),
                     ("after_relationship_delete", "afterRelationshipDelete", "record an unrelated record for Moodle"))
# What earlier versions registered and an upgrade must take away: Module Loader's upgrade adds this
# version's hooks and copies its files but leaves those (seen on SuiteCRM 7.14.6), and a hook is known by
# its description (remove_logic_hook), so an old one would record every change twice.
RETIRED_HOOKS = tuple((module, "after_save", [90, "Moodle sync: tell the receiver about a change made in the CRM",
                                              "custom/crmsync/CrmSyncHook.php", "CrmSyncHook", "afterSave"])
                      for module in ("Contacts", "mdl_Enrolments"))
RETIRED_FILES = ("custom/crmsync/CrmSyncNotifier.php",)
SCHEDULER_JOB = "crmsync_deliver_outbox"
SCHEDULER_NAME = "Moodle sync: deliver CRM changes"
# Files the package places outside custom/crmsync: package path -> CRM path.
PLACED_FILES = {
    "SugarModules/metadata/crmsync_outboxMetaData.php": "custom/metadata/crmsync_outboxMetaData.php",
    "SugarModules/tabledictionary/crmsync_outbox.php": "custom/Extension/application/Ext/TableDictionary/crmsync_outbox.php",
    "SugarModules/administration/CrmSyncStatus.php": "custom/modules/Administration/CrmSyncStatus.php",
}
SCHEDULER_EXTENSION = "SugarModules/scheduledtasks/crmsync.php"
ADMIN_EXTENSION = "SugarModules/administration/crmsync.php"
ADMIN_LABELS = {
    "LBL_CRMSYNC_ADMIN_HEADER": "Moodle sync",
    "LBL_CRMSYNC_ADMIN_HEADER_DESC": "Changes CRM users make that the sync sends to Moodle.",
    "LBL_CRMSYNC_STATUS_TITLE": "Moodle sync",
    "LBL_CRMSYNC_STATUS_DESC": "Changes waiting for Moodle, failed ones and why, the last delivery; send now.",
    "LBL_CRMSYNC_WAITING": "Changes waiting",
    "LBL_CRMSYNC_OLDEST_WAITING": "Oldest waiting change",
    "LBL_CRMSYNC_NEXT_ATTEMPT": "Next attempt",
    "LBL_CRMSYNC_LAST_ERROR": "Last error",
    "LBL_CRMSYNC_ATTEMPTS": "attempts",
    "LBL_CRMSYNC_FAILED": "Failed changes (not retried)",
    "LBL_CRMSYNC_LAST_DELIVERED": "Last delivery acknowledged",
    "LBL_CRMSYNC_NEVER": "never",
    "LBL_CRMSYNC_SEND_NOW": "Send now",
    "LBL_CRMSYNC_RETRY_FAILED": "Retry failed",
    "LBL_CRMSYNC_FAILED_CHANGES": "Failed changes",
    "LBL_CRMSYNC_RECORD": "Record",
    "LBL_CRMSYNC_CHANGE": "Change",
    "LBL_CRMSYNC_RECORDED": "Recorded",
    "LBL_CRMSYNC_REASON": "Reason",
}
CONTACT_PANEL = "LBL_CRMSYNC_PANEL"
CONTACTS_CUSTOM_TABLE = "contacts_cstm"
# SuiteCRM 7.14 drops a written email1 when the Contact already has an address (see the template).
EMAIL_HOOK = {"module": "Contacts", "hook": "before_save", "order": 90,
              "description": "Moodle sync: a written email1 becomes the primary e-mail address of the Contact",
              "file": "custom/crmsync/CrmSyncEmailHook.php", "class": "CrmSyncEmailHook", "function": "beforeSave"}


def label_key(name: str) -> str:
    return "LBL_" + re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")


def _vardef(field: Field) -> dict:
    vardef = {"required": field.required, "name": field.name, "vname": label_key(field.name), "type": field.type,
              "massupdate": 0, "no_default": False, "comments": "", "help": field.help, "importable": "true",
              "duplicate_merge": "disabled", "audited": False, "inline_edit": True, "reportable": True,
              "unified_search": False, "merge_filter": "disabled"}
    if field.len is not None:
        vardef["len"] = str(field.len)
    if field.precision is not None:
        vardef["precision"] = str(field.precision)
    if field.options:
        vardef["options"] = field.options
    if field.default is not None:
        vardef["default"] = field.default
    if field.type == "datetimecombo":
        vardef["dbType"] = "datetime"
        vardef["enable_range_search"] = True
        vardef["options"] = "date_range_search_dom"
    if field.type in {"int", "decimal"}:
        vardef["enable_range_search"] = True
        vardef["options"] = "numeric_range_search_dom"
    if field.type == "int" and field.name.startswith("moodle_"):
        vardef["disable_num_format"] = True  # a Moodle id, not a quantity: 3001, not "3,001"
    return vardef


# MySQL's limit on an index name (DBManager::$maxNameLengths['index'] in SuiteCRM).
MAX_INDEX_NAME = 64


def index_def(table: str, fields: tuple[str, ...]) -> dict:
    """A vardef index on the fields the connector looks records up by, named idx_<table>_<fields>."""
    name = f"idx_{table}_{'_'.join(fields)}"
    if len(name) > MAX_INDEX_NAME:
        raise ValueError(f"index name {name} is longer than {MAX_INDEX_NAME} characters: shorten the field names")
    return {"name": name, "type": "index", "fields": list(fields)}


def module_vardefs(module: Module) -> str:
    indices = [index_def(module.table, fields) for fields in module.indices]
    dictionary = {"table": module.table, "audited": False, "inline_edit": True, "duplicate_merge": True,
                  "fields": {f.name: _vardef(f) for f in module.fields}, "relationships": {},
                  "indices": {index["name"]: index for index in indices},
                  "optimistic_locking": True, "unified_search": True}
    return (HEADER + assign(f"$dictionary['{module.name}']", dictionary)
            + "if (!class_exists('VardefManager')) {\n    require_once 'include/SugarObjects/VardefManager.php';\n}\n"
            + f"VardefManager::createVardef('{module.name}', '{module.name}', array('basic', 'assignable', "
              "'security_groups'));\n")


def bean_classes(module: Module) -> dict[str, str]:
    properties = "".join(f"    public ${f.name};\n" for f in module.fields)
    base = (HEADER + f"class {module.name}_sugar extends Basic\n{{\n"
            "    public $new_schema = true;\n"
            f"    public $module_dir = '{module.name}';\n"
            f"    public $object_name = '{module.name}';\n"
            f"    public $table_name = '{module.table}';\n"
            "    public $importable = true;\n"
            "    public $id;\n    public $name;\n    public $date_entered;\n    public $date_modified;\n"
            "    public $description;\n    public $deleted;\n    public $assigned_user_id;\n"
            f"{properties}\n"
            "    public function bean_implements($interface)\n    {\n"
            "        return $interface === 'ACL';\n    }\n}\n")
    child = (HEADER + f"require_once 'modules/{module.name}/{module.name}_sugar.php';\n\n"
             f"class {module.name} extends {module.name}_sugar\n{{\n}}\n")
    return {f"{module.name}_sugar.php": base, f"{module.name}.php": child}


def module_language(module: Module) -> str:
    strings = {"LBL_MODULE_NAME": module.label, "LBL_MODULE_TITLE": module.label,
               "LNK_NEW_RECORD": f"Create {module.singular}", "LNK_LIST": f"View {module.label}",
               "LBL_LIST_FORM_TITLE": f"{module.singular} List", "LBL_SEARCH_FORM_TITLE": f"Search {module.label}",
               "LBL_HOMEPAGE_TITLE": f"My {module.label}", "LBL_NAME": "Name",
               "LBL_DATE_ENTERED": "Date Created", "LBL_DATE_MODIFIED": "Date Modified"}
    strings.update({label_key(f.name): f.label for f in module.fields})
    return HEADER + assign("$mod_strings", strings)


def _column(name: str, default: bool = True) -> dict:
    """A list view column; `default` False: not shown until a CRM user adds it with the column chooser."""
    return {"label": label_key(name), "width": "10%", "default": default, **({"link": True} if name == "name" else {})}


def _parent_column(rel: Relationship, default: bool) -> dict:
    return {"label": label_key(f"{rel.name}_from_{rel.lhs_module}_title"), "id": rel.relate_id_field.upper(),
            "module": rel.lhs_module, "link": True, "default": default, "width": "10%",
            "related_fields": [rel.relate_id_field]}


def _edit_cell(f: Field) -> dict | str:
    """A field the product writes (readonly) is shown on the edit view, not editable."""
    if not f.readonly:
        return f.name
    if f.type == "enum":  # SugarFieldReadonly shows an enum's key: EditView2 hands the template its labels
        return {"name": f.name, "label": label_key(f.name),
                "customCode": f"{{$fields.{f.name}.options[$fields.{f.name}.value]}}"}
    return {"name": f.name, "label": label_key(f.name), "type": "readonly"}


def module_metadata(module: Module, parents: tuple[Relationship, ...] = ()) -> dict[str, str]:
    """Views of a module; `parents`: the relationships it is the child of, whose parent (the learner's
    Contact, the course) the views show as a link, as seen missing on a real SuiteCRM."""
    panel = [[f.name for f in module.fields[i:i + 2]] for i in range(0, len(module.fields), 2)]
    edit_panel = [[_edit_cell(f) for f in module.fields[i:i + 2]] for i in range(0, len(module.fields), 2)]
    links = [rel.relate_name_field for rel in parents]
    head = [["name", "assigned_user_name"], *[links[i:i + 2] for i in range(0, len(links), 2)]]
    view = {"templateMeta": {"maxColumns": "2", "widths": [{"label": "10", "field": "30"}] * 2},
            "panels": {"default": [*head, *panel, ["description"]]}}
    pickers = {"includes": [{"file": PICKER_SCRIPT}]} if any(f.picker for f in module.fields) else {}
    edit = {"EditView": {**view, "panels": {"default": [*head, *edit_panel, ["description"]]},
                         "templateMeta": {**view["templateMeta"], **pickers, "form": {"buttons": ["SAVE", "CANCEL"]}}}}
    detail = {"DetailView": {**view, "templateMeta": {**view["templateMeta"], "form": {
        "buttons": ["EDIT", "DUPLICATE", "DELETE", "FIND_DUPLICATES"]}}}}
    list_columns = {name.upper(): _column(name) for name in module.list_fields}
    if parents:  # the learner (or course) as a link, right after the record's name
        rel = parents[0]
        names = list(list_columns)
        list_columns = {**{k: list_columns[k] for k in names[:1]}, rel.relate_name_field.upper(): _parent_column(rel, True),
                        **{k: list_columns[k] for k in names[1:]}}
    # What the column chooser offers besides: the other parents, then the schema's list_available.
    for rel in parents[1:]:
        list_columns[rel.relate_name_field.upper()] = _parent_column(rel, False)
    for name in module.list_available:
        list_columns[name.upper()] = _column(name, default=False)
    search = {"templateMeta": {"maxColumns": "3", "widths": {"label": "10", "field": "30"}},
              "layout": {"basic_search": {n: {"name": n, "default": True} for n in module.search_fields[:3]},
                         "advanced_search": {n: {"name": n, "default": True} for n in module.search_fields}}}
    relate_names = {rel.relate_name_field for rel in parents}
    # A parent's relate field is filtered through its link (SearchForm2), not a column of the module's table.
    search_fields = {n: {"query_type": "default"} for n in module.search_fields if n not in relate_names}
    for f in module.fields:
        if f.name in module.search_fields and f.type in {"datetimecombo", "int", "decimal"}:
            for prefix in ("range_", "start_range_", "end_range_"):
                search_fields[prefix + f.name] = {"query_type": "default", "enable_range_search": True,
                                                  **({"is_date_field": True} if f.type == "datetimecombo" else {})}
    subpanel = {"top_buttons": [{"widget_class": "SubPanelTopCreateButton"},
                                {"widget_class": "SubPanelTopSelectButton", "popup_module": module.name}],
                "where": "", "list_fields": {
                    **{n: {"vname": label_key(n), "width": "15%",
                           **({"widget_class": "SubPanelDetailViewLink"} if n == "name" else {})}
                       for n in module.list_fields},
                    "edit_button": {"vname": "LBL_EDIT_BUTTON", "widget_class": "SubPanelEditButton",
                                    "module": module.name, "width": "4%"},
                    "remove_button": {"vname": "LBL_REMOVE", "widget_class": "SubPanelRemoveButton",
                                      "module": module.name, "width": "5%"}}}
    popup = {"moduleMain": module.name, "varName": module.name.upper(), "orderBy": f"{module.table}.name",
             "whereClauses": {n: f"{module.table}.{n}" for n in module.search_fields if n in
                              {f.name for f in module.fields} | {"name"}},
             "searchInputs": list(module.search_fields),
             "listviewdefs": {k: v for k, v in list_columns.items() if v["default"]}}
    return {
        "editviewdefs.php": HEADER + f"$module_name = '{module.name}';\n" + assign("$viewdefs[$module_name]", edit),
        "detailviewdefs.php": HEADER + f"$module_name = '{module.name}';\n" + assign("$viewdefs[$module_name]", detail),
        "listviewdefs.php": HEADER + f"$module_name = '{module.name}';\n"
                            + assign("$listViewDefs[$module_name]", list_columns),
        "searchdefs.php": HEADER + f"$module_name = '{module.name}';\n" + assign("$searchdefs[$module_name]", search),
        "SearchFields.php": HEADER + f"$module_name = '{module.name}';\n"
                            + assign("$searchFields[$module_name]", search_fields),
        "popupdefs.php": HEADER + assign("$popupMeta", popup),
        "subpanels/default.php": HEADER + f"$module_name = '{module.name}';\n" + assign("$subpanel_layout", subpanel),
    }


def relationship_files(schema: CrmSchema, rel: Relationship) -> dict[str, str]:
    lhs_table, rhs_table = _table(schema, rel.lhs_module), _table(schema, rel.rhs_module)
    # One-to-many: a child has one parent (alternate key on the child's column); many-to-many: a pair once.
    alternate = [rel.lhs_column, rel.rhs_column] if rel.many_to_many else [rel.rhs_column]
    metadata = {
        "true_relationship_type": rel.type,
        "relationships": {rel.name: {
            "lhs_module": rel.lhs_module, "lhs_table": lhs_table, "lhs_key": "id",
            "rhs_module": rel.rhs_module, "rhs_table": rhs_table, "rhs_key": "id",
            "relationship_type": "many-to-many", "join_table": rel.join_table,
            "join_key_lhs": rel.lhs_column, "join_key_rhs": rel.rhs_column}},
        "table": rel.join_table,
        "fields": {"0": {"name": "id", "type": "varchar", "len": 36},
                   "1": {"name": "date_modified", "type": "datetime"},
                   "2": {"name": "deleted", "type": "bool", "len": "1", "default": "0", "required": True},
                   "3": {"name": rel.lhs_column, "type": "varchar", "len": 36},
                   "4": {"name": rel.rhs_column, "type": "varchar", "len": 36}},
        "indices": {"0": {"name": f"{rel.name}spk", "type": "primary", "fields": ["id"]},
                    "1": {"name": f"{rel.name}_ida1", "type": "index", "fields": [rel.lhs_column]},
                    "2": {"name": f"{rel.name}_alt", "type": "alternate_key", "fields": alternate}},
    }
    return {f"relationships/{rel.name}MetaData.php": HEADER + assign(f'$dictionary["{rel.name}"]', metadata)}


@dataclass(frozen=True)
class CoreModule:
    """A SuiteCRM module a relationship of the package may start from, as SuiteCRM 7.14.6 has it: its
    table, its bean's object name ($dictionary key of its vardefs, BeanFactory::getObjectName) and its
    names on screen (app_list_strings moduleList / moduleListSingular)."""

    table: str
    object_name: str
    label: str
    singular: str


CORE = {"Contacts": CoreModule("contacts", "Contact", "Contacts", "Contact"),
        "ProspectLists": CoreModule("prospect_lists", "ProspectList", "Target Lists", "Target List")}
if set(CORE) != CORE_MODULES:
    raise RuntimeError(f"suitecrm_package.build.CORE must describe exactly crm_schema.CORE_MODULES {sorted(CORE_MODULES)}")


def _table(schema: CrmSchema, module: str) -> str:
    return CORE[module].table if module in CORE else schema.module(module).table


def _object_name(module: str) -> str:
    return CORE[module].object_name if module in CORE else module


def relationship_vardefs(schema: CrmSchema, rel: Relationship) -> dict[str, str]:
    """Link fields on both sides, and on the child the relate name and relate-id fields (as Module Builder's
    OneToManyRelationship::buildVardefs writes them; the relate field's table is the parent's table); a
    many-to-many relationship has the link fields only (ManyToManyRelationship::buildVardefs)."""
    if rel.many_to_many:
        def link(other: str) -> dict:
            return {"name": rel.link, "type": "link", "relationship": rel.name, "source": "non-db",
                    "module": other, "bean_name": _object_name(other),
                    "vname": label_key(f"{rel.name}_from_{other}_title")}
        return {f"vardefs/{rel.name}_{module}.php": HEADER + assign(
            f'$dictionary["{_object_name(module)}"]["fields"]["{rel.link}"]', link(other))
            for module, other in ((rel.lhs_module, rel.rhs_module), (rel.rhs_module, rel.lhs_module))}
    parent = {"name": rel.link, "type": "link", "relationship": rel.name, "source": "non-db",
              "module": rel.rhs_module, "bean_name": rel.rhs_module, "side": "right",
              "vname": label_key(f"{rel.name}_from_{rel.rhs_module}_title")}
    child_link = {"name": rel.link, "type": "link", "relationship": rel.name, "source": "non-db",
                  "module": rel.lhs_module, "bean_name": _object_name(rel.lhs_module),
                  "vname": label_key(f"{rel.name}_from_{rel.lhs_module}_title"), "id_name": rel.relate_id_field}
    relate_name = {"name": rel.relate_name_field, "type": "relate", "source": "non-db",
                   "vname": label_key(f"{rel.name}_from_{rel.lhs_module}_title"), "save": True,
                   "id_name": rel.relate_id_field, "link": rel.link, "table": _table(schema, rel.lhs_module),
                   "module": rel.lhs_module, "rname": "name"}
    relate_id = {"name": rel.relate_id_field, "type": "link", "relationship": rel.name, "source": "non-db",
                 "reportable": False, "side": "right", "vname": label_key(f"{rel.name}_from_{rel.rhs_module}_title")}
    lhs_object, rhs_object = _object_name(rel.lhs_module), _object_name(rel.rhs_module)
    return {
        f"vardefs/{rel.name}_{rel.lhs_module}.php": HEADER + assign(
            f'$dictionary["{lhs_object}"]["fields"]["{rel.link}"]', parent),
        f"vardefs/{rel.name}_{rel.rhs_module}.php": HEADER
        + assign(f'$dictionary["{rhs_object}"]["fields"]["{rel.link}"]', child_link)
        + assign(f'$dictionary["{rhs_object}"]["fields"]["{rel.relate_name_field}"]', relate_name)
        + assign(f'$dictionary["{rhs_object}"]["fields"]["{rel.relate_id_field}"]', relate_id),
    }


def relationship_layoutdefs(rel: Relationship) -> dict[str, tuple[str, str]]:
    """The subpanels: package path → (the module whose detail view shows it, the file). One-to-many: the
    children on the parent; many-to-many: each side's records on the other (a programme's courses, a
    course's programmes), as Module Builder's ManyToManyRelationship lays them out."""
    def subpanel(on: str, shows: str) -> str:
        definition = {"order": 100, "module": shows, "subpanel_name": "default", "sort_order": "asc",
                      "sort_by": "id", "title_key": label_key(f"{rel.name}_from_{shows}_title"),
                      "get_subpanel_data": rel.link,
                      "top_buttons": [{"widget_class": "SubPanelTopButtonQuickCreate"},
                                      {"widget_class": "SubPanelTopSelectButton", "mode": "MultiSelect"}]}
        return HEADER + assign(f'$layout_defs["{on}"]["subpanel_setup"]["{rel.link}"]', definition)

    if not rel.many_to_many:
        return {f"layoutdefs/{rel.name}.php": (rel.lhs_module, subpanel(rel.lhs_module, rel.rhs_module))}
    return {f"layoutdefs/{rel.name}_{on}.php": (on, subpanel(on, shows))
            for on, shows in ((rel.lhs_module, rel.rhs_module), (rel.rhs_module, rel.lhs_module))}


def relationship_labels(rel: Relationship, schema: CrmSchema) -> dict[str, str]:
    """The relationship's labels, wanted on both of its modules: the subpanel title and the parent's link
    name the plural of the child; the child's relate field, which holds one parent, the parent's singular."""
    def name(module: str, plural: bool) -> str:
        names = CORE[module] if module in CORE else schema.module(module)
        return names.label if plural else names.singular

    return {label_key(f"{rel.name}_from_{rel.rhs_module}_title"): name(rel.rhs_module, plural=True),
            label_key(f"{rel.name}_from_{rel.lhs_module}_title"): name(rel.lhs_module, plural=rel.many_to_many)}


def extension_labels(schema: CrmSchema) -> dict[str, dict[str, str]]:
    """Every label the package adds to a module, by module.

    Module Loader copies each installdefs['language'] entry to custom/Extension/modules/<module>/Ext/
    Language/<language>.<package id>.php (ModuleInstaller::getInstallLanguagesPath), so a second entry
    for the same module and language replaces the first: each module gets exactly one, with all of them.
    """
    labels: dict[str, dict[str, str]] = {"Contacts": {label_key(f.name): f.label for f in schema.contact_fields}}
    labels["Contacts"][CONTACT_PANEL] = "MOODLE"  # as core's tab labels (OVERVIEW, MORE INFORMATION) read
    labels["Administration"] = dict(ADMIN_LABELS)
    # Scheduler::getJobsList names a job function by the Schedulers string LBL_<FUNCTION>.
    labels["Schedulers"] = {label_key(SCHEDULER_JOB): SCHEDULER_NAME}
    for rel in schema.relationships:
        for side in (rel.lhs_module, rel.rhs_module):
            labels.setdefault(side, {}).update(relationship_labels(rel, schema))
    return labels


def language_file(strings: dict[str, str]) -> str:
    return HEADER + "".join(assign(f"$mod_strings['{k}']", v) for k, v in strings.items())


def application_language(schema: CrmSchema) -> str:
    """The package's own dropdowns and module names only (Module Builder writes every list: we must not)."""
    out = HEADER
    for module in schema.modules:
        out += assign(f"$app_list_strings['moduleList']['{module.name}']", module.label)
        out += assign(f"$app_list_strings['moduleListSingular']['{module.name}']", module.singular)
    for name, options in schema.dropdowns.items():
        out += assign(f"$app_list_strings['{name}']", options)
    return out


def contact_custom_fields(schema: CrmSchema) -> dict:
    fields = {}
    for f in schema.contact_fields:
        key = f"Contacts{f.name}"
        fields[key] = {"id": key, "name": f.name, "label": label_key(f.name), "comments": "", "help": f.help,
                       "module": "Contacts", "type": f.type, "max_size": f.len or "", "require_option": "0",
                       "default_value": f.default if f.default is not None else "", "date_modified": "",
                       "deleted": "0", "audited": "0", "mass_update": "0", "duplicate_merge": "0",
                       "reportable": "1", "importable": "true", "ext1": f.options or "", "ext2": "", "ext3": "",
                       "ext4": ""}
    return fields


def contact_panel(schema: CrmSchema) -> dict[str, list[list]]:
    """The Moodle panel of the Contact's views: every Contacts custom field, two to a row, in
    crm_schema.yaml's order. Read-only on the edit view: Moodle owns the values, the next sync would undo
    an edit, and a changed user or site id would detach the Contact from its Moodle user."""
    def cell(f: Field, edit: bool) -> dict:
        out = {"name": f.name, "label": label_key(f.name)}
        if edit and f.type == "enum":
            # SugarFieldReadonly shows an enum's key ("active"); EditView2 hands the template its labels.
            out["customCode"] = f"{{$fields.{f.name}.options[$fields.{f.name}.value]}}"
        elif edit:
            out["type"] = "readonly"
        return out

    fields = list(schema.contact_fields)
    return {view: [[cell(f, view == "EditView") for f in fields[i:i + 2]] + [""] * (2 - len(fields[i:i + 2]))
                   for i in range(0, len(fields), 2)] for view in ("DetailView", "EditView")}


def contact_index_defs(schema: CrmSchema) -> list[dict]:
    return [index_def(CONTACTS_CUSTOM_TABLE, fields) for fields in schema.contact_indices]


def outbox_modules(schema: CrmSchema, mapping_file: Path = DEFAULT_MAPPING) -> dict[str, dict]:
    """The modules whose CRM users' changes go to Moodle, and what of them: module => definition.

    - Contacts (OUTBOX_MODULES): {"subject": "contact", "fields": [the CRM fields of the field mapping's
      contact section (the connector reads the same file the other way)], "moodle": {"site_id": <field>,
      "user_id": <field>}} (the Contact's Moodle identity, data.moodle of its messages);
    - every module with crm_changes (crm_schema.yaml): {"subject": "enrolment", "fields": [its crm_changes
      fields], "related": {name: {"relationship": <relationship name>, "link": <link field on the module>,
      "id_field": <the relate id field on the module (the child), Relationship.relate_id_field>}}, "waits":
      <whether a CRM user's change shows "Waiting for Moodle": the module has sync_state; a registration's
      status has its own result>}, `related` naming the parents its messages carry in data.related, in
      crm_changes' order.

    The package embeds them (outbox_fields: CrmSyncFields::MODULES); the SuiteCRM sandbox's emulation of
    the package's channel reads them too, so this shape is a contract between the two.
    """
    mapping = _load_mapping(str(mapping_file))
    contact_fields = {f.name for f in schema.contact_fields}
    if set(CONTACT_IDENTITY.values()) - contact_fields:
        raise ValueError(f"crm_schema.yaml lacks the Contact identity fields {sorted(CONTACT_IDENTITY.values())}")
    modules = {}
    for module, section in OUTBOX_MODULES.items():
        if not isinstance(mapping.get(section), dict) or not mapping[section]:
            raise ValueError(f"field mapping {mapping_file} has no `{section}:` section for {module}")
        modules[module] = {"subject": section, "fields": list(mapping[section]), "moodle": CONTACT_IDENTITY}
    relationships = {rel.name: rel for rel in schema.relationships}
    for module in schema.modules:
        if module.crm_changes is not None:
            changes = module.crm_changes
            modules[module.name] = {"subject": changes.subject, "fields": list(changes.fields), "related": {
                name: {"relationship": rel, "link": relationships[rel].link, "id_field": relationships[rel].relate_id_field}
                for name, rel in changes.related.items()},
                "waits": any(f.name == "sync_state" for f in module.fields)}
    return modules


def outbox_relationships(schema: CrmSchema) -> dict[str, dict[str, str]]:
    """Where the parent of each crm_changes module's related record is stored: relationship => {table (the
    join table), parent (its column of the parent's id), child (of the record's id)}; the delivery reads
    the parent's id there when it sends a message."""
    names = {rel for module in schema.modules if module.crm_changes for rel in module.crm_changes.related.values()}
    return {rel.name: {"table": rel.join_table, "parent": rel.lhs_column, "child": rel.rhs_column}
            for rel in schema.relationships if rel.name in names}


def picker_tables(schema: CrmSchema) -> dict[str, dict]:
    """Where CrmSyncPicker reads the choices: the courses' table, the groups' table and the join of a group to
    its course (table, parent = the course's id column, child = the group's)."""
    rel = schema.relationship("mdl_Courses", "mdl_Groups")
    return {"courses": {"table": schema.module("mdl_Courses").table},
            "groups": {"table": schema.module("mdl_Groups").table,
                       "course": {"table": rel.join_table, "parent": rel.lhs_column, "child": rel.rhs_column}}}


def pickers(schema: CrmSchema) -> dict[str, dict[str, dict[str, str]]]:
    """The edit views' names fields a CRM user picks from (CrmSyncPicker.js): module => field => {choices,
    and for groups either course_id_field (the form's relate id field of the course) or courses_field}."""
    out: dict[str, dict[str, dict[str, str]]] = {}
    for module in schema.modules:
        for f in module.fields:
            if f.picker is None:
                continue
            picker = {"choices": f.picker.choices}
            if f.picker.course:
                picker["course_id_field"] = next(r for r in schema.relationships if r.name == f.picker.course).relate_id_field
            if f.picker.courses_field:
                picker["courses_field"] = f.picker.courses_field
            out.setdefault(module.name, {})[f.name] = picker
    return out


def picker_script(schema: CrmSchema) -> str:
    return (TEMPLATES / "CrmSyncPicker.js").read_text().replace("__PICKERS__", json.dumps(pickers(schema), sort_keys=True))


def outbox_fields(schema: CrmSchema, mapping_file: Path = DEFAULT_MAPPING) -> str:
    """custom/crmsync/CrmSyncFields.php: outbox_modules(), outbox_relationships() and picker_tables() for the
    package's PHP."""
    modules = outbox_modules(schema, mapping_file)
    return (HEADER + "// Which changes of CRM users the outbox records (CrmSyncHook) and what their messages carry\n"
            + "// (CrmSyncDelivery, CrmSyncJob), and where the edit views' pickers read (CrmSyncPicker):\n"
            + "// generated from crm_schema.yaml and the field mapping.\n"
            + "class CrmSyncFields\n{\n    const MODULES = " + literal(modules, 1) + ";\n"
            + "    const RELATIONSHIPS = " + literal(outbox_relationships(schema), 1) + ";\n"
            + "    const PICKER = " + literal(picker_tables(schema), 1) + ";\n}\n")


def _install_steps(schema: CrmSchema, action: str, indent: str) -> str:
    layout = f"new CrmSyncContactLayout({literal(contact_panel(schema), 1)})"
    index_action = "add" if action == "install" else "drop"
    scheduler = (f"CrmSyncScheduler::add($GLOBALS['db'], {literal(SCHEDULER_NAME)}, time());" if action == "install"
                 else "CrmSyncScheduler::remove($GLOBALS['db'], time());")
    # Module Loader's own repair does not create a table that only the table dictionary declares (seen on
    # SuiteCRM 7.14.6; Quick Repair does): the same call creates it here, and changes it as a new version's
    # definition says.
    outbox_table = ("$dictionary = array();\ninclude __DIR__ . '/../SugarModules/metadata/crmsync_outboxMetaData.php';\n"
                    "$GLOBALS['db']->repairTableParams('crmsync_outbox', $dictionary['crmsync_outbox']['fields'], "
                    "$dictionary['crmsync_outbox']['indices'], true);")
    retired = "".join(f"remove_logic_hook({literal(module)}, {literal(event)}, {literal(entry)});\n"
                      for module, event, entry in RETIRED_HOOKS)
    retired += "".join(f"if (is_file({literal(path)})) {{\n    unlink({literal(path)});\n}}\n" for path in RETIRED_FILES)
    upgrade = [outbox_table, retired.rstrip("\n")] if action == "install" else []
    steps = [f"({layout})->{action}();",
             f"CrmSyncIndices::{index_action}($GLOBALS['db'], '{CONTACTS_CUSTOM_TABLE}', "
             f"{literal(contact_index_defs(schema), 1)});",
             scheduler,
             *upgrade,
             "// The views are compiled to cache/themes/*/modules/Contacts/*.tpl once; these predate the change.",
             "require_once 'include/TemplateHandler/TemplateHandler.php';",
             "TemplateHandler::clearCache('Contacts');"]
    return "".join(indent + line.replace("\n", "\n" + indent) + "\n" for line in steps)


_SCRIPT_REQUIRES = "".join(f"require_once __DIR__ . '/{name}';\n" for name in SCRIPT_FILES) + "\n"


def post_install_script(schema: CrmSchema) -> str:
    """Run by Module Loader after the install, when the custom fields' columns exist, and after an upgrade:
    UpgradeWizard_commit includes scripts/post_install.php (not at global scope) and calls post_install()."""
    return HEADER + _SCRIPT_REQUIRES + "function post_install()\n{\n" + _install_steps(schema, "install", "    ") + "}\n"


def post_uninstall_script(schema: CrmSchema) -> str:
    """installdefs['post_uninstall']: ModuleInstaller::uninstall includes it after removing the copied files."""
    return HEADER + _SCRIPT_REQUIRES + _install_steps(schema, "uninstall", "")


def outbox_hooks(schema: CrmSchema) -> list[dict]:
    """installdefs logic_hooks of the outbox: OUTBOX_HOOKS on every outbox module, CRM_CHANGES_HOOKS on those
    with crm_changes. Module Loader adds them to custom/modules/<module>/logic_hooks.php, on an upgrade too."""
    hooks = []
    for module in [*OUTBOX_MODULES, *(m.name for m in schema.modules if m.crm_changes is not None)]:
        for hook, function, what in OUTBOX_HOOKS + (CRM_CHANGES_HOOKS if module not in OUTBOX_MODULES else ()):
            hooks.append({"module": module, "hook": hook, "order": 90, "description": f"Moodle sync: {what}",
                          "file": "custom/crmsync/CrmSyncHook.php", "class": "CrmSyncHook", "function": function})
    return hooks


def manifest(schema: CrmSchema) -> str:
    package = schema.package
    manifest_array = {
        "acceptable_sugar_versions": {"regex_matches": [v.replace(".", r"\.").replace("*", ".*")
                                                        for v in package["acceptable_sugar_versions"]]},
        "acceptable_suitecrm_versions": {"regex_matches": [v.replace(".", r"\.").replace("*", ".*")
                                                           for v in package["acceptable_suitecrm_versions"]]},
        "acceptable_sugar_flavors": ["CE"], "readme": "", "key": package["key"], "author": package["author"],
        "description": package["description"], "icon": "", "is_uninstallable": True, "name": package["name"],
        "published_date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S"), "type": "module",
        "version": package["version"], "remove_tables": "prompt"}
    beans = [{"module": m.name, "class": m.name, "path": f"modules/{m.name}/{m.name}.php", "tab": True}
             for m in schema.modules]
    installdefs = {
        "id": package["key"], "beans": beans,
        "layoutdefs": [{"from": f"<basepath>/SugarModules/relationships/{path}", "to_module": module}
                       for rel in schema.relationships if rel.subpanel
                       for path, (module, _text) in relationship_layoutdefs(rel).items()],
        "relationships": [{"meta_data": f"<basepath>/SugarModules/relationships/relationships/{rel.name}MetaData.php"}
                          for rel in schema.relationships],
        "image_dir": "<basepath>/icons",
        "copy": [{"from": f"<basepath>/SugarModules/modules/{m.name}", "to": f"modules/{m.name}"}
                 for m in schema.modules] + [{"from": "<basepath>/SugarModules/custom/crmsync",
                                              "to": "custom/crmsync"}]
                + [{"from": f"<basepath>/{source}", "to": target} for source, target in PLACED_FILES.items()],
        # ModuleInstaller::installExt: custom/Extension/modules/<module>/Ext/<ScheduledTasks|Administration>/.
        "scheduledefs": [{"from": f"<basepath>/{SCHEDULER_EXTENSION}", "to_module": "Schedulers"}],
        "administration": [{"from": f"<basepath>/{ADMIN_EXTENSION}", "to_module": "Administration"}],
        "entrypoints": [{"from": f"<basepath>/{ENTRY_POINT_EXTENSION}", "to_module": "application"}],
        "language": [{"from": f"<basepath>/SugarModules/language/{module}/en_us.lang.php", "to_module": module,
                      "language": "en_us"} for module in ["application", *extension_labels(schema)]],
        "vardefs": [{"from": f"<basepath>/SugarModules/relationships/vardefs/{rel.name}_{side}.php",
                     "to_module": side} for rel in schema.relationships for side in (rel.lhs_module, rel.rhs_module)],
        "custom_fields": contact_custom_fields(schema),
        "logic_hooks": outbox_hooks(schema) + [EMAIL_HOOK],
        "post_uninstall": ["<basepath>/scripts/post_uninstall.php"],
    }
    return HEADER + assign("$manifest", manifest_array) + assign("$installdefs", installdefs)


def files(schema: CrmSchema, mapping_file: Path = DEFAULT_MAPPING) -> dict[str, str | bytes]:
    out: dict[str, str | bytes] = {"manifest.php": manifest(schema)}
    for module in schema.modules:
        base = f"SugarModules/modules/{module.name}"
        out[f"{base}/vardefs.php"] = module_vardefs(module)
        out[f"{base}/language/en_us.lang.php"] = module_language(module)
        out[f"{base}/Menu.php"] = (HEADER + f"global $mod_strings, $app_strings, $sugar_config;\n\n"
                                   f"if (ACLController::checkAccess('{module.name}', 'list', true)) {{\n"
                                   f"    $module_menu[] = array('index.php?module={module.name}&action=index', "
                                   f"$mod_strings['LNK_LIST'], 'List', '{module.name}');\n}}\n")
        for name, text in bean_classes(module).items():
            out[f"{base}/{name}"] = text
        parents = tuple(rel for rel in schema.relationships if rel.rhs_module == module.name and not rel.many_to_many)
        for name, text in module_metadata(module, parents).items():
            out[f"{base}/metadata/{name}"] = text
        out[f"icons/default/images/{module.name}.gif"] = (TEMPLATES / "icon.gif").read_bytes()
    for rel in schema.relationships:
        for name, text in {**relationship_files(schema, rel), **relationship_vardefs(schema, rel)}.items():
            out[f"SugarModules/relationships/{name}"] = text
        for path, (_module, text) in relationship_layoutdefs(rel).items():
            out[f"SugarModules/relationships/{path}"] = text
    out["SugarModules/language/application/en_us.lang.php"] = application_language(schema)
    for module, strings in extension_labels(schema).items():
        out[f"SugarModules/language/{module}/en_us.lang.php"] = language_file(strings)
    for hook in HOOK_FILES:
        out[f"SugarModules/custom/crmsync/{hook}"] = (TEMPLATES / hook).read_text()
    out["SugarModules/custom/crmsync/CrmSyncFields.php"] = outbox_fields(schema, mapping_file)
    out[f"SugarModules/{PICKER_SCRIPT}"] = picker_script(schema)
    out[ENTRY_POINT_EXTENSION] = (HEADER + "$entry_point_registry['crmsyncPicker'] = "
                                  + literal({"file": "custom/crmsync/CrmSyncPickerEntryPoint.php", "auth": True}) + ";\n")
    out["SugarModules/metadata/crmsync_outboxMetaData.php"] = (TEMPLATES / "crmsync_outboxMetaData.php").read_text()
    out["SugarModules/tabledictionary/crmsync_outbox.php"] = (
        "<?php\n// The package's outbox table, for Quick Repair and Rebuild and Module Loader's repair.\n"
        "if (is_file('custom/metadata/crmsync_outboxMetaData.php')) {\n"
        "    include 'custom/metadata/crmsync_outboxMetaData.php';\n}\n")
    out["SugarModules/administration/CrmSyncStatus.php"] = (TEMPLATES / "CrmSyncStatus.php").read_text()
    out[ADMIN_EXTENSION] = (TEMPLATES / "CrmSyncAdministration.php").read_text()
    out[SCHEDULER_EXTENSION] = (TEMPLATES / "CrmSyncScheduledTask.php").read_text()
    for script in SCRIPT_FILES:
        out[f"scripts/{script}"] = (TEMPLATES / script).read_text()
    out["scripts/post_install.php"] = post_install_script(schema)
    out["scripts/post_uninstall.php"] = post_uninstall_script(schema)
    return out


def build(output_dir: Path, schema: CrmSchema | None = None, mapping_file: Path = DEFAULT_MAPPING) -> Path:
    """Write dist/<key>-moodle-sync-<version>.zip and return its path; the synced Contact fields are those of
    the field mapping's contact section (the shipped one unless a site's own is given)."""
    schema = schema or load()
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / f"{schema.package['key']}-moodle-sync-{schema.package['version']}.zip"
    with zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in sorted(files(schema, mapping_file).items()):
            archive.writestr(name, content)
    return target

