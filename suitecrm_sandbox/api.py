"""The SuiteCRM V8 JSON API as SuiteCRM 7.14.6 answers it, byte for byte where it matters to clients."""

from __future__ import annotations

import json
import re
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime

from flask import Blueprint, Response, current_app, g, request

from suitecrm_sandbox import email, purify
from suitecrm_sandbox.faults import DB_FAILURE_BODY
from suitecrm_sandbox.modules import PERSON_MODULES, Module, convert, resaved
from suitecrm_sandbox.state import SandboxState

blueprint = Blueprint("v8", __name__)
JSON_API = "application/vnd.api+json"
PLAIN_JSON = "application/json"
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
OPERATORS = {"eq", "neq", "gt", "gte", "lt", "lte", "like"}
DEFAULT_PAGE_SIZE = 20
NO_RESULT = {"meta": {"message": "Request was successful, but there is no result"}, "data": []}


class ApiError(Exception):
    """SuiteCRM's error body; input checks answer application/json, service errors vnd.api+json."""

    def __init__(self, detail: str, content_type: str = JSON_API, status: int = 400):
        super().__init__(detail)
        self.detail, self.content_type, self.status = detail, content_type, status


def state() -> SandboxState:
    return current_app.extensions["sandbox"]


def answer(body: object, status: int = 200, content_type: str = JSON_API) -> Response:
    text = body if isinstance(body, str) else json.dumps(body, ensure_ascii=False, separators=(",", ":"))
    return Response(text, status=status, content_type=content_type)


class DatabaseFailure(Exception):
    """The real server's SQL failed: it answers its JSON error followed by the same text as plain text."""


@blueprint.errorhandler(DatabaseFailure)
def database_failure(_error: DatabaseFailure):
    return answer(DB_FAILURE_BODY, 400)


@blueprint.errorhandler(ApiError)
def api_error(error: ApiError):
    return answer({"errors": {"status": error.status, "title": None, "detail": error.detail}}, error.status,
                  error.content_type)


def _module(name: str | None) -> Module:
    module = state().modules.get(name or "")
    if module is None:
        raise ApiError(f"Module {name} does not exist", PLAIN_JSON)
    return module


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:00+00:00")


def _render_value(module: Module, attribute: str, stored: object) -> object:
    if isinstance(stored, str) and stored and module.field_type(attribute) in {"datetimecombo", "datetime"}:
        return datetime.strptime(stored, "%Y-%m-%d %H:%M:%S").strftime("%Y-%m-%dT%H:%M:00+00:00")
    if attribute == "email1":
        return stored  # read from email_addresses, which SuiteCRM does not encode (recorded: email1-encoding)
    if isinstance(stored, str):
        # SuiteCRM's database layer encodes " < > ' of every value it reads (not &); clients decode them.
        return purify.to_html(stored)
    return stored


def _stored_values(module: Module, record) -> dict:
    values = dict(module.attributes)
    values.update(record.fields)
    if module.name in PERSON_MODULES:
        full = " ".join(p for p in (values.get("first_name", ""), values.get("last_name", "")) if p)
        values["name"] = values["full_name"] = full
    return values


def render_attributes(module: Module, record, fields: set[str] | None = None) -> dict:
    values = _stored_values(module, record)
    for relate_id, (relationship, name_field) in module.relate_ids.items():
        parents = state().store.related_ids(relationship, record.id, "rhs")
        parent_module = module.links[relate_id].module
        parent = state().store.get(parent_module, parents[-1]) if parents else None
        values[relate_id] = parent.id if parent else ""
        # The parent's name as its table holds it: encoded once below, like every value read.
        values[name_field] = _stored_values(state().modules[parent_module], parent)["name"] if parent else ""
    if "email1" in values:
        # The opt-out and invalid flags are those of the address shown as email1: none, none shown.
        for flag in ("email_opt_out", "invalid_email"):
            if flag in values:
                values[flag] = (values[flag] or "0") if values["email1"] else ""
    rendered = {a: _render_value(module, a, v) for a, v in values.items()}
    rendered["date_entered"] = _iso(record.created_at)
    rendered["date_modified"] = _iso(record.modified_at)
    return {a: v for a, v in rendered.items() if fields is None or a in fields}


def _relationships(module: Module, record_id: str, with_module_in_path: bool) -> dict:
    base = f"V8/module/{module.name}/{record_id}" if with_module_in_path else f"V8/module/{record_id}"
    return {related: {"links": {"related": f"{base}/relationships/{link}"}}
            for related, link in module.relationships_block.items()}


def resource(module: Module, record, fields: set[str] | None = None, created: bool = False) -> dict:
    # The real server drops the module name from the links of a record it has just written.
    return {"type": module.type_name, "id": record.id, "attributes": render_attributes(module, record, fields),
            "relationships": _relationships(module, record.id, with_module_in_path=not created)}


def _sparse_fields(module: Module) -> set[str] | None:
    raw = request.args.get(f"fields[{module.name}]")
    return set(raw.split(",")) if raw else None


# --- writes ---------------------------------------------------------------------------------------
def _payload() -> dict:
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
        raise ApiError('The required option "data" is missing.', PLAIN_JSON)
    data = body["data"]
    if "type" not in data:
        raise ApiError('The required option "type" is missing.', PLAIN_JSON)
    return data


def _checked_attributes(module: Module, attributes: dict) -> dict:
    for name in attributes:
        if name not in module.attributes or name in {"id", "deleted", "date_entered", "date_modified"}:
            raise ApiError(f"Property {name} in {module.type_name} module is invalid", PLAIN_JSON)
    return attributes


def _apply(module: Module, record_id: str, stored: dict, attributes: dict, patching: bool) -> dict:
    sandbox = state()
    for name, value in attributes.items():
        if name in module.relate_ids:
            relationship = module.relate_ids[name][0]
            if value:
                sandbox.store.relate(relationship, str(value), record_id, sandbox.now(), one_to_many=True)
            else:
                sandbox.store.unrelate_child(relationship, record_id)
            continue
        if name == "email1":
            # The address lives in email_addresses, and SuiteCRM keeps only some writes (email.py).
            address = (email.written(str(stored.get("email1") or ""), value, sandbox.options.email_hook(module.name))
                       if patching else email.accepted(value))
            if address is not None:
                stored["email1"] = address
                if address:
                    sandbox.store.link_email(record_id, address)
            continue
        if value is None and patching:
            continue  # a null is not written (DBManager::updateParams skips it): the stored value stays
        stored[name] = convert(module, name, value)
    return stored


@blueprint.post("/module")
def create():
    data = _payload()
    module = _module(data.get("type"))
    record_id = data.get("id")
    if record_id is not None and not UUID.match(str(record_id)):
        raise ApiError(f'The option "id" with value "{record_id}" is invalid.', PLAIN_JSON)
    attributes = _checked_attributes(module, data.get("attributes") or {})
    sandbox = state()
    with sandbox.write_slot():
        if record_id is None:
            record_id = sandbox.new_id()
        elif sandbox.store.id_used(record_id):
            raise ApiError(f"Bean {module.name} with id {record_id} is already exist")
        sandbox.store.insert(module.name, record_id, {}, sandbox.now())
        stored = _apply(module, record_id, {}, attributes, patching=False)
        changed = sandbox.channel.before_save(module.name, record_id, None, {}, stored, g.crm_user)
        sandbox.store.update(record_id, stored, sandbox.now())
        sandbox.channel.record_save(module.name, record_id, changed)
    return answer({"data": resource(module, sandbox.store.get(module.name, record_id), created=True)}, 201)


@blueprint.patch("/module")
def update():
    data = _payload()
    module = _module(data.get("type"))
    record_id = str(data.get("id", ""))
    sandbox = state()
    record = sandbox.store.get(module.name, record_id)
    if record is None:
        raise ApiError(f"{module.name} module with id {record_id} is not found")
    attributes = _checked_attributes(module, data.get("attributes") or {})
    with sandbox.write_slot():
        parents = sandbox.channel.parents(module.name, record_id)
        # A saved bean shows its unset booleans as "0", where a fresh one showed false.
        stored = {name: "0" for name, empty in module.attributes.items() if empty is False} | {
            name: resaved(module, name, value) if name not in attributes else value
            for name, value in record.fields.items()}
        stored = _apply(module, record_id, stored, attributes, patching=True)
        changed = sandbox.channel.before_save(module.name, record_id, record.fields, parents, stored, g.crm_user)
        sandbox.store.update(record_id, stored, sandbox.now())
        sandbox.channel.record_save(module.name, record_id, changed)
    # PATCH answers 201 on SuiteCRM 7.14.6, like a create.
    return answer({"data": resource(module, sandbox.store.get(module.name, record_id), created=True)}, 201)


@blueprint.delete("/module/<module_name>/<record_id>")
def delete(module_name: str, record_id: str):
    module = _module(module_name)
    sandbox = state()
    if sandbox.store.get(module.name, record_id) is None:
        raise ApiError(f"{module.name} module with id {record_id} is not found")
    with sandbox.write_slot():
        # SuiteCRM removes a deleted record's relationships one by one, each with its hooks: the records
        # that had it as a parent lose it (mark_relationships_deleted, after_relationship_delete).
        children = sandbox.channel.children(record_id)
        sandbox.store.delete(record_id, sandbox.now())
        sandbox.channel.record_delete(module.name, record_id, g.crm_user)
        for child_module, child_id, parents in children:
            sandbox.channel.record_relationship(child_module, child_id, parents, g.crm_user)
    return answer({"meta": {"message": f"Record with id {record_id} is deleted"}, "data": []})


# --- reads ----------------------------------------------------------------------------------------
@blueprint.get("/module/<module_name>/<record_id>")
def get_one(module_name: str, record_id: str):
    module = _module(module_name)
    record = state().store.get(module.name, record_id)
    if record is None:
        raise ApiError(f"{module.name} module with id {record_id} is not found")
    return answer({"data": resource(module, record, _sparse_fields(module))})


def _filters(module: Module) -> tuple[list[tuple[str, str, str]], str]:
    filters, operator = [], "and"
    for key, value in request.args.items(multi=True):
        if key == "filter[operator]":
            operator = value.lower()
            continue
        match = re.fullmatch(r"filter\[([^\]]+)\]\[([^\]]+)\]", key)
        if not match:
            continue
        field_name, op = match.groups()
        if field_name not in module.attributes:
            raise ApiError(f"Filter field {field_name} in {module.type_name} module is not found", PLAIN_JSON)
        if op not in OPERATORS:
            raise ApiError(f"Filter operator {op} is invalid", PLAIN_JSON)
        meta = module.field_meta.get(field_name, {})
        if meta.get("source") == "non-db" and meta.get("type") in {"link", "relate"}:
            # A link, relate name or relate-id field is not a column, but the list query names it as
            # one and MySQL fails (1054; recorded for all three on a Module Builder module).
            raise DatabaseFailure()
        # The value is quoted with DBManager::quote, whose from_html decodes HTML entities first.
        filters.append((field_name, op, purify.entity_decode(value)))
    return filters, operator


def _matches(value: str, op: str, wanted: str) -> bool:
    if op == "like":
        pattern = "^" + re.escape(wanted).replace("%", ".*").replace("_", ".") + "$"
        return re.match(pattern, value, flags=re.IGNORECASE) is not None
    left, right = _comparable(value), _comparable(wanted)
    if type(left) is not type(right):
        left, right = str(value).lower(), str(wanted).lower()
    return {"eq": left == right, "neq": left != right, "gt": left > right, "gte": left >= right,
            "lt": left < right, "lte": left <= right}[op]


def _comparable(value: str) -> object:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value).lower()


def _stored_value(module: Module, record, name: str) -> str:
    if name == "date_modified":
        return datetime.fromtimestamp(record.modified_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    if name == "date_entered":
        return datetime.fromtimestamp(record.created_at, UTC).strftime("%Y-%m-%d %H:%M:%S")
    value = record.fields.get(name, module.attributes.get(name, ""))
    return value if isinstance(value, str) else ""


def _filtered(module: Module, records: list, filters: list, operator: str) -> list:
    if not filters:
        return records
    combine = any if operator == "or" else all
    return [r for r in records if combine(_matches(_stored_value(module, r, f), op, v) for f, op, v in filters)]


def _filtered_by_email(module: Module, records: list, filters: list, operator: str) -> list:
    """A list filter naming email1 joins email_addresses on the real server (ModuleService::getRecords):
    a record matches through any address ever linked to it, deleted links included, once per link,
    and a record without an address never matches."""
    links = state().store.email_links(module.name)
    combine = any if operator == "or" else all
    rows = []
    for record in records:
        current = record.fields.get("email1") or ""
        for address in links.get(record.id) or ([current] if current else []):
            if combine(_matches(address if f == "email1" else _stored_value(module, record, f), op, v)
                       for f, op, v in filters):
                rows.append(record)
    return rows


def _page_links(module: Module, number: int, pages: int) -> dict:
    """PaginationObjectHelper: PHP's parsed query (parameters grouped by their name before `[`, in the
    order each name first came), with page[number] set, rebuilt by http_build_query and urldecoded."""
    groups: dict[str, dict[str, str]] = {}
    for key, value in request.args.items(multi=True):
        name, bracket, rest = key.partition("[")
        groups.setdefault(name, {})[bracket + rest] = value

    def link(page: int) -> str:
        query = {name: dict(entries) for name, entries in groups.items()}
        query.setdefault("page", {})["[number]"] = str(page)
        return f"V8/module/{module.name}?" + "&".join(f"{name}{sub}={value}" for name, entries in query.items()
                                                      for sub, value in entries.items())

    # Without page[number] the page is 0, so page 1 is the next one.
    return {"first": link(1) if number > 1 else None, "prev": link(number - 1) if number > 1 else None,
            "next": link(number + 1) if number + 1 <= pages else None,
            "last": link(pages) if number + 1 <= pages else None}


@blueprint.get("/module/<module_name>")
def get_list(module_name: str):
    module = _module(module_name)
    sandbox = state()
    filters, operator = _filters(module)
    if ("deleted", "eq", "1") in filters:
        # The real server finds deleted rows here, then fails to load the first of them as a bean.
        deleted = sandbox.store.all(module.name, deleted=True)
        if deleted:
            raise ApiError(f"{module.name} module with id {deleted[0].id} is not found")
    by_email = "email1" in module.attributes and any(f == "email1" for f, _, _ in filters)
    records = (_filtered_by_email if by_email else _filtered)(module, sandbox.store.all(module.name), filters,
                                                               operator)
    sort = request.args.get("sort")
    if sort:
        key = sort.lstrip("-")
        records.sort(key=lambda r: _stored_value(module, r, key), reverse=sort.startswith("-"))
    fields = _sparse_fields(module)
    size = int(request.args.get("page[size]", 0) or 0)
    number = int(request.args.get("page[number]", 0) or 0)
    if not records:
        return answer(NO_RESULT)
    if size <= 0:
        # Without page[size] the real server silently returns only the first 20 rows.
        return answer({"data": [resource(module, r, fields) for r in records[:DEFAULT_PAGE_SIZE]]})
    pages = -(-len(records) // size)
    start = max(number - 1, 0) * size
    page = records[start:start + size]
    if not page:
        return answer(NO_RESULT)
    body = {"meta": {"total-pages": pages, "records-on-this-page": len(page)},
            "data": [resource(module, r, fields) for r in page],
            "links": _page_links(module, number, pages)}
    return answer(body)


# --- relationships --------------------------------------------------------------------------------
def _link(module: Module, link_name: str):
    link = module.links.get(link_name)
    if link is None:
        raise ApiError(f"Cannot load relationship {link_name} for {module.type_name} module", PLAIN_JSON)
    return link


def _record_or_error(module: Module, record_id: str):
    record = state().store.get(module.name, record_id)
    if record is None:
        raise ApiError(f"{module.name} module with id {record_id} is not found")
    return record


@blueprint.get("/module/<module_name>/<record_id>/relationships/<link_name>")
def get_related(module_name: str, record_id: str, link_name: str):
    module = _module(module_name)
    _record_or_error(module, record_id)
    link = _link(module, link_name)
    sandbox = state()
    related_module = sandbox.modules[link.module]
    records = [r for i in sandbox.store.related_ids(link.relationship, record_id, link.side)
               if (r := sandbox.store.get(related_module.name, i)) is not None]
    records = _filtered(related_module, records, *_filters(related_module))
    if not records:
        return answer({"meta": {"message": f"There is no relationship set in {module.type_name} module with "
                                           f"{link_name} link field"}, "data": []})
    data = [{"type": related_module.type_name, "id": r.id,
             "attributes": render_attributes(related_module, r, _sparse_fields(related_module)),
             "links": {"self": f"V8/module/{related_module.type_name}/{r.id}"}} for r in records]
    return answer({"meta": {"total-records": len(data), "total-pages": 1, "records-on-this-page": len(data)},
                   "data": data})


def _related_target() -> tuple[Module, str]:
    """The record a relationship POST names in its body; it must exist."""
    data = _payload()
    related_module = _module(data.get("type"))
    related_id = str(data.get("id", ""))
    _record_or_error(related_module, related_id)
    return related_module, related_id


def _relate(module: Module, record_id: str, link, related_id: str) -> None:
    sandbox = state()
    lhs, rhs = (record_id, related_id) if link.side == "lhs" else (related_id, record_id)
    with sandbox.write_slot(), _relationship_hooks(module, link, rhs):
        sandbox.store.relate(link.relationship, lhs, rhs, sandbox.now(), one_to_many=not link.many_to_many)


@contextmanager
def _relationship_hooks(module: Module, link, rhs_id: str):
    """The package's after_relationship_add/delete on the child (rhs) of the changed relationship."""
    sandbox = state()
    child = link.module if link.side == "lhs" else module.name
    before = sandbox.channel.parents(child, rhs_id)
    yield
    sandbox.channel.record_relationship(child, rhs_id, before, g.crm_user)


@blueprint.post("/module/<module_name>/<record_id>/relationships")
def add_related(module_name: str, record_id: str):
    module = _module(module_name)
    _record_or_error(module, record_id)
    related_module, related_id = _related_target()
    link = next((candidate for candidate in module.links.values() if candidate.module == related_module.name),
                None)
    if link is None:
        raise ApiError(f"Cannot load relationship {related_module.name.lower()} for {module.type_name} module",
                       PLAIN_JSON)
    _relate(module, record_id, link, related_id)
    message = (f"{related_module.type_name} with id {related_id} has been added to {module.type_name} "
               f"with id {record_id}")
    return answer({"meta": {"message": message}, "data": []}, 201)


@blueprint.post("/module/<module_name>/<record_id>/relationships/<link_name>")
def add_related_by_link(module_name: str, record_id: str, link_name: str):
    module = _module(module_name)
    _record_or_error(module, record_id)
    link = _link(module, link_name)
    related_module, related_id = _related_target()
    _relate(module, record_id, link, related_id)
    meta = {"message": f"{related_module.label} record with id {related_id} has been related to {module.label} "
                       f"record with id {record_id} using link {link_name}",
            "sourceModule": module.name, "sourceModuleLabel": module.label, "sourceId": record_id,
            "relatedModule": related_module.name, "relatedModuleLabel": related_module.label,
            "relatedId": related_id, "relationshipLink": link_name}
    return answer({"meta": meta, "data": []}, 201)


@blueprint.delete("/module/<module_name>/<record_id>/relationships/<link_name>/<related_id>")
def remove_related(module_name: str, record_id: str, link_name: str, related_id: str):
    module = _module(module_name)
    _record_or_error(module, record_id)
    link = _link(module, link_name)
    sandbox = state()
    lhs, rhs = (record_id, related_id) if link.side == "lhs" else (related_id, record_id)
    with sandbox.write_slot(), _relationship_hooks(module, link, rhs):
        removed = sandbox.store.unrelate(link.relationship, lhs, rhs)
    if not removed:
        raise ApiError(f"Module with {related_id} id is not related to {module.type_name}")
    related_module = sandbox.modules[link.module]
    message = (f"Relationship has been deleted between {module.type_name} with id {record_id} and "
               f"{related_module.type_name} with id {related_id}")
    return answer({"meta": {"message": message}, "data": []})


# --- metadata and session -------------------------------------------------------------------------
@blueprint.get("/meta/modules")
def meta_modules():
    return answer({"data": {"type": "modules", "attributes": state().meta_modules}})


@blueprint.get("/meta/fields/<module_name>")
def meta_fields(module_name: str):
    module = _module(module_name)
    return answer({"data": {"type": "fields", "attributes": module.field_meta}})


@blueprint.post("/logout")
def logout():
    state().tokens.revoke_presented(request.headers.get("Authorization", ""))
    return answer({"meta": {"message": "You have been successfully logged out"}, "data": []})


def new_guid() -> str:
    """An id in the shape SuiteCRM's create_guid() makes (hex groups 8-4-4-4-12)."""
    raw = uuid.uuid4().hex
    return f"{raw[:8]}-{raw[8:12]}-{raw[12:16]}-{raw[16:20]}-{raw[20:]}"

