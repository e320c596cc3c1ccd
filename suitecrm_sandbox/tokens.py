"""OAuth2 as SuiteCRM's league/oauth2-server answers it: clients, grants, JWT access tokens, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Callable
from dataclasses import dataclass


class OAuthError(Exception):
    def __init__(self, status: int, error: str, description: str, hint: str | None = None):
        super().__init__(description)
        self.status, self.error, self.description, self.hint = status, error, description, hint

    def body(self) -> dict:
        body = {"error": self.error, "error_description": self.description}
        if self.hint:
            body["hint"] = self.hint
        body["message"] = self.description
        return body


UNSUPPORTED_GRANT = ("unsupported_grant_type",
                     "The authorization grant type is not supported by the authorization server.",
                     "Check that all required parameters have been provided")
DENIED = "The resource owner or authorization server denied the request."


@dataclass
class Client:
    client_id: str
    secret: str
    grants: frozenset[str]


@dataclass
class Clients:
    clients: dict[str, Client]
    username: str
    password: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    def __init__(self, store, clients: Clients, options, now: Callable[[], float]):
        self.store, self.clients, self.options, self.now = store, clients, options, now
        self._key = secrets.token_bytes(32)

    def _jwt(self, client_id: str, token_id: str, issued: float, expires: float) -> str:
        header = _b64(json.dumps({"typ": "JWT", "alg": "HS256"}).encode())
        claims = _b64(json.dumps({"aud": client_id, "jti": token_id, "iat": issued, "nbf": issued,
                                  "exp": expires, "sub": "", "scopes": []}).encode())
        signature = _b64(hmac.new(self._key, f"{header}.{claims}".encode(), hashlib.sha256).digest())
        return f"{header}.{claims}.{signature}"

    def issue(self, client_id: str, with_refresh: bool, ttl: float | None = None, user: str = "") -> dict:
        """A token acting as `user` (the password grant's), or as the client's own user when "": in SuiteCRM
        a client_credentials token acts as the OAuth2 client's assigned user, the sync's API user."""
        now = self.now()
        token_id = uuid.uuid4().hex
        expires = now + (ttl if ttl is not None else self.options.token_ttl)
        refresh = secrets.token_urlsafe(48) if with_refresh else None
        self.store.save_token(token_id, client_id, expires, refresh, user)
        body = {"token_type": "Bearer", "expires_in": int(expires - now),
                "access_token": self._jwt(client_id, token_id, now, expires)}
        if refresh:
            body["refresh_token"] = refresh
        return body

    def grant(self, params: dict) -> dict:
        grant_type = params.get("grant_type")
        if grant_type not in {"client_credentials", "password", "refresh_token"}:
            raise OAuthError(400, *UNSUPPORTED_GRANT)
        client_id = str(params.get("client_id", ""))
        client = self.clients.clients.get(client_id)
        if client is None:
            message = f"OAuth2Clients module with id {client_id} is not found"
            raise OAuthError(500, "unknown_error", message)
        if not hmac.compare_digest(str(params.get("client_secret", "")), client.secret) \
                or grant_type not in client.grants:
            raise OAuthError(401, "invalid_client", "Client authentication failed")
        if grant_type == "client_credentials":
            return self.issue(client_id, with_refresh=False)
        if grant_type == "password":
            if params.get("username") != self.clients.username or params.get("password") != self.clients.password:
                raise OAuthError(400, "invalid_grant", "The user credentials were incorrect.")
            return self.issue(client_id, with_refresh=True, user=self.clients.username)
        owner = self.store.take_refresh_token(str(params.get("refresh_token", "")))
        if owner is None or owner[0] != client_id:
            raise OAuthError(401, "invalid_request", "The refresh token is invalid.",
                             "Token has been revoked")
        return self.issue(client_id, with_refresh=True, user=owner[1])

    def check(self, authorization: str) -> str:
        """The token's user ("" for the client's own user); raises the 401 the real server answers for a
        missing, garbage, expired or revoked token."""
        token = authorization[7:].strip() if authorization.startswith("Bearer ") else authorization.strip()
        if token.count(".") != 2:
            raise OAuthError(401, "access_denied", DENIED, "The JWT string must have two dots")
        header, claims_part, signature = token.split(".")
        expected = _b64(hmac.new(self._key, f"{header}.{claims_part}".encode(), hashlib.sha256).digest())
        try:
            claims = json.loads(_unb64(claims_part))
        except ValueError:
            claims = None
        if not hmac.compare_digest(signature, expected) or not claims or claims.get("exp", 0) < self.now():
            raise OAuthError(401, "access_denied", DENIED, "Access token could not be verified")
        stored = self.store.token(claims.get("jti", ""))
        if stored is None or stored[1] or stored[0] < self.now():
            raise OAuthError(401, "access_denied", DENIED, "Access token has been revoked")
        return stored[2]

    def token_id(self, authorization: str) -> str | None:
        try:
            return json.loads(_unb64(authorization.split(".")[1])).get("jti")
        except (IndexError, ValueError):
            return None

    def revoke_presented(self, authorization: str) -> None:
        token_id = self.token_id(authorization)
        if token_id:
            self.store.revoke(token_id)
