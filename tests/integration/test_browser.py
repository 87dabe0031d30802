"""The widget and the console in a real browser: Chromium (Debian's package) driven by Playwright,
against the real service (demo corpus, MiniLM + multilingual-e5, embedded Qdrant, SmolLM2 as SLM
and as the LLM behind llama_cpp.server), with the widget embedded in a page of another origin.

The tests of this module run in order and build on each other, as a user's session would: the
widget's questions and feedback are what the console then shows.
"""

from __future__ import annotations

import http.server
import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any
from unittest import mock

import pytest

from ragsvc.api.app import create_app
from ragsvc.console.session import COOKIE, ConsoleSessions
from ragsvc.index import Index
from ragsvc.llm.local_server import LocalLlmServer
from ragsvc.runtime import Runtime, open_runtime
from ragsvc.settings import Settings
from ragsvc.traces.schema import Trace
from ragsvc.traces.store import TraceQuery
from tests.conftest import ROOT
from tests.integration.test_service_http import MIXED, configured
from tests.live_server import free_port, serving

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CONTACT = "https://helpdesk.example.com/contact"
FAQ_QUESTION = "how do i get on the vpn from home"
FOLLOW_UP = "and from a hotel?"
JAPANESE = "パスワードを忘れました"
SCREENSHOTS = ROOT / ("docs" if os.environ.get("RAGSVC_UPDATE_SCREENSHOTS") else "var/screenshots")
"""Where the widget's and a trace page's screenshots go: ``var/screenshots`` (ignored by git) on
every run; ``docs/``, where the README shows them, with ``RAGSVC_UPDATE_SCREENSHOTS=1``."""
TIMEOUT_MS = 120_000

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="needs Chromium: apt-get install chromium (make test installs it)"
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nothing listens there


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, int]]:
    """A static site on its own port: the pages that embed the widget (written per test)."""
    folder = tmp_path_factory.mktemp("site")
    port = free_port()
    handler = partial(QuietHandler, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    threading.Thread(target=server.serve_forever, name="site", daemon=True).start()
    yield folder, port
    server.shutdown()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None


@pytest.fixture(scope="module")
def service(
    demo_settings: Settings,
    demo_index: Index,
    llm_server: LocalLlmServer,
    pages: tuple[Path, int],
) -> Iterator[tuple[str, Runtime]]:
    """The service, asking allowed from the site's ``localhost`` origin only."""
    _, port = pages
    settings = configured(
        demo_settings,
        llm_server.base_url,
        routing={"direct_threshold": 0.3},
        api={"cors_origins": [f"http://localhost:{port}"]},
        widget={"contact_url": CONTACT},
    )
    parts: list[Runtime] = []

    def open_parts(s: Settings) -> Runtime:
        parts.append(open_runtime(s, index=demo_index))
        return parts[0]

    with serving(create_app(settings, open_parts)) as base_url:
        yield base_url, parts[0]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with playwright_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield chromium
        chromium.close()


def _page_with_widget(pages: tuple[Path, int], name: str, script: str, lang: str = "en") -> str:
    folder, port = pages
    (folder / name).write_text(
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><title>Intranet</title>'
        f"</head><body><h1>Kumo Logistics intranet</h1>{script}</body></html>",
        encoding="utf-8",
    )
    return f"http://localhost:{port}/{name}"


def _ask(page: Any, question: str) -> Any:
    """Ask in the widget; the answer's turn once it is complete."""
    answers = page.locator(".turn.bot")
    before = answers.count()
    page.get_by_label("Your question").fill(question)
    page.get_by_label("Your question").press("Enter")
    turn = answers.nth(before)
    playwright_api.expect(turn).to_have_attribute("aria-busy", "false", timeout=TIMEOUT_MS)
    return turn


@pytest.fixture(scope="module")
def widget_page(browser: Any, service: tuple[str, Runtime], pages: tuple[Path, int]) -> Any:
    base_url, _ = service
    script = f'<script src="{base_url}/widget.js" defer></script>'
    url = _page_with_widget(pages, "index.html", script)
    page = browser.new_page(viewport={"width": 1000, "height": 760})
    page.goto(url)
    page.get_by_role("button", name="Help").click()
    return page


def test_the_widget_answers_an_faq_question_with_a_linked_citation(widget_page: Any) -> None:
    turn = _ask(widget_page, FAQ_QUESTION)
    assert turn.get_attribute("data-route") == "faq_direct"
    assert "KumoConnect" in turn.inner_text()
    link = turn.locator(".sources a").first
    assert link.get_attribute("href", timeout=5000).startswith("https://intranet.example.com/")
    assert link.get_attribute("rel") == "noopener"
    # answered: no hand-off offered, feedback asked for
    assert turn.locator(".contact").count() == 0
    assert turn.get_by_role("button", name="Not helpful").is_visible()
    unnamed = widget_page.evaluate(
        """() => [...document.querySelector('[data-ragsvc-widget]').shadowRoot
                 .querySelectorAll('button, input, textarea, a')]
               .filter(e => !(e.getAttribute('aria-label') || e.textContent.trim()))
               .map(e => e.outerHTML)"""
    )
    assert unnamed == []  # every control has a name a screen reader can say


def test_a_multi_part_question_streams_in_and_answers_each_part(widget_page: Any) -> None:
    widget_page.evaluate(
        """() => {
          const root = document.querySelector('[data-ragsvc-widget]').shadowRoot;
          window.seen = new Set();
          new MutationObserver(() => {
            const texts = root.querySelectorAll('.turn.bot .text');
            window.seen.add(texts[texts.length - 1].textContent);
          }).observe(root, {subtree: true, childList: true, characterData: true});
        }"""
    )
    turn = _ask(widget_page, MIXED)
    seen = widget_page.evaluate("() => [...window.seen]")
    final = turn.locator(".text").inner_text()
    partial_texts = [t for t in seen if t and "…" not in t and t != final]
    assert partial_texts, f"the answer did not stream in: {seen}"
    text = turn.inner_text()
    assert "password" in text.lower() and turn.locator(".sources li").count() >= 2
    assert turn.get_attribute("data-route") == "llm_synthesis"


def test_a_follow_up_is_understood_in_the_conversation(
    widget_page: Any, service: tuple[str, Runtime]
) -> None:
    _ask(widget_page, FAQ_QUESTION)
    turn = _ask(widget_page, FOLLOW_UP)
    assert turn.locator(".sources li").count() >= 1
    _, runtime = service
    runtime.traces.flush()
    (trace,) = [t for t in runtime.traces.find(TraceQuery(limit=20)) if t.follow_up][:1]
    assert trace.follow_up is not None and trace.follow_up.asked == FOLLOW_UP
    assert trace.question == "how do i get on the vpn from home, from a hotel?"


def test_thumbs_down_with_a_comment_reaches_the_trace(
    widget_page: Any, service: tuple[str, Runtime]
) -> None:
    turn = widget_page.locator(".turn.bot").first
    turn.get_by_role("button", name="Not helpful").click()
    comment = turn.get_by_label("What was wrong? (optional)")
    comment.fill("It did not say how to reach the VPN from a hotel.")
    turn.get_by_role("button", name="Send").click()
    playwright_api.expect(turn.get_by_role("status")).to_have_text(
        "Thank you for the feedback.", timeout=10_000
    )
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    widget_page.screenshot(path=str(SCREENSHOTS / "widget.png"))


def test_the_widget_speaks_japanese(
    browser: Any, service: tuple[str, Runtime], pages: tuple[Path, int]
) -> None:
    base_url, _ = service
    url = _page_with_widget(
        pages, "ja.html", f'<script src="{base_url}/widget.js" defer></script>', lang="ja"
    )
    page = browser.new_page()
    page.goto(url)
    page.get_by_role("button", name="ヘルプ").click()
    page.get_by_label("質問").fill(JAPANESE)
    page.get_by_label("質問").press("Enter")
    turn = page.locator(".turn.bot").last
    playwright_api.expect(turn).to_have_attribute("aria-busy", "false", timeout=TIMEOUT_MS)
    assert turn.get_attribute("data-route") == "faq_direct"
    assert "portal.kumo-logistics.example/password" in turn.inner_text()
    assert turn.get_by_role("button", name="役に立たなかった").is_visible()
    page.keyboard.press("Escape")  # closes the panel, focus back on the launcher
    assert page.get_by_role("button", name="ヘルプ").get_attribute("aria-expanded") == "false"
    page.close()


def test_a_service_that_is_down_is_said_and_the_hand_off_offered(
    browser: Any, service: tuple[str, Runtime], pages: tuple[Path, int]
) -> None:
    base_url, _ = service
    down = f"http://127.0.0.1:{_closed_port()}"
    script = f'<script src="{base_url}/widget.js" data-service-url="{down}" defer></script>'
    page = browser.new_page()
    page.goto(_page_with_widget(pages, "down.html", script))
    page.get_by_role("button", name="Help").click()
    turn = _ask(page, FAQ_QUESTION)
    assert "cannot be reached" in turn.inner_text()
    assert turn.get_by_role("link", name="Contact a person").get_attribute("href") == CONTACT
    page.close()


def test_a_page_on_an_origin_not_allowed_gets_no_answer(
    browser: Any, service: tuple[str, Runtime], pages: tuple[Path, int]
) -> None:
    """CORS: the service allows http://localhost:PORT only; the same page from 127.0.0.1 is
    another origin, and the browser refuses it the answer."""
    base_url, _ = service
    _, port = pages
    _page_with_widget(pages, "other.html", f'<script src="{base_url}/widget.js" defer></script>')
    page = browser.new_page()
    page.goto(f"http://127.0.0.1:{port}/other.html")
    page.get_by_role("button", name="Help").click()
    turn = _ask(page, "How do I claim business expenses?")
    assert "cannot be reached" in turn.inner_text()
    assert turn.get_by_role("link", name="Contact a person").is_visible()
    page.close()


# -- the console -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def console(browser: Any, service: tuple[str, Runtime]) -> Any:
    base_url, runtime = service
    page = browser.new_page(viewport={"width": 1280, "height": 900}, base_url=base_url)
    page.goto("/console/traces")
    assert "/console/login" in page.url  # not signed in: the sign-in page
    page.get_by_label("Operator or admin key").fill("not-a-key-of-this-service")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text() == "That key does not open the console."
    page.get_by_label("Operator or admin key").fill(runtime.keys.operator.decode())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/traces"))
    return page


def test_the_console_lists_the_widget_traces_and_filters_them(
    console: Any, service: tuple[str, Runtime]
) -> None:
    _, runtime = service
    runtime.traces.flush()
    console.goto("/console/traces")
    rows = console.locator("tbody tr[data-trace]")
    total = rows.count()
    assert total == 5  # the questions asked above; the down and refused pages reached nothing
    assert console.get_by_text(FOLLOW_UP[:20]).count() >= 1  # the follow-up, as asked
    routes = set(console.locator("tbody .route").all_inner_texts())
    assert {"faq_direct", "llm_synthesis"} <= routes

    console.get_by_label("Route").select_option("faq_direct")
    console.get_by_role("button", name="Filter").click()
    assert set(console.locator("tbody .route").all_inner_texts()) == {"faq_direct"}
    assert 0 < console.locator("tbody tr[data-trace]").count() < total

    console.goto("/console/traces?rating=down")
    assert console.locator("tbody tr[data-trace]").count() == 1
    assert "👎" in console.locator("tbody tr[data-trace]").inner_text()

    console.goto("/console/traces?text=" + "パスワード")
    assert console.locator("tbody tr[data-trace]").count() == 1


def test_a_trace_page_shows_every_check_and_the_feedback(
    console: Any, service: tuple[str, Runtime]
) -> None:
    console.goto("/console/traces?rating=down")
    console.locator("tbody tr[data-trace] a").first.click()
    checks = console.locator("table.checks tbody tr")
    assert checks.count() >= 1
    assert "faq_confidence" in checks.first.inner_text()
    assert console.locator(".feedback").inner_text().startswith("👎 rated 1")
    assert "from a hotel" in console.locator(".feedback").inner_text()
    gantt = console.get_by_role("table", name=re.compile("work in the order it began"))
    assert {"embed", "retrieve faq"} <= set(gantt.locator("tbody td:first-child").all_inner_texts())
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    console.screenshot(path=str(SCREENSHOTS / "console-trace.png"), full_page=True)

    console.goto("/console/traces?text=hotel")
    console.locator("tbody tr[data-trace] a").first.click()
    assert "Rewritten as" in console.get_by_label("Question").inner_text()


def test_the_stats_page_draws_its_charts(console: Any) -> None:
    console.goto("/console/stats")
    charts = console.locator("figure.chart svg")
    assert charts.count() == 3
    for name in ("Route mix over time", "Latency per route", "Spend against the all-LLM estimate"):
        assert console.get_by_role("img", name=name).is_visible()


RECURRING = [
    "Can I expense a taxi home after working late?",
    "can i claim a taxi home when i work late",
    "Is a taxi home after late work reimbursed?",
]
"""Costly questions asked again and again: what the FAQ candidates page is for."""


def test_an_admin_turns_recurring_questions_into_faq_phrasings(
    browser: Any, service: tuple[str, Runtime]
) -> None:
    base_url, runtime = service
    for n, question in enumerate(RECURRING):
        runtime.traces.submit(
            Trace(
                trace_id=f"recurring{n}", question=question, route="llm_synthesis", cost_usd=0.002
            )
        )
    runtime.traces.flush()
    page = browser.new_page(base_url=base_url)
    page.goto("/console/candidates")
    page.get_by_label("Operator or admin key").fill(runtime.keys.admin.decode())
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console/candidates"))  # back where the sign-in began
    candidate = page.locator("section.candidate").filter(has_text="taxi").first
    assert "3 questions" in candidate.inner_text()
    entry = candidate.get_by_label(re.compile("as phrasings of FAQ entry"))
    entry.fill("hr-003")  # how do I claim business expenses
    candidate.get_by_role("button", name="Add phrasings").click()
    playwright_api.expect(page.get_by_role("status")).to_contain_text(
        "phrasing(s) added to FAQ entry hr-003"
    )
    phrasings = {p for p, _ in runtime.ingest.phrasings("hr-003")[1]}
    assert set(RECURRING) <= phrasings
    page.close()


def test_an_expired_console_session_is_sent_to_sign_in(
    browser: Any, service: tuple[str, Runtime]
) -> None:
    base_url, runtime = service
    sessions = ConsoleSessions(runtime.keys, runtime.settings.api.console_session_minutes)
    with mock.patch("time.time", return_value=time.time() - 24 * 3600):
        stale = sessions.sign_in(runtime.keys.operator)
    context = browser.new_context(base_url=base_url)
    context.add_cookies([{"name": COOKIE, "value": stale, "url": f"{base_url}/console"}])
    page = context.new_page()
    page.goto("/console/traces")
    assert "/console/login" in page.url
    assert page.get_by_role("alert").inner_text() == "Your session expired: sign in again."
    context.close()


def test_candidates_and_documents_pages(console: Any) -> None:
    console.goto("/console/candidates")
    assert console.get_by_role("heading", level=1).inner_text().startswith("FAQ candidates")
    console.goto("/console/documents")
    assert "hr-faq.yaml" in console.locator("table").first.inner_text()


def test_an_unknown_trace_is_a_404_page(console: Any) -> None:
    response = console.goto("/console/traces/no-such-trace")
    assert response.status == 404
    assert "no trace 'no-such-trace'" in console.get_by_role("alert").inner_text()
