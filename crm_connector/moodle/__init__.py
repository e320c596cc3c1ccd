"""Moodle web-service (REST) client."""

from crm_connector.moodle.client import MoodleClient
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
    retry_delay,
)

__all__ = ["MoodleClient", "MoodleError", "TransientError", "Unavailable", "AuthError", "InvalidToken",
           "FunctionNotAllowed", "UnknownFunction", "PermanentError", "MoodleException", "InvalidParameter",
           "NotFound", "NotEnrolled", "NoManualEnrolment", "PolicyNotAgreed", "RoleNotAssignable", "retry_delay"]
