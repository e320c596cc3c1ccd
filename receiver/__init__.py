"""Flask receiver: verifies, stores and enqueues Moodle webhooks; admin API."""
