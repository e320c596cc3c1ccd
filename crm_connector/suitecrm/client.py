"""A SuiteCRM 7.x/8.x V8 API client that survives the real server's quirks.

Quirks handled here (see ../shared/fixtures/suitecrm-v8-7.14.6): PATCH answers 201; "not found"
and "already exists" come as 400 with a detail text; error bodies may carry plain text after the
JSON; every value comes back as an HTML-encoded string; lists stop at 20 rows unless paged.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Iterator

import requests
from redis import Redis
from redis.exceptions import RedisError

from crm_connector.suitecrm.errors import (
    AlreadyExists,
    AuthError,
    NotFound,
    PermanentError,
    TransientError,
    Unavailable,
)
from crm_connector.suitecrm.write_slots import WriteSlots

JSON_API = "application/vnd.api+json"
PAGE_SIZE = 100
NOT_FOUND = re.compile(r"module with id \S+ is not found|is not related to")
ALREADY_EXISTS = re.compile(r"with id \S+ is already exist")
TOKEN_MARGIN_SECONDS = 60


def _decode(text: str) -> object:
    """JSON of a response, ignoring text SuiteCRM appends after it on database errors."""
    text = text.strip()
    if not text:
        return None
    try:
        return json.JSONDecoder().raw_decode(text)[0]
    except ValueError:
        return None


def _unescape(attributes: dict) -> dict:
    return {k: html.unescape(v) if isinstance(v, str) else v for k, v in attributes.items()}


class SuiteCrmClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str, username: str = "", password: str = "",
                 timeout: float = 10.0, redis: Redis | None = None, max_concurrent_writes: int = 0):
        self.base_url = base_url.rstrip("/")
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self.timeout = timeout
        self.redis = redis
        self.session = requests.Session()
        self.session.headers.update({"Accept": JSON_API})
        adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=16)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self._token: str | None = None
        key = hashlib.sha256(f"{self.base_url}|{client_id}|{username}".encode()).hexdigest()[:16]
        self._token_key = f"crmsync:crm-token:{key}"
        self.calls = 0
        # Shared by every process writing this CRM (write_slots.py); a slot outlives one call's timeout.
        self.write_slots = WriteSlots(redis, self.base_url, max_concurrent_writes, lease_seconds=2 * timeout + 5)

    # --- authentication --------------------------------------------------------------------------
    def _fetch_token(self) -> str:
        body = {"grant_type": "client_credentials", "client_id": self.client_id, "client_secret": self.client_secret}
        if self.username:
            body.update(grant_type="password", username=self.username, password=self.password)
        try:
            response = self.session.post(f"{self.base_url}/Api/access_token", json=body, timeout=self.timeout,
                                         headers={"Accept": "application/json"})
        except requests.RequestException as exc:
            raise Unavailable(f"token request failed: {exc.__class__.__name__}") from None
        payload = _decode(response.text)
        if response.status_code == 200 and isinstance(payload, dict) and "access_token" in payload:
            token = payload["access_token"]
            # Shared by every worker, so N workers do not each log in.
            ttl = max(1, int(payload.get("expires_in", 3600)) - TOKEN_MARGIN_SECONDS)
            self._cache(lambda redis: redis.set(self._token_key, token, ex=ttl))
            return token
        if response.status_code >= 500 and not (isinstance(payload, dict) and payload.get("error")):
            raise Unavailable(f"token endpoint answered {response.status_code}", response.status_code)
        reason = payload.get("error_description", "") if isinstance(payload, dict) else response.text[:200]
        raise AuthError(f"SuiteCRM refused the OAuth2 client: {reason}", response.status_code)

    def _cache(self, call):
        """The shared token cache is an optimisation: with Redis away, each process logs in itself."""
        if self.redis is None:
            return None
        try:
            return call(self.redis)
        except RedisError:
            return None

    def _current_token(self) -> str:
        if self._token is None:
            cached = self._cache(lambda redis: redis.get(self._token_key))
            self._token = cached.decode() if cached else None
        if self._token is None:
            self._token = self._fetch_token()
        return self._token

    def _forget_token(self) -> None:
        self._token = None
        self._cache(lambda redis: redis.delete(self._token_key))

    # --- transport -------------------------------------------------------------------------------
    def request(self, method: str, path: str, *, params=None, body: dict | None = None) -> object:
        if method == "GET":
            return self._request(method, path, params=params, body=body)
        # A write waits for one of the CRM's write slots (write_slots.py) after the writer's fencing check:
        # the wait is short beside the subject's lease, and the slot holds no database work of ours.
        with self.write_slots.slot():
            return self._request(method, path, params=params, body=body)

    def _request(self, method: str, path: str, *, params=None, body: dict | None = None) -> object:
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._current_token()}"}
            if body is not None:
                headers["Content-Type"] = JSON_API
            self.calls += 1
            try:
                response = self.session.request(method, f"{self.base_url}/Api/V8/{path}", params=params,
                                                data=json.dumps(body) if body is not None else None,
                                                headers=headers, timeout=self.timeout)
            except requests.Timeout:
                # Counted against the event: a call that always hangs may be this request's own doing.
                raise TransientError(f"{method} {path}: timed out after {self.timeout}s",
                                     may_have_landed=method != "GET") from None
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as exc:
                raise Unavailable(f"{method} {path}: connection failed ({exc.__class__.__name__})") from None
            if response.status_code == 401 and attempt == 1:
                self._forget_token()  # expired or revoked: log in again once
                continue
            return self._result(method, path, response)
        raise AuthError(f"{method} {path}: SuiteCRM refused a fresh token", 401)

    @staticmethod
    def _result(method: str, path: str, response: requests.Response) -> object:
        status = response.status_code
        payload = _decode(response.text)
        if status in (200, 201):
            if payload is None:
                raise TransientError(f"{method} {path}: unreadable {status} answer", status)
            return payload
        if status == 429 or status >= 500:
            retry_after = response.headers.get("Retry-After")
            seconds = float(retry_after) if retry_after and re.fullmatch(r"\d+(\.\d+)?", retry_after) else None
            # A 500 may be about this one request; the others say the whole CRM is away or busy.
            kind = TransientError if status == 500 else Unavailable
            raise kind(f"{method} {path}: SuiteCRM answered {status}", status, seconds)
        detail = ""
        if isinstance(payload, dict):
            errors = payload.get("errors")
            detail = errors.get("detail", "") if isinstance(errors, dict) else payload.get("message", "")
        detail = detail or response.text[:200]
        if status == 401:
            raise AuthError(f"{method} {path}: {detail}", status)
        if "Database failure" in detail:
            raise TransientError(f"{method} {path}: {detail}", status)
        if NOT_FOUND.search(detail):
            raise NotFound(detail, status)
        if ALREADY_EXISTS.search(detail):
            raise AlreadyExists(detail, status)
        raise PermanentError(f"{method} {path}: {detail}", status)

    # --- records ---------------------------------------------------------------------------------
    def create(self, module: str, attributes: dict, record_id: str | None = None) -> dict:
        data = {"type": module, "attributes": attributes}
        if record_id:
            data["id"] = record_id
        return self.request("POST", "module", body={"data": data})["data"]

    def update(self, module: str, record_id: str, attributes: dict) -> dict:
        body = {"data": {"type": module, "id": record_id, "attributes": attributes}}
        return self.request("PATCH", "module", body=body)["data"]

    def delete(self, module: str, record_id: str) -> None:
        self.request("DELETE", f"module/{module}/{record_id}")

    def get(self, module: str, record_id: str) -> dict | None:
        try:
            data = self.request("GET", f"module/{module}/{record_id}")["data"]
        except NotFound:
            return None
        return {"id": data["id"], **_unescape(data["attributes"])}

    def find(self, module: str, filters: dict[str, str], fields: list[str] | None = None) -> Iterator[dict]:
        """Every matching record: always paged with an explicit size and a stable sort."""
        number = 1
        while True:
            params = {f"filter[{name}][eq]": value for name, value in filters.items()}
            params.update({"page[size]": PAGE_SIZE, "page[number]": number, "sort": "date_entered"})
            if fields:
                params[f"fields[{module}]"] = ",".join(fields)
            payload = self.request("GET", f"module/{module}", params=params)
            for data in payload.get("data", []):
                yield {"id": data["id"], **_unescape(data.get("attributes", {}))}
            pages = payload.get("meta", {}).get("total-pages", 0)
            if number >= pages:
                return
            number += 1

    def related(self, module: str, record_id: str, link: str) -> Iterator[dict]:
        """Every record related to one through a link field (e.g. a Target List's `contacts`), paged."""
        number = 1
        while True:
            params = {"page[size]": PAGE_SIZE, "page[number]": number}
            payload = self.request("GET", f"module/{module}/{record_id}/relationships/{link}", params=params)
            for data in payload.get("data") or []:
                yield {"id": data["id"], **_unescape(data.get("attributes", {}))}
            pages = (payload.get("meta") or {}).get("total-pages", 0)
            if number >= pages:
                return
            number += 1
