"""Moodle's exceptions as the web-service layer reports them (webservice/rest/locallib.php, generate_error).

The recorded site ran with debugging on, so `debuginfo` is sent and a moodle_exception's message
carries it in brackets, as Moodle's own constructor appends it. A site without developer debugging (site
setting `debugdeveloper` false, as the real Moodle of tests/moodle_sandbox/recorded/roles) sends neither.
"""

from __future__ import annotations


class MoodleException(Exception):
    """`exception` is the PHP class name the client sees; `message` the lang string, filled in."""

    def __init__(self, errorcode: str, message: str, debuginfo: str | None = None,
                 exception: str = "moodle_exception"):
        full = f"{message} ({debuginfo})" if debuginfo else message
        super().__init__(full)
        self.exception, self.errorcode, self.message, self.debuginfo = exception, errorcode, full, debuginfo
        self.plain_message = message

    def shown(self, debugging: bool) -> MoodleException:
        """The exception as a site with or without developer debugging reports it."""
        if debugging or self.debuginfo is None:
            return self
        return MoodleException(self.errorcode, self.plain_message, None, self.exception)

    def body(self) -> dict:
        body = {"exception": self.exception, "errorcode": self.errorcode, "message": self.message}
        if self.debuginfo is not None:
            body["debuginfo"] = self.debuginfo
        return body


class InvalidParameter(MoodleException):
    def __init__(self, debuginfo: str):
        super().__init__("invalidparameter", "Invalid parameter value detected", debuginfo,
                         exception="invalid_parameter_exception")


class MissingRecord(MoodleException):
    """dml_missing_record_exception for `SELECT * FROM {table} WHERE column = ?`, with PHP's var_export of the value."""

    def __init__(self, table: str, column: str, value):
        shown = str(value) if isinstance(value, int) else "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"
        sql = f"SELECT * FROM {{{table}}} WHERE {column} = ?\n[array (\n  0 => {shown},\n)]"
        super().__init__("invalidrecord", f"Can't find data record in database table {table}.", sql,
                         exception="dml_missing_record_exception")


class CodingError(MoodleException):
    def __init__(self, debuginfo: str):
        super().__init__("codingerror", "Coding error detected, it must be fixed by a programmer: " + debuginfo,
                         None, exception="coding_exception")


class PhpCrash(Exception):
    """An uncaught PHP error inside the web service: Moodle answers HTTP 500 with an empty body.

    Recorded: enrol_manual throws wsnoinstance with an object where a link string belongs, and
    get_exception_info() then dies with a TypeError.
    """
