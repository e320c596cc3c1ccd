"""Admin API under /api/v1: inspect events, replay them, see throughput. Bearer-token auth."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime, timedelta
from functools import wraps

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.yaml_utils import load_operations_from_docstring
from flask import Blueprint, current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields, validate
from rq import Queue
from sqlalchemy import func, select

from crmsync import pause, queue
from crmsync.models import EventStatus, InboxEvent, utcnow
from receiver import resources
from receiver.errors import InvalidMessages

blueprint = Blueprint("admin_api", __name__, url_prefix="/api/v1")
MAX_PAGE = 500


class EventFilterSchema(Schema):
    status = fields.String(validate=validate.OneOf(EventStatus.ALL))
    type = fields.String()
    subject = fields.String()
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
    ids = fields.List(fields.String(), validate=validate.Length(min=1, max=10_000))
    filter = fields.Nested(EventFilterSchema)


class ReplayResultSchema(Schema):
    replayed = fields.Integer()


class StatsSchema(Schema):
    counts = fields.Dict(keys=fields.String(), values=fields.Integer())
    queue_depth = fields.Integer(allow_none=True)
    oldest_pending = fields.DateTime(allow_none=True)
    received_last_minute = fields.Integer()
    finished_last_minute = fields.Integer()
    connector_paused = fields.String(allow_none=True, metadata={
        "description": "Why the connector is paused: SuiteCRM unreachable or refusing the credentials since its third failure in a row; null when it answers"})


class ErrorSchema(Schema):
    error = fields.String()
    errors = fields.Dict()


def require_token(view):
    @wraps(view)
    def guarded(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        presented = header[7:] if header.startswith("Bearer ") else ""
        tokens = resources.config().admin_api_tokens
        if not presented or not any(hmac.compare_digest(presented, t) for t in tokens):
            response = jsonify({"error": "admin API token required"})
            response.headers["WWW-Authenticate"] = 'Bearer realm="crmsync"'
            return response, 401
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
        200: {content: {application/json: {schema: EventPageSchema}}}
        401: {content: {application/json: {schema: ErrorSchema}}}
        422: {content: {application/json: {schema: ErrorSchema}}}
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
      - {in: path, name: event_id, required: true, schema: {type: string}}
      responses:
        200: {content: {application/json: {schema: EventDetailSchema}}}
        401: {content: {application/json: {schema: ErrorSchema}}}
        404: {content: {application/json: {schema: ErrorSchema}}}
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
        200: {content: {application/json: {schema: ReplayResultSchema}}}
        401: {content: {application/json: {schema: ErrorSchema}}}
        422: {content: {application/json: {schema: ErrorSchema}}}
    """
    body = _load(ReplayRequestSchema(), request.get_json(silent=True) or {})
    if not body.get("ids") and "filter" not in body:
        return jsonify({"error": "invalid request", "errors": {"ids": ["give ids or a filter"]}}), 422
    session = resources.session()
    try:
        ids = body.get("ids") or session.scalars(_filtered(select(InboxEvent.id), body["filter"])).all()
        replayed = queue.replay(session, resources.redis(), resources.config(), list(ids)) if ids else 0
        return jsonify({"replayed": replayed})
    finally:
        session.close()


@blueprint.get("/stats")
@require_token
def stats():
    """Counts per status, queue depth, oldest pending event, last minute's throughput.
    ---
    get:
      summary: Pipeline statistics
      security: [{bearer: []}]
      responses:
        200: {content: {application/json: {schema: StatsSchema}}}
        401: {content: {application/json: {schema: ErrorSchema}}}
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
    if isinstance(oldest, datetime) and oldest.tzinfo is None:
        oldest = oldest.replace(tzinfo=UTC)
    return jsonify(StatsSchema().dump({"counts": counts, "queue_depth": depth, "oldest_pending": oldest,
                                       "received_last_minute": received, "finished_last_minute": finished,
                                       "connector_paused": paused}))


def openapi_spec() -> APISpec:
    spec = APISpec(title="Moodle ⇄ SuiteCRM sync admin API", version="1", openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin()])
    spec.components.security_scheme("bearer", {"type": "http", "scheme": "bearer"})
    for view in (list_events, show_event, replay_events, stats):
        rule = next(r for r in current_app.url_map.iter_rules() if r.endpoint == f"admin_api.{view.__name__}")
        path = rule.rule.replace("<", "{").replace(">", "}")
        spec.path(path=path, operations=load_operations_from_docstring(view.__doc__))
    return spec


@blueprint.get("/openapi.json")
def openapi():
    document = openapi_spec().to_dict()
    # "ids or a filter": an object-level rule marshmallow's field metadata cannot express.
    document["components"]["schemas"]["ReplayRequest"]["minProperties"] = 1
    return jsonify(document)
