"""The console's sign-in: an operator (or admin) key, once, for a signed cookie that expires.

The cookie holds the role and the time of sign-in, signed (itsdangerous) with a secret derived
from the service's keys: rotating a key signs everyone out. It is ``HttpOnly`` and
``SameSite=Strict`` (a page of another site can neither read it nor make the browser send it
with a form post), and scoped to ``/console``. Tools may skip it and send the key in
``X-API-Key`` on every console request, as on the API.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ragsvc.keys import RANK, AccessKeys, Role, WrongOriginError

COOKIE = "ragsvc_console"
COOKIE_PATH = "/console"


class SignInRequiredError(Exception):
    """No usable sign-in; ``reason`` says which (shown on the sign-in page)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ConsoleSessions:
    keys: AccessKeys
    minutes: int

    @property
    def _serializer(self) -> URLSafeTimedSerializer:
        secret = hmac.new(
            self.keys.admin + b"\0" + self.keys.operator, b"ragsvc console session", hashlib.sha256
        ).hexdigest()
        return URLSafeTimedSerializer(secret, salt="console")

    def role_of_key(self, key: bytes) -> Role | None:
        """The console role ``key`` grants: operator or admin; None for any other key."""
        try:
            role = self.keys.role_of(key, None)
        except WrongOriginError:  # a widget key: not a console key
            return None
        return role if role is not None and RANK[role] >= RANK["operator"] else None

    def sign_in(self, key: bytes) -> str | None:
        """A session cookie value for ``key``, or None when it opens no console."""
        role = self.role_of_key(key)
        return None if role is None else self._serializer.dumps({"role": role})

    def role(self, cookie: str | None) -> Role:
        """The role a session cookie holds; raises :class:`SignInRequiredError` saying why not."""
        if not cookie:
            raise SignInRequiredError("Sign in with an operator key.")
        try:
            data = self._serializer.loads(cookie, max_age=self.minutes * 60)
        except SignatureExpired as exc:
            raise SignInRequiredError("Your session expired: sign in again.") from exc
        except BadSignature as exc:
            raise SignInRequiredError("Your session is no longer valid: sign in again.") from exc
        role = data.get("role") if isinstance(data, dict) else None
        if role not in ("operator", "admin"):
            raise SignInRequiredError("Sign in with an operator key.")
        return role  # type: ignore[no-any-return]
