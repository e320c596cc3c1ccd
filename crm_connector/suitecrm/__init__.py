"""SuiteCRM V8 JSON API client."""

from crm_connector.suitecrm.client import SuiteCrmClient
from crm_connector.suitecrm.errors import (
    AlreadyExists,
    AuthError,
    CrmError,
    NotFound,
    PermanentError,
    TransientError,
)

__all__ = ["SuiteCrmClient", "CrmError", "TransientError", "AuthError", "NotFound", "AlreadyExists", "PermanentError"]
