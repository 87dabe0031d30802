"""``GET /widget.js``: the help-desk widget, one script with the service's widget settings in it
(``ragsvc/api/static/widget.js``), served by the service itself so no page needs a CDN."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from litestar import Request, Response, get

from ragsvc.runtime import Runtime

WIDGET_SOURCE = Path(__file__).resolve().parent.parent / "static" / "widget.js"
_PLACEHOLDER = "/*RAGSVC_CONFIG*/ {}"


@cache
def _source() -> str:
    return WIDGET_SOURCE.read_text(encoding="utf-8")


def widget_script(config: dict[str, object]) -> str:
    """The widget with ``config`` in place of its placeholder (JSON, and ``<`` escaped: the
    values are the operator's, but a script must never be closable from inside)."""
    value = json.dumps(config, ensure_ascii=False).replace("<", "\\u003c")
    return _source().replace(_PLACEHOLDER, value, 1)


DEMO_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>ragsvc widget demo</title></head>
<body style="font: 16px system-ui, sans-serif; margin: 40px">
<h1>The ragsvc help-desk widget</h1>
<p>This page embeds the widget with one tag; press <b>Help</b>, bottom right. On your own site:</p>
<pre>&lt;script src="{origin}/widget.js" defer&gt;&lt;/script&gt;</pre>
<p>(and its origin in <code>api.cors_origins</code>). Try <i>How do I reset my password?</i>,
<i>and from a hotel?</i> after a VPN question, or <i>パスワードを忘れました</i>.</p>
<script src="/widget.js" defer></script>
</body></html>
"""


@get("/widget/demo", tags=["widget"], sync_to_thread=False, include_in_schema=False)
def widget_demo(request: Request) -> Response[str]:  # type: ignore[type-arg]
    """The widget on a page of the service itself: nothing to configure to try it."""
    origin = f"{request.url.scheme}://{request.url.netloc}"
    return Response(DEMO_PAGE.replace("{origin}", origin), media_type="text/html; charset=utf-8")


@get("/widget.js", tags=["widget"], sync_to_thread=False, include_in_schema=False)
def widget_js(request: Request) -> Response[str]:  # type: ignore[type-arg]
    runtime: Runtime = request.app.state.runtime
    widget = runtime.settings.widget
    script = widget_script({"contact_url": widget.contact_url, "title": widget.title})
    return Response(
        script,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
