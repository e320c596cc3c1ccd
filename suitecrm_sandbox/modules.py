"""What modules the sandbox serves, with the fields, empty values and links the real server has.

Standard modules come from data/standard.json (derived from the recorded SuiteCRM 7.14.6), Target
Lists (ProspectLists) from SuiteCRM's vardefs; the product's custom fields and modules come from
crm_connector/crm_schema.yaml, the same definition the SuiteCRM package is built from, or from the
frozen definition of an earlier package release (data/packages/<version>.yaml), for a CRM that still
has that release installed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from crm_connector import crm_schema
from crm_connector.crm_schema import CrmSchema
from crm_connector.crm_schema import Field as SchemaField
from suitecrm_sandbox import purify

STANDARD = Path(__file__).with_name("data") / "standard.json"
RELEASED_PACKAGES = Path(__file__).with_name("data") / "packages"
COMMON_ATTRIBUTES = ("name", "date_entered", "date_modified", "modified_user_id", "modified_by_name", "created_by",
                     "created_by_name", "description", "deleted", "created_by_link", "modified_user_link",
                     "assigned_user_id", "assigned_user_name", "assigned_user_link", "SecurityGroups")
PERSON_MODULES = {"Contacts", "Leads"}


@dataclass
class Link:
    """A link field: following it from a record of this module leads to `module` via `relationship`."""

    name: str
    module: str
    relationship: str
    side: str  # "lhs" when this module is the relationship's left-hand side
    many_to_many: bool = False


@dataclass
class Module:
    name: str
    type_name: str
    attributes: dict[str, object]  # attribute → what an empty record shows, in the server's order
    field_meta: dict[str, dict]
    relationships_block: dict[str, str]  # related module → link, as shown on every record
    label: str = ""  # the module's name in the CRM's language (its /meta/modules label)
    links: dict[str, Link] = field(default_factory=dict)
    # relate-id attribute → (relationship, relate-name attribute): the parent record shown on the child
    relate_ids: dict[str, tuple[str, str]] = field(default_factory=dict)

    def field_type(self, attribute: str) -> str:
        return self.field_meta.get(attribute, {}).get("type", "varchar")


def _custom_field_meta(f: SchemaField, custom_fields: bool) -> dict:
    meta: dict = {"required": f.required}
    if custom_fields:
        meta["source"] = "custom_fields"
    meta["type"] = f.type
    if f.default is not None or custom_fields:
        meta["default"] = f.default if f.default is not None else None
    meta["comments"] = ""
    if f.len is not None:
        # Module Builder writes an enum's len as a number, every other len as a string (recorded).
        meta["len"] = f.len if f.type == "enum" else str(f.len)
    if f.precision is not None:
        meta["precision"] = str(f.precision)
    meta["dbType"] = {"datetimecombo": "datetime", "url": "varchar"}.get(f.type, f.type)
    return meta


def _empty_value(f: SchemaField) -> object:
    if f.type == "bool":
        return f.default if f.default is not None else "0"
    if f.default is not None and f.type == "enum":
        return f.default
    return ""


def _basic_template_meta(table: str) -> dict[str, dict]:
    """The fields Module Builder's basic template gives every module, as /meta/fields shows them
    (recorded: fixtures/suitecrm-v8-7.14.6-custom-module/03); relationships are named after the table."""
    non_db = {"source": "non-db", "required": False}
    return {
        "id": {"type": "id", "required": True, "dbType": "id"},
        "name": {"type": "name", "dbType": "varchar", "len": 255, "required": True},
        "date_entered": {"type": "datetime", "required": False, "dbType": "datetime"},
        "date_modified": {"type": "datetime", "required": False, "dbType": "datetime"},
        "modified_user_id": {"type": "assigned_user_name", "dbType": "id", "required": False},
        "modified_by_name": {"type": "relate", **non_db, "dbType": "relate"},
        "created_by": {"type": "assigned_user_name", "dbType": "id", "required": False},
        "created_by_name": {"type": "relate", **non_db, "dbType": "relate"},
        "description": {"type": "text", "required": False, "dbType": "text"},
        "deleted": {"type": "bool", "default": "0", "required": False, "dbType": "bool"},
        "created_by_link": {"type": "link", "relationship": f"{table}_created_by", **non_db, "dbType": "link"},
        "modified_user_link": {"type": "link", "relationship": f"{table}_modified_user", **non_db, "dbType": "link"},
        "assigned_user_id": {"type": "relate", "dbType": "id", "required": False},
        "assigned_user_name": {"type": "relate", **non_db, "dbType": "relate"},
        "assigned_user_link": {"type": "link", "relationship": f"{table}_assigned_user", **non_db, "dbType": "link"},
        "SecurityGroups": {"type": "link", "relationship": f"securitygroups_{table}", **non_db, "dbType": "link"},
    }


def _custom_module(name: str, table: str, label: str, fields: tuple[SchemaField, ...]) -> Module:
    attributes: dict[str, object] = {a: "" for a in COMMON_ATTRIBUTES}
    # Written by the API's user (client_credentials acts as admin), as on the standard modules.
    attributes.update(modified_user_id="1", modified_by_name="Administrator", created_by="1",
                      created_by_name="Administrator", deleted="0")
    meta = _basic_template_meta(table)
    for f in fields:
        attributes[f.name] = _empty_value(f)
        meta[f.name] = _custom_field_meta(f, custom_fields=False)
    return Module(name=name, type_name=name, attributes=attributes, field_meta=meta, label=label,
                  relationships_block={"SecurityGroups": "SecurityGroups", "Users": "created_by_link"})


@cache
def _standard() -> dict:
    return json.loads(STANDARD.read_text())


def _leads(contacts: Module) -> Module:
    """Leads were not recorded; SuiteCRM gives them the person fields of Contacts plus the lead's own."""
    person = {k: v for k, v in contacts.attributes.items()
              if k in COMMON_ATTRIBUTES or k in {"salutation", "first_name", "last_name", "full_name", "title",
                                                 "department", "do_not_call", "phone_home", "phone_mobile",
                                                 "phone_work", "phone_other", "phone_fax", "email1", "email2",
                                                 "invalid_email", "email_opt_out", "primary_address_street",
                                                 "primary_address_city", "primary_address_state",
                                                 "primary_address_postalcode", "primary_address_country",
                                                 "birthdate", "lead_source", "jjwg_maps_lng_c", "jjwg_maps_lat_c"}}
    attributes = {**person, "status": "", "status_description": "", "account_name": "", "converted": "0",
                  "refered_by": "", "website": "", "contact_id": "", "account_id": "", "opportunity_id": ""}
    meta = {name: contacts.field_meta.get(name, {"type": "varchar"}) for name in attributes}
    return Module(name="Leads", type_name="Lead", attributes=attributes, field_meta=meta, label="Leads",
                  relationships_block={"SecurityGroups": "SecurityGroups", "Users": "created_by_link"})


# SuiteCRM's Target Lists, a core module the package relates its Intakes to (mdl_intakes_prospectlists).
# Not recorded: its attributes, in the order of its vardefs (modules/ProspectLists/vardefs.php, then the
# assignable and security_groups templates), as a fresh record shows them.
PROSPECT_LIST_LINKS = {"prospects": "prospect_list_prospects", "contacts": "prospect_list_contacts",
                       "leads": "prospect_list_leads", "accounts": "prospect_list_accounts",
                       "campaigns": "prospect_list_campaigns", "users": "prospect_list_users",
                       "email_marketing": "email_marketing_prospect_lists"}
PROSPECT_LIST_CONTACTS = "prospect_list_contacts"  # SuiteCRM's join table prospect_lists_prospects


def _prospect_lists() -> Module:
    non_db = {"source": "non-db", "required": False}
    meta: dict[str, dict] = {
        "id": {"type": "id", "required": True, "dbType": "id"},
        "name": {"type": "varchar", "len": "50", "required": False, "dbType": "varchar"},
        "list_type": {"type": "enum", "len": 100, "required": False, "dbType": "enum"},
        "date_entered": {"type": "datetime", "required": False, "dbType": "datetime"},
        "date_modified": {"type": "datetime", "required": False, "dbType": "datetime"},
        "modified_user_id": {"type": "assigned_user_name", "dbType": "id", "required": False},
        "modified_by_name": {"type": "relate", **non_db, "dbType": "relate"},
        "created_by": {"type": "assigned_user_name", "dbType": "id", "required": False},
        "created_by_name": {"type": "relate", **non_db, "dbType": "relate"},
        "deleted": {"type": "bool", "required": False, "dbType": "bool"},
        "description": {"type": "text", "required": False, "dbType": "text"},
        "domain_name": {"type": "varchar", "len": "255", "required": False, "dbType": "varchar"},
        "entry_count": {"type": "int", **non_db, "dbType": "int"},
        **{link: {"type": "link", "relationship": relationship, **non_db, "dbType": "link"}
           for link, relationship in PROSPECT_LIST_LINKS.items()},
        "marketing_id": {"type": "varchar", "len": "36", **non_db, "dbType": "varchar"},
        "marketing_name": {"type": "varchar", "len": "255", **non_db, "dbType": "varchar"},
        "assigned_user_id": {"type": "relate", "dbType": "id", "required": False},
        "assigned_user_name": {"type": "relate", **non_db, "dbType": "relate"},
        "assigned_user_link": {"type": "link", "relationship": "prospectlists_assigned_user", **non_db,
                               "dbType": "link"},
        "SecurityGroups": {"type": "link", "relationship": "securitygroups_prospectlists", **non_db,
                           "dbType": "link"},
    }
    attributes: dict[str, object] = {name: "" for name in meta if name != "id"}
    attributes.update(modified_user_id="1", modified_by_name="Administrator", created_by="1",
                      created_by_name="Administrator", deleted="0")
    module = Module(name="ProspectLists", type_name="ProspectList", attributes=attributes, field_meta=meta,
                    label="Targets - Lists",
                    relationships_block={"Accounts": "accounts", "Campaigns": "campaigns", "Contacts": "contacts",
                                         "EmailMarketing": "email_marketing", "Leads": "leads",
                                         "Prospects": "prospects", "SecurityGroups": "SecurityGroups",
                                         "Users": "users"})
    module.links["contacts"] = Link("contacts", "Contacts", PROSPECT_LIST_CONTACTS, "lhs", True)
    return module


def package_schema(version: str | None = None) -> CrmSchema:
    """What the package installs at a released version (None: the current crm_schema.yaml)."""
    current = crm_schema.load()
    if version is None or version == current.package["version"]:
        return current
    frozen = RELEASED_PACKAGES / f"{version}.yaml"
    if not frozen.is_file():
        known = sorted({current.package["version"], *(path.stem for path in RELEASED_PACKAGES.glob("*.yaml"))})
        raise ValueError(f"no package version {version!r} is known (known: {', '.join(known)})")
    return crm_schema.load(frozen)


def meta_modules(custom: CrmSchema | None) -> dict:
    listed = dict(_standard()["meta_modules"])
    for module in custom.modules if custom else ():
        listed[module.name] = {"label": module.label, "access": listed["Contacts"]["access"]}
    return listed


def build(custom: CrmSchema | None) -> dict[str, Module]:
    """All modules: the recorded standard ones, plus the package's when it is installed."""
    modules: dict[str, Module] = {}
    for name, spec in _standard()["modules"].items():
        meta = spec["fields"] or {attribute: {"type": "varchar"} for attribute in spec["attributes"]}
        modules[name] = Module(name=name, type_name=spec["type"], attributes=dict(spec["attributes"]),
                               field_meta=dict(meta), relationships_block=dict(spec["relationships"]),
                               label=_standard()["meta_modules"].get(name, {}).get("label", name))
    modules["Leads"] = _leads(modules["Contacts"])
    modules["Contacts"].links["accounts"] = Link("accounts", "Accounts", "accounts_contacts", "rhs", True)
    modules["Accounts"].links["contacts"] = Link("contacts", "Contacts", "accounts_contacts", "lhs", True)
    modules["Contacts"].links["account_id"] = Link("account_id", "Accounts", "accounts_contacts", "rhs", True)
    modules["Contacts"].relate_ids["account_id"] = ("accounts_contacts", "account_name")
    modules["ProspectLists"] = _prospect_lists()
    modules["Contacts"].links["prospect_lists"] = Link("prospect_lists", "ProspectLists", PROSPECT_LIST_CONTACTS,
                                                       "rhs", True)
    if custom is None:
        return modules
    contacts = modules["Contacts"]
    for f in custom.contact_fields:
        if f.name not in contacts.attributes:
            contacts.attributes[f.name] = _empty_value(f)
            contacts.field_meta[f.name] = _custom_field_meta(f, custom_fields=True)
    for module in custom.modules:
        modules[module.name] = _custom_module(module.name, module.table, module.label, module.fields)
    for rel in custom.relationships:
        lhs, rhs = modules[rel.lhs_module], modules[rel.rhs_module]
        lhs.links[rel.link] = Link(rel.link, rhs.name, rel.name, "lhs", rel.many_to_many)
        rhs.links[rel.link] = Link(rel.link, lhs.name, rel.name, "rhs", rel.many_to_many)
        if rel.many_to_many:
            # A link field on each side and nothing else: no record holds "its" other side.
            for owner, other in ((lhs, rhs), (rhs, lhs)):
                owner.attributes.setdefault(rel.link, "")
                owner.field_meta.setdefault(rel.link, {"type": "link", "relationship": rel.name, "source": "non-db",
                                                       "required": False, "dbType": "link"})
                owner.relationships_block.setdefault(other.name, rel.link)
                owner.relationships_block = dict(sorted(owner.relationships_block.items()))
            continue
        # Module Builder also names a link after the relate-id field on the child.
        rhs.links[rel.relate_id_field] = Link(rel.relate_id_field, lhs.name, rel.name, "rhs")
        rhs.relate_ids[rel.relate_id_field] = (rel.name, rel.relate_name_field)
        for owner, link_name in ((lhs, rel.link), (rhs, rel.link)):
            owner.attributes.setdefault(link_name, "")
            owner.field_meta.setdefault(link_name, {"type": "link", "relationship": rel.name, "source": "non-db",
                                                    "required": False, "dbType": "link"})
        rhs.attributes.setdefault(rel.relate_name_field, "")
        rhs.attributes.setdefault(rel.relate_id_field, "")
        rhs.field_meta.setdefault(rel.relate_name_field, {"type": "relate", "source": "non-db", "required": False,
                                                           "dbType": "relate"})
        rhs.field_meta.setdefault(rel.relate_id_field, {"type": "link", "relationship": rel.name,
                                                         "source": "non-db", "required": False, "dbType": "link"})
        lhs.relationships_block.setdefault(rhs.name, rel.link)
        rhs.relationships_block.setdefault(lhs.name, rel.link)
        for owner in (lhs, rhs):
            owner.relationships_block = dict(sorted(owner.relationships_block.items()))
    return modules


def convert(module: Module, attribute: str, value: object) -> str:
    """A written value as the real server keeps it in its database ("" for NULL)."""
    kind = module.field_type(attribute)
    meta = module.field_meta.get(attribute, {})
    if value is None:
        return ""
    if kind == "bool":
        if isinstance(value, bool):
            return "1" if value else "0"
        return "1" if str(value).strip().lower() in {"1", "true", "on", "yes"} else "0"
    text = str(value)
    if kind in {"datetimecombo", "datetime"}:
        return _db_datetime(text)
    if kind in {"int", "decimal", "float", "currency", "double"} and text == "":
        # DBManager::massageValue writes NULL for "" (a required int gets its default or 0).
        return str(meta.get("default") or "0") if kind == "int" and meta.get("required") else ""
    if kind == "int":
        try:
            return str(int(float(text)))
        except ValueError:
            return "0"
    if kind in {"decimal", "float", "currency", "double"}:
        precision = int(meta.get("precision", 2))
        try:
            number = Decimal(text)
        except InvalidOperation:
            number = Decimal(0)
        return str(number.quantize(Decimal(1).scaleb(-precision), rounding=ROUND_HALF_UP))
    if is_cleaned_text(module, attribute):
        return cleaned_text(module, attribute, text)
    return text


def is_cleaned_text(module: Module, attribute: str) -> bool:
    """SugarBean::cleanBean purifies a field whose type and dbType, joined, name a char or text
    column, or whose type is enum."""
    meta = module.field_meta.get(attribute, {})
    joined = str(meta.get("type", "varchar")) + str(meta.get("dbType", ""))
    return "char" in joined or "text" in joined or meta.get("type") == "enum"


def cleaned_text(module: Module, attribute: str, text: str) -> str:
    """What the database keeps of a saved text (suitecrm_sandbox/purify.py): purify_html() after
    cleanBean's trim of name/varchar fields, then from_html()-decoded once by the query's quoting
    and, for a column of the module's own table, once more by DBManager::insertParams/updateParams;
    custom fields (contacts_cstm) are written by DynamicField::save, which decodes only once."""
    meta = module.field_meta.get(attribute, {})
    if meta.get("type") in {"name", "varchar"}:
        text = text.strip()
    kept = purify.saved(text)
    return kept if meta.get("source") == "custom_fields" else purify.entity_decode(kept)


def resaved(module: Module, attribute: str, stored: str) -> str:
    """A field a PATCH does not name, after SuiteCRM reloads the record and saves it again: texts are
    cleaned again from the form the read gave them, and datetimes lose their seconds (the bean holds
    them in the user's display format, which has none, and fixUpFormatting writes that back)."""
    if not stored or module.field_meta.get(attribute, {}).get("source") == "non-db":
        return stored  # email1 lives in email_addresses, untouched by the record's save
    if module.field_type(attribute) in {"datetimecombo", "datetime"} and _is_db_datetime(stored):
        return stored[:-2] + "00"
    if is_cleaned_text(module, attribute):
        return cleaned_text(module, attribute, purify.to_html(stored))
    return stored


def _db_datetime(text: str) -> str:
    """A datetime as written: the database format is kept, the API user's display format (admin's
    m/d/Y H:i, time zone UTC) is converted, anything else (an ISO datetime) is silently stored as NULL."""
    from datetime import datetime

    if _is_db_datetime(text):
        return text
    try:
        return datetime.strptime(text, "%m/%d/%Y %H:%M").strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return ""


def _is_db_datetime(text: str) -> bool:
    from datetime import datetime

    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
        return True
    except ValueError:
        return False
