"""The Alembic migrations build exactly the schema the models describe, on every supported engine."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from crmsync import db
from crmsync.models import Base


def test_migrations_and_models_agree(database_url):
    engine = db.engine_for(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_upgrade_is_idempotent(database_url):
    db.upgrade(database_url)
    tables = set(inspect(db.engine_for(database_url)).get_table_names())
    assert {"inbox_events", "event_transitions", "subject_states", "crm_records", "alembic_version"} <= tables
