"""A Moodle web-service (REST) client that survives the real server's quirks.

Quirks handled here (see ../shared/fixtures/moodle-4.3-ws): every error is an HTTP 200 whose body
is {"exception", "errorcode", "message", "debuginfo"?}; core_user_update_users reports an unknown
user as a warning inside a successful answer; enrol, unenrol and group-membership calls answer
`null`, a repeat enrolment included; enrolling into a course without an enabled manual enrolment
crashes with an empty HTTP 500, which the client tells apart from a server failure by asking for
the course's enrolment methods.

The token travels in the POST body only, so it never appears in a URL, a log line or an error.
"""

from __future__ import annotations

import logging
import re
import time

import requests

from crm_connector.moodle.errors import (
    AuthError,
    FunctionNotAllowed,
    InvalidParameter,
    InvalidToken,
    MoodleError,
    MoodleException,
    NoManualEnrolment,
    NotEnrolled,
    NotFound,
    PermanentError,
    PolicyNotAgreed,
    RoleNotAssignable,
    TransientError,
    Unavailable,
    UnknownFunction,
)

log = logging.getLogger(__name__)
ENDPOINT = "/webservice/rest/server.php"
ENROL_FUNCTIONS = {"enrol_manual_enrol_users", "enrol_manual_unenrol_users"}
UNAVAILABLE_CODES = {"sitemaintenance"}


def encode(params: dict, prefix: str = "") -> list[tuple[str, str]]:
    """Moodle's (PHP's) form encoding of nested arrays: users[0][customfields][0][type]=…"""
    pairs: list[tuple[str, str]] = []
    for key, value in params.items():
        name = f"{prefix}[{key}]" if prefix else str(key)
        if isinstance(value, dict):
            pairs += encode(value, name)
        elif isinstance(value, list | tuple):
            pairs += encode(dict(enumerate(value)), name)
        elif isinstance(value, bool):
            pairs.append((name, "1" if value else "0"))
        elif value is not None:
            pairs.append((name, str(value)))
    return pairs


def _error(function: str, body: dict) -> MoodleError:
    exception, code = str(body.get("exception", "")), str(body.get("errorcode", ""))
    message, debuginfo = str(body.get("message", "")), body.get("debuginfo")
    detail = f"{function}: {message}"
    if code == "invalidtoken":
        return InvalidToken(f"{function}: Moodle refused the web-service token ({message})", 200)
    if code == "sitepolicynotagreed":  # seen on a real Moodle 4.3 after a new site policy version went live
        return PolicyNotAgreed(f"{function}: the web-service user has not agreed to Moodle's current site policy; "
                               "log in to Moodle as that user once and accept it, or accept it on their behalf "
                               "(Site administration → Users → Privacy and policies → User agreements)", 200)
    if exception == "webservice_access_exception":
        return FunctionNotAllowed(f"{function} is not in the token's web service: add it to the service", 200)
    if exception == "dml_missing_record_exception" and "external_functions" in message:
        return UnknownFunction(f"{function} does not exist on this Moodle (is its plugin installed?)", 200)
    if code in UNAVAILABLE_CODES:
        return Unavailable(detail, 200)
    kind = (InvalidParameter if exception == "invalid_parameter_exception"
            else NotFound if exception == "dml_missing_record_exception"
            else NotEnrolled if code in ("usernotenroled", "notenrolled", "notenroled")
            else RoleNotAssignable if code == "wsusercannotassign"
            else MoodleException)
    return kind(code, message, exception, debuginfo, function)


class MoodleClient:
    def __init__(self, url: str, token: str, timeout: float = 10.0):
        self.url = url.rstrip("/")
        self._token = token
        self.timeout = timeout
        self.session = requests.Session()
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.calls = 0

    def __repr__(self) -> str:  # the token stays out of reprs, tracebacks and logs
        return f"MoodleClient({self.url!r})"

    # --- transport -------------------------------------------------------------------------------
    def call(self, function: str, params: dict | None = None) -> object:
        """One web-service call: its decoded result, or a MoodleError subclass."""
        data = [("wstoken", self._token), ("wsfunction", function), *encode(params or {})]
        self.calls += 1
        started = time.monotonic()
        try:
            response = self.session.post(f"{self.url}{ENDPOINT}", params={"moodlewsrestformat": "json"},
                                         data=data, timeout=self.timeout)
        except requests.Timeout:
            raise TransientError(f"{function}: timed out after {self.timeout}s", may_have_landed=True) from None
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
            raise Unavailable(f"{function}: connection failed ({exc.__class__.__name__})") from None
        log.debug("moodle %s answered %s in %.3fs", function, response.status_code, time.monotonic() - started)
        return self._result(function, params or {}, response)

    def _result(self, function: str, params: dict, response: requests.Response) -> object:
        status = response.status_code
        if status == 200:
            try:
                body = response.json()
            except ValueError:
                raise TransientError(f"{function}: unreadable answer ({response.headers.get('Content-Type')})",
                                     status) from None
            if isinstance(body, dict) and "exception" in body and "errorcode" in body:
                raise _error(function, body)
            return body
        if status == 500 and function in ENROL_FUNCTIONS and not response.text.strip():
            self._explain_enrol_crash(function, params)
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            seconds = float(retry_after) if retry_after and re.fullmatch(r"\d+(\.\d+)?", retry_after) else None
            # A 500 may be about this one request; the others say the whole Moodle is away or busy.
            kind = TransientError if status == 500 else Unavailable
            raise kind(f"{function}: Moodle answered {status}", status, seconds)
        if status in (401, 403, 404):
            raise AuthError(f"{function}: {self.url}{ENDPOINT} answered {status}: is this Moodle's address, "
                            "with web services and the REST protocol enabled?", status)
        raise PermanentError(f"{function}: Moodle answered {status}", status)

    def _explain_enrol_crash(self, function: str, params: dict) -> None:
        """Raise NoManualEnrolment if a named course lacks manual enrolment; else let the 500 count as a failure."""
        course_ids = sorted({int(e["courseid"]) for e in params.get("enrolments", [])})
        lacking = []
        for course_id in course_ids:
            courses = self.get_courses_by_field("id", course_id)
            if courses and "manual" not in courses[0].get("enrollmentmethods", []):
                lacking.append(course_id)
        if lacking:
            raise NoManualEnrolment(lacking)

    # --- the functions the sync uses --------------------------------------------------------------
    def get_site_info(self) -> dict:
        return self.call("core_webservice_get_site_info")

    def get_users_by_field(self, field: str, values: list) -> list[dict]:
        """Users whose `field` (id, idnumber, username, email) is one of `values`; deleted ones come anonymised."""
        return self.call("core_user_get_users_by_field", {"field": field, "values": list(values)})

    def create_users(self, users: list[dict]) -> list[dict]:
        """[{id, username}]; all or none are created."""
        return self.call("core_user_create_users", {"users": users})

    def update_users(self, users: list[dict]) -> list[dict]:
        """The warnings: one per user Moodle did not update (e.g. `invaliduserid`); the others are updated."""
        return self.call("core_user_update_users", {"users": users}).get("warnings", [])

    def enrol_users(self, enrolments: list[dict]) -> None:
        """Enrol (or, if enrolled already, update the enrolment: Moodle answers the same null)."""
        self.call("enrol_manual_enrol_users", {"enrolments": enrolments})

    def unenrol_users(self, enrolments: list[dict]) -> None:
        self.call("enrol_manual_unenrol_users", {"enrolments": enrolments})

    def get_course_groups(self, course_id: int) -> list[dict]:
        return self.call("core_group_get_course_groups", {"courseid": course_id})

    def create_groups(self, groups: list[dict]) -> list[dict]:
        """[{id, courseid, name, …}]; a name the course has already is refused (InvalidParameter)."""
        return self.call("core_group_create_groups", {"groups": groups})

    def add_group_members(self, members: list[dict]) -> None:
        """Adding a member again changes nothing; only enrolled users may be members (InvalidParameter)."""
        self.call("core_group_add_group_members", {"members": members})

    def delete_group_members(self, members: list[dict]) -> None:
        """Removing someone who is not a member changes nothing."""
        self.call("core_group_delete_group_members", {"members": members})

    def get_enrolled_users(self, course_id: int, **options) -> list[dict]:
        """Options as Moodle names them: onlyactive, groupid, userfields (list or text), limitfrom, sortby…"""
        encoded = [{"name": name, "value": ",".join(value) if isinstance(value, list | tuple) else value}
                   for name, value in options.items()]
        return self.call("core_enrol_get_enrolled_users", {"courseid": course_id, "options": encoded})

    def course_roles(self, course_id: int) -> dict[int, set[int]]:
        """Each enrolled user's role ids in the course (core_enrol_get_enrolled_users with userfields id,roles: an
        id, full name and roles per user, the least a read of the roles carries)."""
        users = self.get_enrolled_users(course_id, userfields=["id", "roles"])
        return {int(u["id"]): {int(r["roleid"]) for r in u.get("roles", [])} for u in users}

    def unassign_roles(self, unassignments: list[dict]) -> None:
        """[{roleid, userid, contextlevel, instanceid}]: taking away a role not held (or from an unknown user)
        changes nothing; a role the service's user may not give there, or an unknown course, is InvalidParameter
        (without Moodle's reason unless it is debugging)."""
        self.call("core_role_unassign_roles", {"unassignments": unassignments})

    def get_courses_by_field(self, field: str, value) -> list[dict]:
        return self.call("core_course_get_courses_by_field", {"field": field, "value": value})["courses"]

    def get_course_completion_status(self, course_id: int, user_id: int) -> dict:
        return self.call("core_completion_get_course_completion_status",
                         {"courseid": course_id, "userid": user_id})["completionstatus"]

    # --- reconciliation (the plugin's own functions) ------------------------------------------------
    def export_state(self, kind: str, fromid: int = 0, limit: int = 200) -> dict:
        """One page of Moodle's current state of a kind: {"items": [{"subject", "message": JSON text of the
        message the outbox would send}], "nextfromid": the next page's fromid, 0 after the last, "total"}.
        An unknown kind is a MoodleException with errorcode `unknownkind`."""
        return self.call("local_crmsync_export_state", {"kind": kind, "fromid": fromid, "limit": limit})

    def resend(self, subjects: list[str]) -> dict:
        """{"queued": n, "unknown": [subjects not taken]}: fresh messages recorded in the plugin's outbox."""
        return self.call("local_crmsync_resend", {"subjects": list(subjects)})

    def notify_admins(self, subject: str, message: str, url: str = "") -> dict:
        """{"sent": n}: a Moodle notification to every site admin."""
        return self.call("local_crmsync_notify_admins", {"subject": subject, "message": message, "url": url})
