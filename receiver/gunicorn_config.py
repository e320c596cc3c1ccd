"""gunicorn settings for the receiver; `crmsync serve` loads them and adds --bind and --workers.

Keep `timeout` below nginx's proxy_read_timeout in docs/deploy/nginx-crmsync.conf, so nginx never
answers 504 for a request gunicorn is still working on (a test checks the two files agree).
"""

worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 20
keepalive = 5
# gunicorn answers an over-long header field with its own 431 HTML page before the app sees it; the
# default (8190 bytes) would shadow the receiver's JSON 400 for an over-long webhook-id. 32 KiB per
# field (at most 100 fields, gunicorn's default) keeps a request's headers bounded all the same.
limit_request_field_size = 32768
accesslog = "-"
errorlog = "-"


def child_exit(_server, worker):
    """Drop a dead worker's live-gauge samples (prometheus-client multiprocess mode)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def _logconfig() -> dict | None:
    """gunicorn's own lines (start-up, access, errors) in the product's format: JSON when LOG_FORMAT=json."""
    from crmsync import config as configuration

    settings = configuration.load()
    if settings.log_format != "json":
        return None
    handler = {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"()": "crmsync.logs.JsonFormatter"}},
        "handlers": {"json": handler},
        "root": {"level": settings.log_level, "handlers": ["json"]},
        "loggers": {
            "gunicorn.error": {"level": settings.log_level, "handlers": ["json"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["json"], "propagate": False},
        },
    }


logconfig_dict = _logconfig() or {}
