"""Prometheus metrics of the connector workers (served on WORKER_METRICS_PORT)."""

from prometheus_client import Counter, Histogram

EVENTS = Counter("crmsync_events_total", "Inbox events finished by the connector", ["type", "outcome"])
CRM_WRITES = Counter("crmsync_crm_writes_total", "Create, update and delete calls sent to SuiteCRM")
CRM_LATENCY = Histogram("crmsync_apply_seconds", "Time to apply one event's writes to SuiteCRM")
RETRIES = Counter("crmsync_retries_total", "Events that failed transiently and will be retried")
MOODLE_WRITES = Counter("crmsync_moodle_writes_total", "Update calls sent to Moodle (CRM → Moodle)")
