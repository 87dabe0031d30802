"""Who may call what: three roles, each route's role declared once (``access(role)``).

- ``ask``: ``POST /v1/ask``, its stream and feedback. Public by default (``api.public_ask``), or
  with a widget key bound to the origins it may be used from.
- ``operator``: traces, stats, feedback listing, retrieval as it is (chunk text), the console.
- ``admin``: ingest, documents, uploads; an admin key also opens every operator route.

A key comes in ``X-API-Key`` or ``Authorization: Bearer``. One app-wide guard reads the handler's
declared role; a route with no role (liveness, readiness, the OpenAPI schema) is public, and a test
checks that every ``/v1`` route declares one. No key is built in: a key left unset is generated at
first start into its key file (mode 0600), where ``ragsvc ingest`` on the same machine finds it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.openapi.spec import Components, SecurityScheme

from ragsvc.api.schemas import ErrorBody
from ragsvc.keys import RANK, AccessKeys, Role, WrongOriginError
from ragsvc.pipeline.answering import AskInput

KEY_HEADER = "X-API-Key"
_SCHEME = "apiKey"
_BEARER = "bearer"


def presented_key(connection: ASGIConnection[Any, Any, Any, Any]) -> bytes:
    """The key sent in ``X-API-Key`` or ``Authorization: Bearer``, as the bytes that came."""
    given = connection.headers.get(KEY_HEADER, "")
    if not given:
        scheme, _, token = connection.headers.get("Authorization", "").partition(" ")
        given = token.strip() if scheme.lower() == _BEARER else ""
    return given.encode("latin-1", errors="replace")  # ASGI headers are latin-1 decoded bytes


def role_guard(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """The app-wide guard: 401 without a usable key, 403 with a key below the route's role."""
    needed: Role | None = handler.opt.get("role")
    if needed is None:
        return
    keys: AccessKeys = connection.app.state.runtime.keys
    try:
        granted = keys.role_of(presented_key(connection), connection.headers.get("Origin"))
    except WrongOriginError as exc:
        raise PermissionDeniedException(str(exc)) from exc
    if granted is None:
        if needed == "ask" and keys.public_ask:
            return
        raise NotAuthorizedException(
            f"this endpoint needs the {needed} role: send its key in the {KEY_HEADER} header "
            "(or Authorization: Bearer)"
        )
    if RANK[granted] < RANK[needed]:
        raise PermissionDeniedException(
            f"this endpoint needs the {needed} role; the key sent grants {granted}"
        )


def bound_to_key(connection: ASGIConnection[Any, Any, Any, Any], asked: AskInput) -> AskInput:
    """``asked`` with the caller context its widget key is bound to (``WidgetKey.context``): a
    field it leaves out is filled in; another value for a bound field is a 403."""
    keys: AccessKeys = connection.app.state.runtime.keys
    bound = keys.bound_context(presented_key(connection))
    if not bound:
        return asked
    context = dict(asked.context)
    for field, value in bound:
        if context.setdefault(field, value) != value:
            raise PermissionDeniedException(
                f"this widget key is bound to {field}={value}; the ask names "
                f"{field}={context[field][:64]}"
            )
    return replace(asked, context=tuple(sorted(context.items())))


def access(
    role: Role, public: bool = False, errors: dict[int, str] | None = None
) -> dict[str, Any]:
    """A route handler's keyword arguments for ``role``: the role the guard checks, the security
    requirement and the answers it may give in the OpenAPI document (401/403, and ``errors``:
    other documented error statuses with what they mean)."""
    from litestar.openapi import ResponseSpec

    security: list[dict[str, list[str]]] = [{_SCHEME: []}, {_BEARER: []}]
    if public:
        security.append({})  # the key is optional when asking is public
    documented = {
        401: f"no {role} key, or an unknown one",
        403: f"the key does not grant the {role} role",
        **(errors or {}),
    }
    responses = {
        status: ResponseSpec(ErrorBody, description=meaning)
        for status, meaning in sorted(documented.items())
    }
    return {"opt": {"role": role}, "security": security, "responses": responses}


def security_components() -> Components:
    return Components(
        security_schemes={
            _SCHEME: SecurityScheme(
                type="apiKey",
                name=KEY_HEADER,
                security_scheme_in="header",
                description="ask (widget), operator or admin key",
            ),
            _BEARER: SecurityScheme(type="http", scheme="bearer", description="the same keys"),
        }
    )
