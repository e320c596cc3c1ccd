"""What the CRM holds of one Moodle site: every synced record per module, read through V8 in pages of an
explicit size under a stable sort (`sort=id`; a real SuiteCRM 7.14.6 orders by the id column), only the
fields compared and the Moodle ids that say which Moodle entity a record stands for."""

from __future__ import annotations

import html
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cache

from crm_connector import crm_schema
from crm_connector.mapping import contact_mapping
from crm_connector.suitecrm.errors import PermanentError
from crmsync.config import Config
from reconciler.pacing import RequestPacer

STABLE_SORT = "id"


def _id(value) -> str:
    """A Moodle id as the CRM shows it (an int field may come back as "3" or "3.0")."""
    text = str(value or "").strip()
    try:
        return str(int(float(text))) if text else ""
    except ValueError:
        return text


def _key(*parts: str) -> Callable[[dict], str | None]:
    prefix, fields = parts[0], parts[1:]

    def key(record: dict) -> str | None:
        ids = [_id(record.get(name)) for name in fields]
        return f"{prefix}:{':'.join(ids)}" if all(ids) else None

    return key


def _completion_key(record: dict) -> str | None:
    if record.get("kind") == "course":
        return _key("course_completion", "moodle_user_id", "moodle_course_id")(record)
    return _key("module_completion", "moodle_user_id", "moodle_cm_id")(record)


@dataclass(frozen=True)
class CrmModule:
    name: str
    entity: str  # as the report names it
    site_field: str  # the field every record of a Moodle site carries its site id in (writer.py)
    key: Callable[[dict], str | None]  # the Moodle entity a record stands for (the id map's entity key)
    key_fields: tuple[str, ...]


MODULES = (
    CrmModule("Contacts", "user", "moodle_site_id_c", _key("user", "moodle_user_id_c"), ("moodle_user_id_c",)),
    CrmModule("mdl_Courses", "course", "moodle_site_id", _key("course", "moodle_course_id"), ("moodle_course_id",)),
    CrmModule("mdl_Enrolments", "enrolment", "moodle_site_id", _key("enrolment", "moodle_user_id", "moodle_course_id"),
              ("moodle_user_id", "moodle_course_id")),
    CrmModule("mdl_Groups", "group", "moodle_site_id", _key("group", "moodle_group_id"), ("moodle_group_id",)),
    CrmModule("mdl_Grades", "grade", "moodle_site_id", _key("grade", "moodle_user_id", "moodle_item_id"),
              ("moodle_user_id", "moodle_item_id")),
    CrmModule("mdl_Completions", "completion", "moodle_site_id", _completion_key,
              ("kind", "moodle_user_id", "moodle_course_id", "moodle_cm_id")),
    CrmModule("mdl_Attendance", "attendance", "moodle_site_id",
              _key("attendance", "moodle_session_id", "moodle_user_id"), ("moodle_session_id", "moodle_user_id")),
    CrmModule("mdl_Consents", "consent", "moodle_site_id",
              _key("consent", "moodle_user_id", "moodle_policy_version_id"), ("moodle_user_id", "moodle_policy_version_id")),
    CrmModule("mdl_Activities", "course", "moodle_site_id",
              _key("activity_summary", "moodle_course_id", "moodle_item_id"), ("moodle_course_id", "moodle_item_id")),
)
BY_NAME = {module.name: module for module in MODULES}

# Fields that show a record's Moodle entity has ended as the connector ends it (a Contact marked deleted by
# USER_DELETION_POLICY=mark, a deleted course's record kept not visible, an ended enrolment): such a record
# is what the CRM should hold once the entity is gone, not an extra one.
ENDED = {"Contacts": ("moodle_status_c", "deleted"), "mdl_Courses": ("visible", "0"),
         "mdl_Enrolments": ("status", "unenrolled")}


@cache
def _schema_field_types(module: str) -> dict[str, str]:
    schema = crm_schema.load()
    fields = schema.contact_fields if module == "Contacts" else schema.module(module).fields
    return {field.name: field.type for field in fields}


def field_type(module: str, name: str) -> str:
    """The SuiteCRM type of a field (Contacts' standard fields are text)."""
    return _schema_field_types(module).get(name, "varchar")


def fields_read(module: CrmModule, config: Config) -> list[str]:
    """The fields a reconciliation reads of a module: every field the connector writes, and the keys."""
    names = set(_schema_field_types(module.name)) | set(module.key_fields) | {module.site_field}
    if module.name == "Contacts":
        names |= {mapped.crm for mapped in contact_mapping(config)}
    else:
        names.add("name")
    return sorted(names)


@dataclass
class Page:
    module: str
    number: int
    records: list[dict]
    last: bool


def pages(client, module: CrmModule, site_id: str, config: Config, number: int, size: int,
          pacer: RequestPacer) -> Iterator[Page]:
    """The module's pages of this site's records from page `number` (1-based) on."""
    fields = ",".join(fields_read(module, config))
    while True:
        pacer.wait()
        try:
            payload = client.request("GET", f"module/{module.name}", params={
                f"filter[{module.site_field}][eq]": site_id, "page[size]": size, "page[number]": number,
                "sort": STABLE_SORT, f"fields[{module.name}]": fields})
        except PermanentError as exc:
            if "not found" in exc.detail or "does not exist" in exc.detail:
                raise PermanentError(f"{exc.detail} (is the SuiteCRM package of schema {crm_schema.load().package['version']} "
                                     "installed? `crmsync suitecrm-package` builds it)", exc.status) from None
            raise
        records = [{"id": data["id"], **{k: html.unescape(v) if isinstance(v, str) else v
                                         for k, v in (data.get("attributes") or {}).items()}}
                   for data in (payload or {}).get("data", [])]
        total_pages = int(((payload or {}).get("meta") or {}).get("total-pages") or 0)
        last = not records or number >= total_pages
        yield Page(module.name, number, records, last)
        if last:
            return
        number += 1
