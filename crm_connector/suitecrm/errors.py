"""What can go wrong talking to SuiteCRM, sorted by what the caller should do about it."""

from __future__ import annotations


class CrmError(Exception):
    """Base class; `detail` is SuiteCRM's own message (safe to store: it holds ids, not personal data)."""

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status


class TransientError(CrmError):
    """Timeouts, connection errors, 5xx, 429: try again later (after `retry_after` seconds if given).

    `may_have_landed`: the request was sent and no answer came (a timeout): the CRM may still carry
    it out, later than anything written after it.
    """

    def __init__(self, detail: str, status: int | None = None, retry_after: float | None = None,
                 may_have_landed: bool = False):
        super().__init__(detail, status)
        self.retry_after, self.may_have_landed = retry_after, may_have_landed


class Unavailable(TransientError):
    """The CRM as a whole cannot be used now (no connection, 502/503/504, 429): pause, not the message's fault."""


class AuthError(CrmError):
    """The CRM refused our credentials even after a fresh token: configuration, not data, is wrong."""


class PermanentError(CrmError):
    """The CRM rejected the request itself (SuiteCRM's 400): retrying the same write cannot help."""


class NotFound(PermanentError):
    """SuiteCRM answers 'not found' as a 400 whose detail says so."""


class AlreadyExists(PermanentError):
    """A create with an id that exists (or existed: ids are never reusable in SuiteCRM)."""
