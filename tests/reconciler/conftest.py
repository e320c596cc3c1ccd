"""The reconciler's tests use the connector's pipeline (receiver over HTTP, real Redis and databases, worker
processes, the SuiteCRM sandbox) and a Moodle sandbox."""

from tests.connector.conftest import pipeline  # noqa: F401 - a fixture
