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
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    __table_args__ = (Index("ix_crm_records_site_course", "site_id", "course_id"),
                      Index("ix_crm_records_site_cm", "site_id", "cm_id"),
                      Index("ix_crm_records_site_item", "site_id", "item_id"))
