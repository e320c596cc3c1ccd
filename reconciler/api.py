"""Admin API of reconciliation under /api/v1/reconciliations: start a run, read its report, download its
differences, repair them. Bearer-token auth and input checks as the rest of the admin API
(receiver/admin_api.py); described in the same OpenAPI document."""

from __future__ import annotations

import csv
import io
import re

from flask import Blueprint, Response, jsonify, request, stream_with_context
from marshmallow import Schema, fields, validate, validates_schema
from marshmallow import ValidationError as SchemaError
from redis.exceptions import RedisError
from sqlalchemy import func, select

from crmsync import resources
from crmsync.models import ReconcileDifference, ReconcileRun, ReconcileStatus
from receiver.admin_api import MAX_PAGE, _load, require_token
from reconciler import kinds, report

blueprint = Blueprint("reconcile_api", __name__, url_prefix="/api/v1")
# reconcile_runs.id and reconcile_differences.id are INTEGER columns: a larger id names no row, and
# PostgreSQL would refuse to compare with it (a 500), so it is a 404 or a 422 before any query.
LARGEST_ID = 2**31 - 1
KINDS = kinds.KINDS
CSV_CHUNK = 500
# A cell a spreadsheet would run as a formula (CSV injection); a number such as -3.5 is left alone.
FORMULA = re.compile(r"^(?:[=+@\t\r]|-(?![\d.]))")


class RunListQuerySchema(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


class RunSchema(Schema):
    id = fields.Integer()
    site_id = fields.String(metadata={"description": "the Moodle site compared"})
    status = fields.String(metadata={"description": "running, done, failed or interrupted (goes on from its "
                                                    "checkpoint at the next run)"})
    trigger = fields.String(metadata={"description": "who started it: cli, api or schedule"})
    dry_run = fields.Boolean()
    started_at = fields.DateTime()
    finished_at = fields.DateTime(allow_none=True)
    duration_seconds = fields.Method("_duration", allow_none=True, metadata={"type": "number"})
    differences = fields.Method("_total", metadata={"type": "integer",
                                                    "description": "all differences found, of every kind"})
    counts = fields.Dict(keys=fields.String(), values=fields.Dict(keys=fields.String(), values=fields.Integer()),
                         metadata={"description": "differences per kind, then per entity"})
    requests = fields.Dict(keys=fields.String(), values=fields.Integer(),
                           metadata={"description": "requests made to each system: moodle, crm"})
    error = fields.String(allow_none=True)

    def _duration(self, run) -> float | None:
        return (run.finished_at - run.started_at).total_seconds() if run.finished_at else None

    def _total(self, run) -> int:
        return report.total(run)


class RunPageSchema(Schema):
    total = fields.Integer()
    runs = fields.List(fields.Nested(RunSchema))


class StartedSchema(Schema):
    job_id = fields.String(metadata={"description": "the RQ job; the run appears in GET /reconciliations once it starts"})
    status = fields.String()


class BusySchema(Schema):
    error = fields.String()
    job_id = fields.String(allow_none=True, metadata={"description": "the reconciliation job queued or running"})


class DifferenceQuerySchema(Schema):
    kind = fields.List(fields.String(validate=validate.OneOf(KINDS)), metadata={"description": "only these kinds"})
    format = fields.String(load_default="json", validate=validate.OneOf(("json", "csv")),
                           metadata={"description": "csv: every matching difference as a download (limit and "
                                                    "offset do not apply)"})
    limit = fields.Integer(load_default=100, validate=validate.Range(1, MAX_PAGE))
    offset = fields.Integer(load_default=0, validate=validate.Range(0, 2**31 - 1))


class DifferenceSchema(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"description": ", ".join(KINDS)})
    entity = fields.String(metadata={"description": ", ".join(kinds.ENTITIES)})
    key = fields.String(metadata={"description": "the record's key, e.g. user:3, enrolment:3:2"})
    crm_module = fields.String(allow_none=True)
    crm_id = fields.String(allow_none=True)
    field = fields.String(allow_none=True)
    moodle_value = fields.String(allow_none=True)
    crm_value = fields.String(allow_none=True)
    owner = fields.String(allow_none=True, metadata={"description": "whose state a repair re-applies: moodle or "
                                                                    "crm; none for identity problems"})
    subject = fields.String(allow_none=True, metadata={"description": "what a repair re-applies: the Moodle "
                                                                      "subject resent, or the CRM's contact:<id>"})
    repaired_at = fields.DateTime(allow_none=True)
    repair_note = fields.String(allow_none=True)


class DifferencePageSchema(Schema):
    total = fields.Integer()
    differences = fields.List(fields.Nested(DifferenceSchema))


class RepairRequestSchema(Schema):
    differences = fields.List(fields.Integer(validate=validate.Range(1, LARGEST_ID)),
                              validate=validate.Length(min=1, max=10_000), metadata={"description": "difference ids"})
    kinds = fields.List(fields.String(validate=validate.OneOf(KINDS)), validate=validate.Length(min=1))
    dry_run = fields.Boolean(load_default=False, metadata={"description": "list what would be done, change nothing"})

    @validates_schema
    def _one_choice(self, data, **_kwargs):
        if ("differences" in data) == ("kinds" in data):
            raise SchemaError("give either differences or kinds", "differences")


class RepairActionSchema(Schema):
    difference = fields.Integer(metadata={"description": "the difference's id"})
    action = fields.String(metadata={"description": "resend (Moodle sends its state again), rewrite_crm (the CRM's "
                                                    "state is written to Moodle again) or none"})
    subject = fields.String(allow_none=True)
    note = fields.String(metadata={"description": "what was done, or why nothing was"})


class RepairResultSchema(Schema):
    run_id = fields.Integer()
    dry_run = fields.Boolean()
    actions = fields.List(fields.Nested(RepairActionSchema),
                          metadata={"description": "one per chosen difference not repaired yet"})


def refine_openapi(document: dict) -> None:
    """Object-level rules marshmallow's field metadata cannot express: differences or kinds, not both."""
    document["components"]["schemas"]["RepairRequest"]["oneOf"] = [
        {"required": ["differences"]}, {"required": ["kinds"]}]


def _run_or_404(session, run_id: int):
    run = session.get(ReconcileRun, run_id) if run_id <= LARGEST_ID else None
    if run is None:
        return None, (jsonify({"error": f"no reconciliation {run_id}"}), 404)
    return run, None


@blueprint.post("/reconciliations")
@require_token
def start_reconciliation():
    """Start a reconciliation now.
    ---
    post:
      summary: Start a reconciliation
      description: Enqueued as a job for the connector workers; one at a time (a scheduled or running one answers 409).
      security: [{bearer: []}]
      responses:
        202: {description: Queued, content: {application/json: {schema: StartedSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        409: {description: A reconciliation is already queued or running, content: {application/json: {schema: BusySchema}}}
        503: {description: Redis unavailable, content: {application/json: {schema: ErrorSchema}}}
    """
    from reconciler import schedule  # with the run it enqueues, the connector's clients: loaded when used

    try:
        job_id = schedule.start(resources.redis(), resources.config(), "api")
    except schedule.AlreadyRunning as busy:
        return jsonify({"error": str(busy), "job_id": busy.job_id}), 409
    except RedisError as exc:
        return jsonify({"error": f"Redis unavailable ({exc.__class__.__name__}), retry later"}), 503
    return jsonify({"job_id": job_id, "status": "queued"}), 202


@blueprint.get("/reconciliations")
@require_token
def list_reconciliations():
    """Runs, newest first.
    ---
    get:
      summary: List reconciliations
      security: [{bearer: []}]
      parameters:
      - in: query
        schema: RunListQuerySchema
      responses:
        200: {description: One page of runs and how many there are, content: {application/json: {schema: RunPageSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid parameters, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    criteria = _load(RunListQuerySchema(), request.args)
    session = resources.session()
    try:
        total = session.scalar(select(func.count()).select_from(ReconcileRun))
        runs = session.scalars(select(ReconcileRun).order_by(ReconcileRun.id.desc())
                               .limit(criteria["limit"]).offset(criteria["offset"])).all()
        return jsonify(RunPageSchema().dump({"total": total, "runs": runs}))
    finally:
        session.close()


@blueprint.get("/reconciliations/<int:run_id>")
@require_token
def show_reconciliation(run_id: int):
    """One run: status, timing, counts per kind and entity, requests made.
    ---
    get:
      summary: Show one reconciliation
      security: [{bearer: []}]
      parameters:
      - {in: path, name: run_id, required: true, schema: {type: integer, minimum: 0}}
      responses:
        200: {description: The run, content: {application/json: {schema: RunSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        404: {description: No such run, content: {application/json: {schema: ErrorSchema}}}
    """
    session = resources.session()
    try:
        run, missing = _run_or_404(session, run_id)
        return missing or jsonify(RunSchema().dump(run))
    finally:
        session.close()


@blueprint.get("/reconciliations/<int:run_id>/differences")
@require_token
def list_differences(run_id: int):
    """The differences a run found, with both systems' values: a JSON page or a CSV download.
    ---
    get:
      summary: List or download a reconciliation's differences
      description: Both systems' values are personal data; the CSV is for the admins who repair them.
      security: [{bearer: []}]
      parameters:
      - {in: path, name: run_id, required: true, schema: {type: integer, minimum: 0}}
      - in: query
        schema: DifferenceQuerySchema
      responses:
        200:
          description: 'A page of differences (format=json) or all of them as a CSV attachment (format=csv)'
          content:
            application/json: {schema: DifferencePageSchema}
            text/csv: {schema: {type: string}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        404: {description: No such run, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid parameters, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    query = request.args.to_dict()
    if "kind" in request.args:  # repeatable: ?kind=missing_in_crm&kind=extra_in_crm
        query["kind"] = request.args.getlist("kind")
    criteria = _load(DifferenceQuerySchema(), query)
    session = resources.session()
    try:
        run, missing = _run_or_404(session, run_id)
        if missing:
            return missing
        base = select(ReconcileDifference).where(ReconcileDifference.run_id == run_id)
        if criteria.get("kind"):
            base = base.where(ReconcileDifference.kind.in_(criteria["kind"]))
        if criteria["format"] == "json":
            total = session.scalar(select(func.count()).select_from(base.subquery()))
            found = session.scalars(base.order_by(ReconcileDifference.id).limit(criteria["limit"])
                                    .offset(criteria["offset"])).all()
            return jsonify(DifferencePageSchema().dump({"total": total, "differences": found}))
    finally:
        session.close()
    response = Response(stream_with_context(_csv(base)), mimetype="text/csv")
    response.headers["Content-Disposition"] = f'attachment; filename="reconciliation-{run_id}-differences.csv"'
    return response


def _cell(value) -> str:
    if value is None:
        return ""
    text = str(value)
    return "'" + text if FORMULA.match(text) else text


def _csv(statement):
    """The CSV, CSV_CHUNK rows per query in id order: a run of any size streams in flat memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(report.DIFFERENCE_COLUMNS)
    after = 0
    session = resources.session()
    try:
        while True:
            chunk = session.scalars(statement.where(ReconcileDifference.id > after)
                                    .order_by(ReconcileDifference.id).limit(CSV_CHUNK)).all()
            for difference in chunk:
                row = report.difference_dict(difference)
                writer.writerow([_cell(row[column]) for column in report.DIFFERENCE_COLUMNS])
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
            if len(chunk) < CSV_CHUNK:
                return
            after = chunk[-1].id
    finally:
        session.close()


@blueprint.post("/reconciliations/<int:run_id>/repair")
@require_token
def repair_reconciliation(run_id: int):
    """Re-apply the owning side's state for chosen differences, through the normal ordered path.
    ---
    post:
      summary: Repair a reconciliation's differences
      description: 'Moodle-owned: the plugin resends its state; CRM-owned fields: the CRM record is written to Moodle again; CRM records whose Moodle entity is gone: as RECONCILE_EXTRA_RECORDS says (nothing, by default). dry_run lists what would be done.'
      security: [{bearer: []}]
      parameters:
      - {in: path, name: run_id, required: true, schema: {type: integer, minimum: 0}}
      requestBody: {required: true, content: {application/json: {schema: RepairRequestSchema}}}
      responses:
        200: {description: What was (or would be) done, content: {application/json: {schema: RepairResultSchema}}}
        400: {description: 'A NUL or lone surrogate in a path, query or body string', content: {application/json: {schema: ErrorSchema}}}
        401: {description: No valid bearer token, content: {application/json: {schema: ErrorSchema}}}
        404: {description: No such run, content: {application/json: {schema: ErrorSchema}}}
        409: {description: The run is still going, content: {application/json: {schema: ErrorSchema}}}
        422: {description: 'Invalid body, by field', content: {application/json: {schema: ErrorSchema}}}
    """
    from reconciler import repair  # the connector's rules and clients: loaded by the processes that repair

    body = _load(RepairRequestSchema(), request.get_json(silent=True) or {})
    session = resources.session()
    try:
        run, missing = _run_or_404(session, run_id)
        if missing:
            return missing
        if run.status == ReconcileStatus.RUNNING:
            return jsonify({"error": f"reconciliation {run_id} is still running: repair it once it is over"}), 409
        actions = repair.repair(session, resources.config(), run_id, difference_ids=body.get("differences"),
                                kinds=body.get("kinds"), dry_run=body["dry_run"])
        session.commit()
        return jsonify(RepairResultSchema().dump({"run_id": run_id, "dry_run": body["dry_run"],
                                                  "actions": actions}))
    finally:
        session.close()
