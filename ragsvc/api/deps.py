"""Dependency providers: handlers receive the long-lived parts opened in the app's lifespan."""

from __future__ import annotations

import secrets

from litestar import Request
from litestar.exceptions import NotAuthorizedException

from ragsvc.runtime import Runtime

ADMIN_KEY_HEADER = "X-API-Key"


def provide_runtime(request: Request) -> Runtime:  # type: ignore[type-arg]
    runtime: Runtime = request.app.state.runtime
    return runtime


def require_admin(request: Request) -> None:  # type: ignore[type-arg]
    """Admin endpoints need ``X-API-Key`` equal to ``api.admin_api_key`` (or the key file's)."""
    runtime: Runtime = request.app.state.runtime
    given = request.headers.get(ADMIN_KEY_HEADER, "")
    if not given or not secrets.compare_digest(given, runtime.admin_key):
        raise NotAuthorizedException(
            f"admin endpoint: send the admin key in the {ADMIN_KEY_HEADER} header "
            "(api.admin_api_key, or the key in api.admin_key_file on the service's machine)"
        )
