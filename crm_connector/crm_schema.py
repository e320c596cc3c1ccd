"""Loads crm_schema.yaml: the fields, modules and relationships this product adds to SuiteCRM.

The package generator, the sandbox and the connector all read this one definition, so what the
package installs, what the sandbox serves and what the connector writes cannot drift apart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

SCHEMA_FILE = Path(__file__).with_name("crm_schema.yaml")
FIELD_TYPES = {"varchar", "text", "int", "decimal", "bool", "enum", "datetimecombo", "date", "url"}
# SuiteCRM's own modules a relationship may start from (besides the package's).
CORE_MODULES = {"Contacts", "ProspectLists"}


class SchemaError(ValueError):
    """crm_schema.yaml is inconsistent (unknown type, dropdown or module)."""


@dataclass(frozen=True)
class Field:
    name: str
    type: str
    label: str
    len: int | None = None
    precision: int | None = None
    options: str | None = None
    default: str | None = None
    required: bool = False
    help: str = ""
    readonly: bool = False  # written by the product only: shown, not editable, on the edit view
    picker: Picker | None = None  # on a text field of names, one per line: CRM users pick them from a list


PICKER_CHOICES = {"groups", "courses"}


@dataclass(frozen=True)
class Picker:
    """Where a CRM user picks a names field's lines from, in the edit view: `choices` is `courses` (the
    Moodle Courses' short names) or `groups` (the names of the Moodle Groups of the chosen course: the
    record's parent through relationship `course`, or the courses named in the record's `courses_field`)."""

    choices: str
    course: str | None = None
    courses_field: str | None = None


@dataclass(frozen=True)
class CrmChanges:
    """What of a module's records a CRM user's change sends to Moodle: the messages' subject (and type
    prefix: enrolment:<id>, enrolment.updated), the fields, and the related records each message names
    (name in data.related → relationship)."""

    subject: str
    fields: tuple[str, ...]
    related: dict[str, str]


@dataclass(frozen=True)
class Module:
    name: str
    table: str
    label: str
    singular: str
    fields: tuple[Field, ...]
    list_fields: tuple[str, ...]  # the list view's default columns
    search_fields: tuple[str, ...]
    indices: tuple[tuple[str, ...], ...] = ()  # the fields the connector looks records up by
    list_available: tuple[str, ...] = ()  # more columns a CRM user can add with the list view's column chooser
    crm_changes: CrmChanges | None = None

    def field(self, name: str) -> Field:
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"{self.name} has no field {name!r}")


ONE_TO_MANY, MANY_TO_MANY = "one-to-many", "many-to-many"


@dataclass(frozen=True)
class Relationship:
    """A relationship as Module Builder names it: one-to-many (parent = lhs, child = rhs; the child holds
    one parent, in its relate fields) or many-to-many (a programme's courses: links on both sides, no
    relate field, subpanels on both)."""

    name: str
    lhs_module: str
    rhs_module: str
    subpanel: bool = True
    type: str = ONE_TO_MANY

    @property
    def many_to_many(self) -> bool:
        return self.type == MANY_TO_MANY

    @property
    def join_table(self) -> str:
        return f"{self.name}_c"

    @property
    def lhs_column(self) -> str:
        return f"{self.name}{self.lhs_module.lower()}_ida"

    @property
    def rhs_column(self) -> str:
        return f"{self.name}{self.rhs_module.lower()}_idb"

    @property
    def link(self) -> str:
        """The link field, named like the relationship, on both modules."""
        return self.name

    @property
    def relate_id_field(self) -> str:
        """On the child: setting it in a V8 POST/PATCH creates or moves the join row (one-to-many only)."""
        if self.many_to_many:
            raise SchemaError(f"{self.name} is many-to-many: its records have no relate field; relate them "
                              "through the link")
        return self.lhs_column

    @property
    def relate_name_field(self) -> str:
        return f"{self.name}_name"


@dataclass(frozen=True)
class CrmSchema:
    package: dict
    dropdowns: dict[str, dict[str, str]]
    contact_fields: tuple[Field, ...]
    modules: tuple[Module, ...]
    relationships: tuple[Relationship, ...] = field(default=())
    contact_indices: tuple[tuple[str, ...], ...] = ()  # on contacts_cstm

    def module(self, name: str) -> Module:
        for candidate in self.modules:
            if candidate.name == name:
                return candidate
        raise KeyError(f"no custom module {name!r}")

    def relationship(self, lhs_module: str, rhs_module: str) -> Relationship:
        for candidate in self.relationships:
            if candidate.lhs_module == lhs_module and candidate.rhs_module == rhs_module:
                return candidate
        raise KeyError(f"no relationship {lhs_module} → {rhs_module}")

    def relationships_of(self, module_name: str) -> tuple[Relationship, ...]:
        return tuple(r for r in self.relationships if module_name in (r.lhs_module, r.rhs_module))


def _fields(raw: list[dict], dropdowns: dict, where: str) -> tuple[Field, ...]:
    fields = []
    for item in raw:
        f = Field(**{**item, "picker": Picker(**item["picker"]) if "picker" in item else None})
        if f.type not in FIELD_TYPES:
            raise SchemaError(f"{where}.{f.name}: unknown type {f.type!r}")
        if f.type == "enum" and f.options not in dropdowns:
            raise SchemaError(f"{where}.{f.name}: unknown dropdown {f.options!r}")
        fields.append(f)
    return tuple(fields)


def _indices(raw: list, fields: tuple[Field, ...], where: str) -> tuple[tuple[str, ...], ...]:
    names = {f.name for f in fields}
    indices = tuple(tuple(index) for index in raw)
    for index in indices:
        unknown = [name for name in index if name not in names]
        if unknown or not index:
            raise SchemaError(f"{where}: index on unknown field {', '.join(unknown) or '(none)'}")
    return indices


# Every module has these (SuiteCRM's basic template), besides the fields crm_schema.yaml lists.
BASIC_FIELDS = ("name", "description")


def _crm_changes(raw: dict | None, fields: tuple[Field, ...], where: str) -> CrmChanges | None:
    if raw is None:
        return None
    unknown = set(raw["fields"]) - {f.name for f in fields} - set(BASIC_FIELDS)
    if unknown:
        raise SchemaError(f"{where}.crm_changes: unknown fields {', '.join(sorted(unknown))}")
    return CrmChanges(subject=raw["subject"], fields=tuple(raw["fields"]), related=dict(raw.get("related", {})))


def parse(raw: dict) -> CrmSchema:
    dropdowns = {name: {str(k): str(v) for k, v in items.items()} for name, items in raw["dropdowns"].items()}
    modules = []
    for m in raw["modules"]:
        fields = _fields(m["fields"], dropdowns, m["name"])
        modules.append(Module(name=m["name"], table=m["table"], label=m["label"], singular=m["singular"],
                              fields=fields, list_fields=tuple(m.get("list_fields", ())),
                              search_fields=tuple(m.get("search_fields", ())),
                              list_available=tuple(m.get("list_available", ())),
                              indices=_indices(m.get("indices", ()), fields, m["name"]),
                              crm_changes=_crm_changes(m.get("crm_changes"), fields, m["name"])))
    modules = tuple(modules)
    contact_fields = _fields(raw["contact_fields"], dropdowns, "Contacts")
    known = CORE_MODULES | {m.name for m in modules}
    relationships = tuple(Relationship(**r) for r in raw.get("relationships", ()))
    for rel in relationships:
        if rel.lhs_module not in known or rel.rhs_module not in known:
            raise SchemaError(f"relationship {rel.name}: unknown module")
        if rel.type not in (ONE_TO_MANY, MANY_TO_MANY):
            raise SchemaError(f"relationship {rel.name}: unknown type {rel.type!r}")
    names = {rel.name: rel for rel in relationships}
    for module in modules:
        _check_pickers(module, names)
        for relationship in (module.crm_changes.related.values() if module.crm_changes else ()):
            if (relationship not in names or names[relationship].rhs_module != module.name
                    or names[relationship].many_to_many):
                raise SchemaError(f"{module.name}.crm_changes: {relationship} is no relationship to its parent")
    return CrmSchema(package=raw["package"], dropdowns=dropdowns, contact_fields=contact_fields,
                     modules=modules, relationships=relationships,
                     contact_indices=_indices(raw.get("contact_indices", ()), contact_fields, "Contacts"))


def _check_pickers(module: Module, relationships: dict[str, Relationship]) -> None:
    for f in module.fields:
        picker, where = f.picker, f"{module.name}.{f.name}.picker"
        if picker is None:
            continue
        if f.type != "text" or picker.choices not in PICKER_CHOICES:
            raise SchemaError(f"{where}: a picker fills a text field with {' or '.join(sorted(PICKER_CHOICES))}")
        if picker.choices == "groups" and bool(picker.course) == bool(picker.courses_field):
            raise SchemaError(f"{where}: groups come from one course relationship or one courses field")
        if picker.course and (picker.course not in relationships
                              or relationships[picker.course].rhs_module != module.name
                              or relationships[picker.course].lhs_module != "mdl_Courses"):
            raise SchemaError(f"{where}: {picker.course} is no relationship of {module.name} to its course")
        if picker.courses_field and picker.courses_field not in {x.name for x in module.fields}:
            raise SchemaError(f"{where}: unknown courses field {picker.courses_field!r}")


@cache
def load(path: Path = SCHEMA_FILE) -> CrmSchema:
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")))
