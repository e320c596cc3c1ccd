"""Tables shared by the receiver (which writes the inbox) and the connector (which applies it)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every engine (SQLite and MySQL hand back naive ones)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None and value.tzinfo is not None:
            value = value.astimezone(UTC)
            if dialect.name in {"sqlite", "mysql", "mariadb"}:
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class EventStatus:
    """Life of an inbox row: pending → queued → applied | skipped (stale) | failed (dead letter).

    `waiting`: the event needs a parent record (its learner's Contact) that the CRM does not hold yet;
    applying the parent puts it back on the queue.
    """

    PENDING = "pending"
    QUEUED = "queued"
    WAITING = "waiting"
    APPLIED = "applied"
    SKIPPED = "skipped"
    FAILED = "failed"
    ALL = (PENDING, QUEUED, WAITING, APPLIED, SKIPPED, FAILED)


class InboxEvent(Base):
    """One accepted webhook event; its id is the Standard Webhooks message id, so a re-delivery is a no-op."""

    __tablename__ = "inbox_events"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    site_id: Mapped[str] = mapped_column(String(64))
    type: Mapped[str] = mapped_column(String(64), index=True)
    subject: Mapped[str] = mapped_column(String(191))
    sequence: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=EventStatus.PENDING, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    payload: Mapped[dict] = mapped_column(JSON)
    # The parent entity (e.g. "user:3") a waiting event needs before it can be applied.
    waiting_for: Mapped[str | None] = mapped_column(String(191), nullable=True)

    history: Mapped[list[EventTransition]] = relationship(
        back_populates="event", order_by="EventTransition.id", cascade="all, delete-orphan"
    )

    __table_args__ = (Index("ix_inbox_events_site_subject_sequence", "site_id", "subject", "sequence"),
                      Index("ix_inbox_events_site_waiting_for", "site_id", "waiting_for"))


class EventTransition(Base):
    """Audit trail of an inbox row's status changes, shown by the admin API."""

    __tablename__ = "event_transitions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("inbox_events.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)

    event: Mapped[InboxEvent] = relationship(back_populates="history")


class SubjectState(Base):
    """The judge of order for one subject (crm_connector/ordering.py).

    `last_sequence`: newest sequence applied; an event not newer than this is stale and skipped.
    `claim_token`/`claim_expires`: the one worker that may write this subject to the CRM now.
    `rewrite`: a writer lost its claim after writing, so the CRM may show an older state than
    `last_sequence`; the next claimant writes the newest state again, content hashes ignored.
    """

    __tablename__ = "subject_states"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    subject: Mapped[str] = mapped_column(String(191), primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claim_expires: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    rewrite: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)


class Tombstone:
    """Why a CRM record is gone or frozen; kept on its id-map row so later messages do the right thing."""

    DELETED = "deleted"  # deleted because Moodle's entity was deleted: a later upsert re-creates it
    WITHDRAWN = "withdrawn"  # the learner withdrew consent (delete policy): nothing is written about them
    ANONYMISED = "anonymised"  # identity blanked: the Contact is never written again
    ALL = (DELETED, WITHDRAWN, ANONYMISED)


class CrmRecord(Base):
    """Id map: which CRM record stands for a Moodle entity, and the hash of what was last written to it.

    `incarnation` counts re-creations: SuiteCRM never reuses a deleted id, so the n-th incarnation
    of an entity gets its own deterministic id. `course_id`, `cm_id` and `item_id` say which Moodle
    course, activity and grade item the record belongs to, so their deletion can cascade.

    `linked`: the record belongs to another site's learner (matched by e-mail); this site's records
    attach to it, but this site never writes it. `high_water` (on a `<key>#newest:<field group>` row):
    the newest Moodle time written to those fields, so an older value arriving later never replaces it.
    """

    __tablename__ = "crm_records"

    site_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    entity_key: Mapped[str] = mapped_column(String(191), primary_key=True)
    crm_module: Mapped[str] = mapped_column(String(64))
    crm_id: Mapped[str] = mapped_column(String(36), index=True)
    content_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    tombstone: Mapped[str | None] = mapped_column(String(16), nullable=True)
    incarnation: Mapped[int] = mapped_column(Integer, default=0)
    course_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    cm_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    item_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    linked: Mapped[bool] = mapped_column(Boolean, default=False)
    high_water: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # A learner's Contact only (crm_connector/ownership.py): `attributes`, what the CRM holds of the
    # fields this site writes (its content hash is over them); `fields`, per mapped field the value both
    # sides should hold and when each side last changed it; `version`, the compare-and-set that keeps the
    # two directions, each writing its own system, from deciding on a state the other has moved on.
    attributes: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    fields: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_crm_records_site_course", "site_id", "course_id"),
                      Index("ix_crm_records_site_cm", "site_id", "cm_id"),
                      Index("ix_crm_records_site_item", "site_id", "item_id"))


class FieldConflict(Base):
    """A change one side made that did not reach the other (docs/crm-mapping.md "Who owns a field").

    Field names, ids and times only: never the values (personal data).
    """

    __tablename__ = "field_conflicts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    site_id: Mapped[str] = mapped_column(String(64))  # the Moodle site
    moodle_user_id: Mapped[int] = mapped_column(BigInteger)
    crm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)  # the Contact
    crm_field: Mapped[str] = mapped_column(String(64))
    moodle_field: Mapped[str] = mapped_column(String(191))
    owner: Mapped[str] = mapped_column(String(16))
    loser: Mapped[str] = mapped_column(String(16))  # "crm" | "moodle": whose change was superseded
    lost_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # when the loser recorded it
    won_at: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # when the winner recorded its own
    reason: Mapped[str] = mapped_column(Text)
    event_id: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (Index("ix_field_conflicts_site_user", "site_id", "moodle_user_id"),)


class ReconcileStatus:
    """Life of a reconciliation run (reconciler/run.py)."""

    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"  # stopped by something a retry cannot fix (the reason is in `error`)
    INTERRUPTED = "interrupted"  # stopped part-way (an outage, a restart): the next run goes on from `checkpoint`
    ALL = (RUNNING, DONE, FAILED, INTERRUPTED)


class ReconcileRun(Base):
    """One comparison of a Moodle site with the CRM: when, how far it got, what it found and what it cost.

    `counts`: {difference kind: {entity: n}}; `checkpoint`: where an interrupted run goes on (written after
    every page, with that page's differences); `requests`: {"moodle": n, "crm": n} made by the run.
    """

    __tablename__ = "reconcile_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    site_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    status: Mapped[str] = mapped_column(String(16), default=ReconcileStatus.RUNNING)
    trigger: Mapped[str] = mapped_column(String(16))  # cli | api | schedule
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    counts: Mapped[dict] = mapped_column(JSON, default=dict)
    checkpoint: Mapped[dict | None] = mapped_column(JSON, nullable=True)
    requests: Mapped[dict] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    differences: Mapped[list[ReconcileDifference]] = relationship(
        back_populates="run", order_by="ReconcileDifference.id", cascade="all, delete-orphan")


class ReconcileDifference(Base):
    """One thing the CRM shows otherwise than Moodle's state says it should (reconciler/compare.py).

    `owner`: whose state a repair re-applies ("moodle": `subject` resent by the plugin; "crm": the Contact's
    newest CRM message, subject `contact:<id>`, written to Moodle again); none for identity problems, which
    need a person's decision (a duplicate's `moodle_value` is the Contact the sync writes, `crm_value` the other).
    """

    __tablename__ = "reconcile_differences"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconcile_runs.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    entity: Mapped[str] = mapped_column(String(32))
    key: Mapped[str] = mapped_column(String(191))
    crm_module: Mapped[str | None] = mapped_column(String(64), nullable=True)
    crm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    field: Mapped[str | None] = mapped_column(String(64), nullable=True)
    moodle_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    crm_value: Mapped[str | None] = mapped_column(Text, nullable=True)
    owner: Mapped[str | None] = mapped_column(String(16), nullable=True)
    subject: Mapped[str | None] = mapped_column(String(191), nullable=True)
    repaired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    repair_note: Mapped[str | None] = mapped_column(Text, nullable=True)

    run: Mapped[ReconcileRun] = relationship(back_populates="differences")

    __table_args__ = (Index("ix_reconcile_differences_run_kind", "run_id", "kind"),)


# --- registration service (registration/) ------------------------------------------------------------


class RegistrationStatus:
    """Life of a registration (registration/catalogue.py holds the capacity rule over these).

    `unconfirmed`: submitted, its e-mail address not yet confirmed (double opt-in); it holds a place until
    `hold_until` (its confirmation link's expiry), then it is deleted (someone may have typed in another's
    address: nothing of an unconfirmed registration is kept). `submitted` and onwards are the
    CRM's statuses: a confirmed registration is pushed to the CRM as `submitted`, staff decide there.
    """

    UNCONFIRMED = "unconfirmed"
    SUBMITTED = "submitted"
    ACCEPTED = "accepted"
    REJECTED = "rejected"
    WAITLISTED = "waitlisted"
    ENROLLED = "enrolled"
    ALL = (UNCONFIRMED, SUBMITTED, ACCEPTED, REJECTED, WAITLISTED, ENROLLED)
    # Statuses the CRM may set (mdl_Registrations.status).
    CRM = (SUBMITTED, ACCEPTED, REJECTED, WAITLISTED, ENROLLED)
    # Those that take a place of the programme's capacity (unconfirmed ones too while their hold lasts).
    TAKING = (SUBMITTED, ACCEPTED, ENROLLED)


class ProgrammeStatus:
    OPEN = "open"
    FULL = "full"
    CLOSED = "closed"  # outside its opening window
    INACTIVE = "inactive"
    ALL = (OPEN, FULL, CLOSED, INACTIVE)


class RegProject(Base):
    """A registration project: the local copy of a CRM mdl_RegProjects record (registration/catalogue.py).

    `declaration`: the key of its form declaration (registration/declarations/<key>.yaml).
    `digest_sent_until`: the end of the last digest period handled (sent, or nothing to tell).
    """

    __tablename__ = "reg_projects"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm_id: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    admin_email: Mapped[str | None] = mapped_column(String(255), nullable=True)
    digest_period: Mapped[str] = mapped_column(String(16), default="daily")
    declaration: Mapped[str] = mapped_column(String(64), default="default")
    digest_sent_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    programmes: Mapped[list[RegProgramme]] = relationship(back_populates="project", order_by="RegProgramme.name")


class RegProgramme(Base):
    """A programme people register for: the local copy of a CRM mdl_Programmes record.

    Its row is the lock every submission takes (SELECT … FOR UPDATE) before counting the places taken.
    """

    __tablename__ = "reg_programmes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    crm_id: Mapped[str] = mapped_column(String(36), unique=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("reg_projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    opens_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    closes_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    capacity: Mapped[int] = mapped_column(Integer, default=0)
    course_crm_ids: Mapped[list] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default=ProgrammeStatus.OPEN)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    project: Mapped[RegProject] = relationship(back_populates="programmes")


class RegRegistration(Base):
    """One person's registration for a programme. `answers`: the form's values (personal data: never logged)."""

    __tablename__ = "reg_registrations"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    programme_id: Mapped[int] = mapped_column(ForeignKey("reg_programmes.id"), index=True)
    email: Mapped[str] = mapped_column(String(255), index=True)
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16), default=RegistrationStatus.UNCONFIRMED)
    status_message: Mapped[str | None] = mapped_column(Text, nullable=True)
    language: Mapped[str] = mapped_column(String(8), default="en")
    consent_version: Mapped[str] = mapped_column(String(64))
    consent_at: Mapped[datetime] = mapped_column(UtcDateTime)
    submitted_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    hold_until: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    crm_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    crm_contact_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    pushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    programme: Mapped[RegProgramme] = relationship()

    __table_args__ = (Index("ix_reg_registrations_programme_status", "programme_id", "status"),)


class RegToken(Base):
    """A link sent by e-mail: `confirm` (double opt-in of a registration) or `magic` (prove an address to
    get one's previous answers). Only the SHA-256 of the token is stored; it is used once, before `expires_at`."""

    __tablename__ = "reg_tokens"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    email: Mapped[str] = mapped_column(String(255))
    project_id: Mapped[int | None] = mapped_column(ForeignKey("reg_projects.id"), nullable=True)
    registration_id: Mapped[str | None] = mapped_column(ForeignKey("reg_registrations.id", ondelete="CASCADE"),
                                                        nullable=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
