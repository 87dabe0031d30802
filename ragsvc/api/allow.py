"""The ``Allow`` header of OPTIONS and 405 answers, computed from the app's routes.

Litestar's own OPTIONS handler keeps the methods of the first route object made for a path, so a
path served by handlers registered one after another (``GET`` and ``POST /v1/feedback``) lists
only some of its methods, and a 405 carries no ``Allow`` at all. One ``before_send`` hook sets
the header from the routes as they are.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.datastructures import MutableScopeHeaders
from litestar.enums import ScopeType
from litestar.types import Message, Scope


def allowed_methods(app: Litestar, path: str) -> set[str]:
    parts = [p for p in path.split("/") if p]
    methods: set[str] = set()
    for route in app.routes:
        components = [c for c in route.path_components if c != "/" and c != ""]
        if len(components) == len(parts) and all(
            not isinstance(c, str) or c.strip("/") == part
            for c, part in zip(components, parts, strict=True)
        ):
            methods.update(getattr(route, "methods", ()))
    return methods


async def allow_header(message: Message, scope: Scope) -> None:
    if message["type"] != "http.response.start" or scope["type"] != ScopeType.HTTP:
        return
    if scope["method"] != "OPTIONS" and message["status"] != 405:
        return
    methods = allowed_methods(scope["litestar_app"], scope["path"])
    if methods:
        MutableScopeHeaders.from_message(message)["Allow"] = ", ".join(sorted(methods))
