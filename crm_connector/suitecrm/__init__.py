"""SuiteCRM V8 JSON API client."""

from crm_connector.suitecrm.client import SuiteCrmClient
from crm_connector.suitecrm.errors import (
    AlreadyExists,
    AuthError,
    CrmError,
    NotFound,
    PermanentError,
    TransientError,
    Unavailable,
)

__all__ = ["SuiteCrmClient", "CrmError", "TransientError", "Unavailable", "AuthError", "NotFound", "AlreadyExists",
           "PermanentError"]
