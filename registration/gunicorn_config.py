"""gunicorn settings for the registration pages; `crmsync registration serve` adds --bind and --workers.

The access log leaves the token out of a link's path (/confirm/<token>, /previous/<token>): a log line
must not be a working link.
"""

import re

from gunicorn.glogging import Logger

from receiver.gunicorn_config import logconfig_dict  # noqa: F401 - the same log format as the receiver

worker_class = "gthread"
threads = 4
timeout = 30
graceful_timeout = 20
keepalive = 5
accesslog = "-"
errorlog = "-"
_TOKEN_PATH = re.compile(r"^/(confirm|previous)/[^/?]+")


class RedactingLogger(Logger):
    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        for key in ("r", "U"):
            if key in atoms:
                atoms[key] = _TOKEN_PATH.sub(r"/\1/…", atoms[key]) if key == "U" else re.sub(
                    r" /(confirm|previous)/[^/? ]+", r" /\1/…", atoms[key])
        atoms["q"] = ""
        return atoms


logger_class = RedactingLogger
