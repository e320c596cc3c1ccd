"""Admin API under /api/v1: inspect events, replay them, see throughput. Bearer-token auth."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta
from functools import wraps

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from rq import Queue
from sqlalchemy import func, select

from crmsync import pause, queue, resources
from crmsync.models import EventStatus, FieldConflict, InboxEvent, utcnow
from receiver.errors import InvalidMessages, MalformedRequest
from receiver.messages import string_problem

blueprint = Blueprint("admin_api", __name__, url_prefix="/api/v1")
MAX_PAGE = 500
# Events replayed per statement: a filter may match millions, and every engine limits an IN list.
REPLAY_CHUNK = 500


# No NUL: PostgreSQL cannot hold it in text. _refuse_unstorable_input answers 400 for it (and for a lone
# surrogate, which this pattern leaves out: schemathesis then stops honouring it) before validation.
STORABLE = r"^[^\x00]*$"


def _storable_string(**kwargs) -> fields.String:
    return fields.String(validate=validate.Regexp(STORABLE), **kwargs)


class EventFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(EventStatus.ALL))
    type = _storable_string()
    subject = _storable_string()
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "received at or after"})
    until = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "received before"})


class EventListQuerySchema(EventFilterSchema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


class TransitionSchema(Schema):
    at = fields.DateTime()
    status = fields.String()
    detail = fields.String(allow_none=True)


class EventSchema(Schema):
    id = fields.String()
    site_id = fields.String()
    type = fields.String()
    subject = fields.String()
    sequence = fields.Integer()
    status = fields.String()
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    received_at = fields.DateTime()
    updated_at = fields.DateTime()


class EventDetailSchema(EventSchema):
    payload = fields.Dict()
    history = fields.List(fields.Nested(TransitionSchema))


class EventPageSchema(Schema):
    total = fields.Integer()
    events = fields.List(fields.Nested(EventSchema))


class ReplayRequestSchema(Schema):
    ids = fields.List(fields.String(validate=[validate.Length(max=64), validate.Regexp(STORABLE)]),
                      validate=validate.Length(min=1, max=10_000))
    filter = fields.Nested(EventFilterSchema, metadata={
        "description": "At least one criterion: an empty filter would replay every event (400)."})


class ReplayResultSchema(Schema):
    replayed = fields.Integer()


class StatsSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    queue_depth = fields.Integer(allow_none=True)
    oldest_pending = fields.DateTime(allow_none=True)
    received_last_minute = fields.Integer()
    finished_last_minute = fields.Integer()
    connector_paused = fields.String(allow_none=True, metadata={
        "description": "Why writes to SuiteCRM are paused: SuiteCRM unreachable or refusing the credentials since its third failure in a row; null when it answers"})
    moodle_paused = fields.String(allow_none=True, metadata={
        "description": "Why writes to Moodle (CRM → Moodle) are paused: Moodle unreachable since its third failure in a row, or refusing the token (at once); null when it answers"})


class ConflictQuerySchema(Schema):
    site_id = _storable_string(metadata={"description": "the Moodle site"})
    moodle_user_id = fields.Integer(validate=validate.Range(1, 2**63 - 1))
    crm_field = _storable_string()
    loser = fields.String(validate=validate.OneOf(("crm", "moodle")))
    since = fields.AwareDateTime(default_timezone=UTC, metadata={"description": "recorded at or after"})
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


class ConflictSchema(Schema):
    id = fields.Integer()
    at = fields.DateTime(metadata={"description": "when the connector recorded it"})
    site_id = fields.String(metadata={"description": "the Moodle site"})
    moodle_user_id = fields.Integer()
    crm_id = fields.String(allow_none=True, metadata={"description": "the Contact's SuiteCRM id"})
    crm_field = fields.String()
    moodle_field = fields.String()
    owner = fields.String(metadata={"description": "moodle, crm or shared (field_mapping.yaml)"})
    loser = fields.String(metadata={"description": "whose change was superseded: crm or moodle"})
    lost_at = fields.Integer(allow_none=True, metadata={
        "description": "when the losing system recorded its change (Unix time: CRM date_modified, Moodle timemodified)"})
    won_at = fields.Integer(allow_none=True, metadata={
        "description": "when the winning system recorded its own change of the field, if it did"})
    reason = fields.String()
    event_id = fields.String(allow_none=True, metadata={"description": "the inbox event whose change lost or won"})


class ConflictPageSchema(Schema):
    total = fields.Integer()
    conflicts = fields.List(fields.Nested(ConflictSchema))


class ErrorSchema(Schema):
    error = fields.String()
    errors = fields.Dict()


def _authorised(header: str) -> bool:
    presented = header[7:] if header.startswith("Bearer ") else ""
    if not presented:
        return False
    # Bytes, not str: hmac.compare_digest refuses str with non-ASCII characters (a TypeError, so a 500).
    # WSGI hands header values over as latin-1, so this gives back the bytes the client sent.
    presented_bytes = presented.encode("latin-1", "replace")
    return any(hmac.compare_digest(presented_bytes, token.encode()) for token in resources.config().admin_api_tokens)


def _refuse_unstorable_input() -> None:
    """A NUL (or a lone surrogate) in a path, query or body string reaches no database: PostgreSQL
    refuses NUL in text. Answer 400 naming where it is, before any query is built from it."""
    places = [(f"path {name}", value) for name, value in (request.view_args or {}).items()]
    places += [(f"query parameter {name!r}", name) for name in request.args]
    places += [(f"query parameter {name!r}", value) for name, value in request.args.items(multi=True)]
    if request.is_json:
        stack = [("body", request.get_json(silent=True))]
        while stack:
            where, value = stack.pop()
            if isinstance(value, dict):
                places += [(where, key) for key in value]
                stack += [(f"{where}.{key}", item) for key, item in value.items()]
            elif isinstance(value, list):
                stack += [(f"{where}.{index}", item) for index, item in enumerate(value)]
            elif isinstance(value, str):
                places.append((where, value))
    for where, text in places:
        problem = isinstance(text, str) and string_problem(text)
        if problem:
            raise MalformedRequest(f"invalid {where}: {problem}")


def require_token(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        if not _authorised(request.headers.get("Authorization", "")):
            response = jsonify({"error": "admin API token required"})
            response.headers["WWW-Authenticate"] = 'Bearer realm="crmsync"'
            return response, 401
        _refuse_unstorable_input()
        return view(*args, **kwargs)

    return guarded


def _load(schema: Schema, data):
    try:
        return schema.load(data)
    except ValidationError as exc:
        raise InvalidMessages("invalid request", exc.normalized_messages()) from None


def _filtered(statement, criteria: dict):
    for name in ("status", "type", "subject"):
        if name in criteria:
            statement = statement.where(getattr(InboxEvent, name) == criteria[name])
    if "since" in criteria:
        statement = statement.where(InboxEvent.received_at >= criteria["since"])
    if "until" in criteria:
        statement = statement.where(InboxEvent.received_at < criteria["until"])
    return statement


@blueprint.get("/events")
@require_token
def list_events():
    """List events, newest first.
    ---
    get:
      summary: List inbox events
      security: [{bearer: []}]
      parameters:
      - in: query
        schema: EventListQuerySchema
      responses:
        200: {description: One page of events and the total matching, content: {application/json: {schema: EventPageSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid parameters or body, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    criteria = _load(EventListQuerySchema(), request.args)
    session = resources.session()
    try:
        base = _filtered(select(InboxEvent), criteria)
        total = session.scalar(select(func.count()).select_from(base.subquery()))
        events = session.scalars(base.order_by(InboxEvent.received_at.desc(), InboxEvent.id)
                                 .limit(criteria["limit"]).offset(criteria["offset"])).all()
        return jsonify(EventPageSchema().dump({"total": total, "events": events}))
    finally:
        session.close()


@blueprint.get("/events/<event_id>")
@require_token
def show_event(event_id: str):
    """One event with its payload and status history.
    ---
    get:
      summary: Show one event
      security: [{bearer: []}]
      parameters:
      - {in: path, name: event_id, required: true, schema: {type: string, pattern: '^[^\\x00]*$'}}
      responses:
        200: {description: The event with its payload and history, content: {application/json: {schema: EventDetailSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        404: {description: No such event, content: {application/json: {schema: ErrorSchema}}}
    """
    session = resources.session()
    try:
        event = session.get(InboxEvent, event_id)
        if event is None:
            return jsonify({"error": f"no event {event_id}"}), 404
        return jsonify(EventDetailSchema().dump(event))
    finally:
        session.close()


@blueprint.post("/events/replay")
@require_token
def replay_events():
    """Send events through the connector again: by ids, or every event matching a filter.
    ---
    post:
      summary: Replay events
      security: [{bearer: []}]
      requestBody: {required: true, content: {application/json: {schema: ReplayRequestSchema}}}
      responses:
        200: {description: How many events went back on the queue, content: {application/json: {schema: ReplayResultSchema}}}
        400: {description: 'An empty filter, or a NUL or lone surrogate in a string of the body', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid parameters or body, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    body = _load(ReplayRequestSchema(), request.get_json(silent=True) or {})
    if not body.get("ids") and "filter" not in body:
        return jsonify({"error": "invalid request", "errors": {"ids": ["give ids or a filter"]}}), 422
    if "ids" not in body and not body["filter"]:
        raise MalformedRequest("an empty filter would replay every event: give at least one criterion")
    session = resources.session()
    try:
        if "ids" in body:
            ids = list(dict.fromkeys(body["ids"]))
            replayed = sum(_replay(session, ids[i:i + REPLAY_CHUNK]) for i in range(0, len(ids), REPLAY_CHUNK))
        else:
            replayed = _replay_matching(session, body["filter"])
        return jsonify({"replayed": replayed})
    finally:
        session.close()


def _replay(session, ids: list[str]) -> int:
    return queue.replay(session, resources.redis(), resources.config(), ids) if ids else 0


def _replay_matching(session, criteria: dict) -> int:
    """Replay what the filter matches, REPLAY_CHUNK events at a time in id order. Keyset paging: an
    event replayed (so its status changed) neither shifts a page nor comes round a second time."""
    replayed, after = 0, None
    while True:
        statement = _filtered(select(InboxEvent.id), criteria)
        if after is not None:
            statement = statement.where(InboxEvent.id > after)
        chunk = list(session.scalars(statement.order_by(InboxEvent.id).limit(REPLAY_CHUNK)).all())
        if not chunk:
            return replayed
        replayed += _replay(session, chunk)
        after = chunk[-1]


@blueprint.get("/stats")
@require_token
def stats():
    """Counts per status, queue depth, oldest pending event, last minute's throughput.
    ---
    get:
      summary: Pipeline statistics
      security: [{bearer: []}]
      responses:
        200: {description: The statistics, content: {application/json: {schema: StatsSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
    """
    session = resources.session()
    minute_ago = utcnow() - timedelta(minutes=1)
    try:
        counts = dict.fromkeys(EventStatus.ALL, 0)
        counts.update(session.execute(select(InboxEvent.status, func.count()).group_by(InboxEvent.status)).all())
        oldest = session.scalar(select(func.min(InboxEvent.received_at))
                                .where(InboxEvent.status.in_([EventStatus.PENDING, EventStatus.QUEUED])))
        received = session.scalar(select(func.count()).where(InboxEvent.received_at >= minute_ago))
        finished = session.scalar(select(func.count()).where(
            InboxEvent.updated_at >= minute_ago,
            InboxEvent.status.in_([EventStatus.APPLIED, EventStatus.SKIPPED, EventStatus.FAILED])))
    finally:
        session.close()
    try:
        depth = Queue(resources.config().queue_name, connection=resources.redis()).count
    except Exception:  # noqa: BLE001 - stats stay useful while Redis is down
        depth = None
    paused = pause.outage(resources.redis())
    moodle_paused = pause.outage(resources.redis(), pause.MOODLE)
    if isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return jsonify(StatsSchema().dump({"counts": counts, "queue_depth": depth, "oldest_pending": oldest,
                                       "received_last_minute": received, "finished_last_minute": finished,
                                       "connector_paused": paused, "moodle_paused": moodle_paused}))


@blueprint.get("/conflicts")
@require_token
def list_conflicts():
    """Changes one side made that did not reach the other (superseded by the field's owner or a newer change), newest first.
    ---
    get:
      summary: List superseded field changes
      description: Field names, ids and times only, never the values. docs/crm-mapping.md explains owners and who wins.
      security: [{bearer: []}]
      parameters:
      - in: query
        schema: ConflictQuerySchema
      responses:
        200: {description: One page of conflicts and the total matching, content: {application/json: {schema: ConflictPageSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid parameters, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    criteria = _load(ConflictQuerySchema(), request.args)
    session = resources.session()
    try:
        base = select(FieldConflict)
        for name in ("site_id", "moodle_user_id", "crm_field", "loser"):
            if name in criteria:
                base = base.where(getattr(FieldConflict, name) == criteria[name])
        if "since" in criteria:
            base = base.where(FieldConflict.at >= criteria["since"])
        total = session.scalar(select(func.count()).select_from(base.subquery()))
        found = session.scalars(base.order_by(FieldConflict.id.desc()).limit(criteria["limit"])
                                .offset(criteria["offset"])).all()
        return jsonify(ConflictPageSchema().dump({"total": total, "conflicts": found}))
    finally:
        session.close()


# The blueprints whose routes make up the admin API (receiver/__init__.py registers them).
API_BLUEPRINTS = ("admin_api", "reconcile_api")


def openapi_spec() -> APISpec:
    """Every admin API route, from the OpenAPI operations in its view's docstring: a route cannot be
    added without being described (tests/receiver/test_admin_api.py checks none is missing)."""
    spec = APISpec(title="Moodle ⇄ SuiteCRM sync admin API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    operations: dict[str, dict] = {}
    for rule in sorted(current_app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint.split(".")[0] not in API_BLUEPRINTS or rule.endpoint == "admin_api.openapi":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        operations.setdefault(path, {}).update(
            load_operations_from_docstring(current_app.view_functions[rule.endpoint].__doc__))
    for path, described in operations.items():
        spec.path(path=path, operations=described)
    return spec


@blueprint.get("/openapi.json")
def openapi():
    document = openapi_spec().to_dict()
    # "ids or a filter", and "a filter with at least one criterion": object-level rules marshmallow's
    # field metadata cannot express.
    replay = document["components"]["schemas"]["ReplayRequest"]
    replay["minProperties"] = 1
    replay["properties"]["filter"]["minProperties"] = 1
    from reconciler import api as reconcile_api

    reconcile_api.refine_openapi(document)
    return jsonify(document)
