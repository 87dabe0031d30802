"""Key material of the three roles (ask, operator, admin); the HTTP guard is ``api.access``."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from ragsvc.errors import ConfigError, RagsvcError
from ragsvc.settings import ApiSettings

Role = Literal["ask", "operator", "admin"]
RANK: dict[Role, int] = {"ask": 0, "operator": 1, "admin": 2}


class WrongOriginError(RagsvcError):
    """A widget key sent from a page its key is not bound to."""


Context = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class WidgetGrant:
    key: bytes
    origins: frozenset[str]
    context: Context = ()
    """The caller context its asks are bound to (``WidgetKey.context``)."""


@dataclass(frozen=True, slots=True)
class AccessKeys:
    admin: bytes
    operator: bytes
    widgets: tuple[WidgetGrant, ...] = ()
    public_ask: bool = True

    @classmethod
    def of(cls, admin: str, operator: str, api: ApiSettings | None = None) -> AccessKeys:
        """Keys from their values; widget keys and ``public_ask`` from ``api``."""
        api = api or ApiSettings()
        widgets = tuple(
            WidgetGrant(
                w.key.get_secret_value().encode(), frozenset(w.origins), tuple(w.context.items())
            )
            for w in api.widget_keys
        )
        return cls(admin.encode(), operator.encode(), widgets, api.public_ask)

    def role_of(self, key: bytes, origin: str | None) -> Role | None:
        """The role ``key`` grants (None: no key, or not one of ours); raises for a widget key
        sent from an origin it is not bound to."""
        if not key:
            return None
        if secrets.compare_digest(key, self.admin):
            return "admin"
        if secrets.compare_digest(key, self.operator):
            return "operator"
        widget = self._widget(key)
        if widget is None:
            return None
        if widget.origins and origin not in widget.origins:
            raise WrongOriginError(
                f"this widget key may be used from {', '.join(sorted(widget.origins))} "
                f"only, not from {origin or 'a request without an Origin header'}"
            )
        return "ask"

    def bound_context(self, key: bytes) -> Context:
        """The caller context ``key`` binds its asks to: a widget key's, else none."""
        widget = self._widget(key)
        return widget.context if widget is not None else ()

    def _widget(self, key: bytes) -> WidgetGrant | None:
        return next((w for w in self.widgets if key and secrets.compare_digest(key, w.key)), None)


def ensure_key(configured: SecretStr | None, path: Path) -> str:
    """The configured key, else the one in ``path``, else a new random one written there with
    mode 0600 (created exclusively, so two starting processes agree on one key)."""
    if configured is not None:
        value = configured.get_secret_value()
        if len(value) < 16:
            raise ConfigError(
                f"an API key must have at least 16 characters, got {len(value)} "
                f"(the key for {path.name}); generate one: python -c 'import secrets; "
                "print(secrets.token_urlsafe(24))'"
            )
        return value
    if path.is_file() and (existing := path.read_text().strip()):
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(24)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip() or key
    with os.fdopen(fd, "w") as fh:
        fh.write(key)
    return key


def load_keys(api: ApiSettings) -> AccessKeys:
    """The service's keys: configured, else read from (or generated into) their key files."""
    admin = ensure_key(api.admin_api_key, api.admin_key_file)
    operator = ensure_key(api.operator_api_key, api.operator_key_file)
    if secrets.compare_digest(admin, operator):
        raise ConfigError("api.admin_api_key and api.operator_api_key must differ")
    return AccessKeys.of(admin, operator, api)
