"""The operator console at ``/console``: server-rendered pages over the traces, the stats, the FAQ
candidates and the indexed documents. Signing in takes an operator or admin key
(:mod:`ragsvc.console.session`); the FAQ actions take an admin sign-in."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from litestar import Controller, Request, Response, get, post
from litestar.connection import ASGIConnection
from litestar.di import Provide
from litestar.enums import RequestEncodingType
from litestar.exceptions import (
    HTTPException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.handlers.base import BaseRouteHandler
from litestar.params import Body, Parameter
from litestar.response import Redirect, Template
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from ragsvc.api.access import presented_key
from ragsvc.api.deps import provide_runtime
from ragsvc.api.errors import status_of
from ragsvc.console import charts, timeline
from ragsvc.console.candidates import add_entry, find_candidates
from ragsvc.console.session import COOKIE, COOKIE_PATH, ConsoleSessions, SignInRequiredError
from ragsvc.errors import RagsvcError
from ragsvc.keys import Role
from ragsvc.runtime import Runtime
from ragsvc.traces.schema import ROUTES, Route, utc_now
from ragsvc.traces.store import Rating, TraceQuery

PAGE_SIZE = 50
CONSOLE_TEMPLATES = Path(__file__).resolve().parent / "templates"
_ROLE = "console_role"


def _sessions(runtime: Runtime) -> ConsoleSessions:
    return ConsoleSessions(runtime.keys, runtime.settings.api.console_session_minutes)


def console_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A console session (or an operator key in the request), else the sign-in page; a form post
    must come from the console's own origin."""
    runtime: Runtime = connection.app.state.runtime
    sessions = _sessions(runtime)
    key = presented_key(connection)
    role = sessions.role_of_key(key) if key else None
    if role is None:
        role = sessions.role(connection.cookies.get(COOKIE))
    if connection.scope.get("method", "GET") != "GET":
        origin = connection.headers.get("Origin")
        own = f"{connection.url.scheme}://{connection.url.netloc}"
        if origin is not None and origin != own:
            raise PermissionDeniedException(f"a console form may be sent from {own} only")
    connection.state[_ROLE] = role


def _to_sign_in(request: Request[Any, Any, Any], exc: SignInRequiredError) -> Response[Any]:
    query = urlencode({"reason": exc.reason, "next": request.url.path})
    return Redirect(f"/console/login?{query}")


def _error_page(request: Request[Any, Any, Any], exc: HTTPException | RagsvcError) -> Template:
    """A console error as a page: what went wrong, and the way back."""
    status = exc.status_code if isinstance(exc, HTTPException) else status_of(exc)
    detail = exc.detail if isinstance(exc, HTTPException) else str(exc)
    return _page("error.html", request, status_code=status, status=status, detail=detail)


def _page(
    name: str, request: Request[Any, Any, Any], status_code: int = 200, **context: Any
) -> Template:
    return Template(
        template_name=name,
        context={"role": request.state.get(_ROLE), "path": request.url.path, **context},
        status_code=status_code,
    )


def _safe_next(target: str | None) -> str:
    """Only a console page: never an open redirect to another site."""
    if target and target.startswith("/console") and not urlsplit(target).netloc:
        return target
    return "/console/traces"


class TraceFilters(BaseModel):
    """The trace list's filters as the form sends them."""

    model_config = ConfigDict(extra="ignore")

    route: Route | None = None
    degraded: bool | None = None
    language: str | None = Field(default=None, max_length=8)
    since: datetime | None = None
    until: datetime | None = None
    min_cost_usd: float | None = Field(default=None, ge=0)
    rating: Rating | None = None
    text: str | None = Field(default=None, max_length=200)
    page: int = Field(default=1, ge=1, le=1_000_000)

    @model_validator(mode="before")
    @classmethod
    def _empty_is_any(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data

    @field_validator("since", "until")
    @classmethod
    def _utc(cls, when: datetime | None) -> datetime | None:
        """The form's times carry no zone: they are UTC, as the list shows them."""
        return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when

    def query(self) -> TraceQuery:
        return TraceQuery(
            self.route,
            self.degraded,
            self.language,
            self.since,
            self.until,
            self.min_cost_usd,
            limit=PAGE_SIZE,
            offset=(self.page - 1) * PAGE_SIZE,
            text=self.text,
            rating=self.rating,
        )


def _first_problem(exc: ValidationError) -> str:
    error = exc.errors()[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}"


class SignIn(BaseModel):
    key: str = Field(max_length=500)
    next: str = Field(default="", max_length=500)


class PhrasingsForm(BaseModel):
    faq_id: str = Field(min_length=1, max_length=200)
    trace_ids: str = Field(max_length=5000, description="space-separated trace ids")


class EntryForm(BaseModel):
    question: str = Field(min_length=1, max_length=500)
    answer: str = Field(min_length=1, max_length=5000)
    trace_ids: str = Field(default="", max_length=5000)


Form = Body(media_type=RequestEncodingType.URL_ENCODED)


class ConsoleSignInController(Controller):
    path = "/console"
    include_in_schema = False

    @get("/login", sync_to_thread=False)
    def login_page(self, reason: str = "", next: str = "") -> Template:
        return Template(
            template_name="login.html", context={"reason": reason[:200], "next": _safe_next(next)}
        )

    @post("/login", sync_to_thread=False, status_code=303)
    def login(
        self, request: Request[Any, Any, Any], data: Annotated[SignIn, Form]
    ) -> Response[Any]:
        runtime: Runtime = request.app.state.runtime
        cookie = _sessions(runtime).sign_in(data.key.strip().encode("latin-1", "replace"))
        if cookie is None:
            return Template(
                template_name="login.html",
                context={"reason": "That key does not open the console.", "next": data.next},
                status_code=401,
            )
        response: Response[Any] = Redirect(_safe_next(data.next), status_code=303)
        response.set_cookie(
            COOKIE,
            cookie,
            path=COOKIE_PATH,
            max_age=runtime.settings.api.console_session_minutes * 60,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
        )
        return response

    @post("/logout", sync_to_thread=False, status_code=303)
    def logout(self) -> Response[Any]:
        response: Response[Any] = Redirect("/console/login", status_code=303)
        response.delete_cookie(COOKIE, path=COOKIE_PATH)
        return response


class ConsoleController(Controller):
    path = "/console"
    include_in_schema = False
    guards = [console_guard]  # noqa: RUF012 - litestar reads these class attributes
    dependencies = {"runtime": Provide(provide_runtime, sync_to_thread=False)}  # noqa: RUF012
    exception_handlers = {  # noqa: RUF012
        SignInRequiredError: _to_sign_in,
        HTTPException: _error_page,
        RagsvcError: _error_page,
    }

    @get("/", sync_to_thread=False)
    def home(self) -> Redirect:
        return Redirect("/console/traces")

    @get("/traces", sync_to_thread=True)
    def traces(self, request: Request[Any, Any, Any], runtime: Runtime) -> Template:
        """The filter form sends every field, the empty ones as empty strings: they mean "any"."""
        try:
            filters = TraceFilters.model_validate(dict(request.query_params))
        except ValidationError as exc:
            raise ValidationException(_first_problem(exc)) from exc
        query = filters.query()
        total = runtime.traces.count(query)
        shown = filters.model_dump(exclude_none=True, exclude={"page"})
        return _page(
            "traces.html",
            request,
            traces=runtime.traces.find(query),
            total=total,
            page=filters.page,
            pages=max(1, math.ceil(total / PAGE_SIZE)),
            filters=filters,
            link=lambda n: "?" + urlencode({**shown, "page": n}),
            routes=ROUTES,
        )

    @get("/traces/{trace_id:str}", sync_to_thread=True)
    def trace(self, request: Request[Any, Any, Any], runtime: Runtime, trace_id: str) -> Template:
        trace = runtime.traces.get(trace_id)
        if trace is None:
            raise NotFoundException(f"no trace {trace_id!r} (unknown, or removed by retention)")
        return _page(
            "trace.html", request, trace=trace, timeline=timeline.bars, scale_ms=trace.latency_ms
        )

    @get("/stats", sync_to_thread=True)
    def stats(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        days: Annotated[int, Parameter(ge=1, le=366)] = 7,
    ) -> Template:
        since = utc_now() - timedelta(days=days)
        stats = runtime.traces.stats(since)
        points = runtime.traces.points(since)
        budget = runtime.settings.cost.monthly_budget_usd
        spent = runtime.ledger.spent_this_month()
        variants = runtime.ask.compare_variants(since)
        return _page(
            "stats.html",
            request,
            days=days,
            stats=stats,
            variants=variants,
            budget=budget,
            spent=spent,
            route_mix=charts.route_mix(points),
            latency=charts.latency(stats.routes),
            spend=charts.spend(points, budget, spent),
        )

    @get("/candidates", sync_to_thread=True)
    def candidates(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        days: Annotated[int, Parameter(ge=1, le=366)] = 7,
        done: Annotated[str, Parameter(max_length=300)] = "",
    ) -> Template:
        found = find_candidates(runtime, since=utc_now() - timedelta(days=days))
        return _page("candidates.html", request, days=days, found=found, done=done)

    @post("/candidates/phrasings", sync_to_thread=True, status_code=303)
    def add_phrasings(
        self,
        request: Request[Any, Any, Any],
        runtime: Runtime,
        data: Annotated[PhrasingsForm, Form],
    ) -> Redirect:
        _need_admin(request)
        added = runtime.ingest.add_phrasings(data.faq_id.strip(), _asked(runtime, data.trace_ids))
        done = f"{sum(a.added for a in added)} phrasing(s) added to FAQ entry {data.faq_id}"
        return Redirect("/console/candidates?" + urlencode({"done": done}), status_code=303)

    @post("/candidates/entry", sync_to_thread=True, status_code=303)
    def add_entry(
        self, request: Request[Any, Any, Any], runtime: Runtime, data: Annotated[EntryForm, Form]
    ) -> Redirect:
        _need_admin(request)
        phrasings = _asked(runtime, data.trace_ids) if data.trace_ids.strip() else []
        job = add_entry(runtime, data.question, data.answer, phrasings)
        done = f"FAQ entry added; ingest job {job.job_id} is indexing it"
        return Redirect("/console/candidates?" + urlencode({"done": done}), status_code=303)

    @get("/documents", sync_to_thread=True)
    def documents(self, request: Request[Any, Any, Any], runtime: Runtime) -> Template:
        return _page(
            "documents.html",
            request,
            documents=runtime.ingest.documents(),
            jobs=runtime.ingest.jobs(),
        )


def _need_admin(request: Request[Any, Any, Any]) -> None:
    role: Role = request.state[_ROLE]
    if role != "admin":
        raise PermissionDeniedException("changing the FAQ needs an admin sign-in")


def _asked(runtime: Runtime, trace_ids: str) -> list[str]:
    from ragsvc.traces.confirmed import asked_questions

    return asked_questions(runtime.traces, trace_ids.split()[:50])
