"""What can go wrong talking to Moodle's web services, sorted by what the caller should do about it.

Same classes and attributes as crm_connector.suitecrm.errors, so a job treats both sides alike:
TransientError retries, Unavailable and AuthError pause the work, PermanentError dead-letters.
"""

from __future__ import annotations


class MoodleError(Exception):
    """Base class; `detail` is Moodle's own message (ids and codes; never the token)."""

    def __init__(self, detail: str, status: int | None = None):
        super().__init__(detail)
        self.detail, self.status = detail, status


class TransientError(MoodleError):
    """Timeouts, connection errors, 5xx, 429: try again later (after `retry_after` seconds if given).

    `may_have_landed`: the request was sent and no answer came (a timeout): Moodle may still carry it out.
    """

    def __init__(self, detail: str, status: int | None = None, retry_after: float | None = None,
                 may_have_landed: bool = False):
        super().__init__(detail, status)
        self.retry_after, self.may_have_landed = retry_after, may_have_landed


class Unavailable(TransientError):
    """Moodle as a whole cannot be used now (no connection, 502/503/504, 429, maintenance mode): pause."""


class AuthError(MoodleError):
    """Moodle refused the token or the service: configuration, not data, is wrong (pause and tell the operator)."""


class InvalidToken(AuthError):
    """The token is unknown, revoked or expired (Moodle's invalidtoken)."""


class FunctionNotAllowed(AuthError):
    """The token's service does not list the function (webservice_access_exception)."""


class PolicyNotAgreed(AuthError):
    """The web-service user has not agreed to Moodle's current site policy: every call but site info fails."""


class UnknownFunction(AuthError):
    """This Moodle has no such function (a plugin is missing or too old)."""


class PermanentError(MoodleError):
    """Moodle rejected the request itself: retrying the same call cannot help."""


class MoodleException(PermanentError):
    """An exception Moodle reported inside its HTTP 200 answer."""

    def __init__(self, errorcode: str, message: str, exception: str = "moodle_exception",
                 debuginfo: str | None = None, function: str = ""):
        super().__init__(f"{function}: {message}" if function else message, 200)
        self.errorcode, self.message, self.exception, self.debuginfo = errorcode, message, exception, debuginfo


class InvalidParameter(MoodleException):
    """invalid_parameter_exception: a value Moodle will not take (duplicate username, bad e-mail, unknown course…)."""


class NotFound(MoodleException):
    """dml_missing_record_exception: the record the call names does not exist."""


class NotEnrolled(MoodleException):
    """The user is not enrolled in the course the call is about."""


class RoleNotAssignable(MoodleException):
    """wsusercannotassign: the role cannot be given in a course (not a course-level role, or not for the token's user)."""


class NoManualEnrolment(PermanentError):
    """The course has no enabled manual enrolment instance; Moodle 4.3 answers that with an empty HTTP 500."""

    def __init__(self, course_ids: list[int]):
        super().__init__(f"course {', '.join(map(str, course_ids))} has no enabled manual enrolment method: "
                         "add one in the course's Enrolment methods", 500)
        self.course_ids = course_ids


def retry_delay(error: MoodleError, attempt: int, base: float = 1.0, cap: float = 300.0) -> float | None:
    """Seconds to wait before attempt `attempt + 1`, or None when retrying cannot help.

    Exponential from `base`, capped; a Retry-After the server gave wins when it is longer.
    """
    if not isinstance(error, TransientError):
        return None
    backoff = min(cap, base * 2 ** max(0, attempt - 1))
    return max(backoff, min(error.retry_after or 0, cap))
