"""The page at ``/`` in a real headless Chromium (Debian's ``chromium``, driven by playwright)
against a real uvicorn server with the scripted model: type a question, get the rows and the
chart the server chose, open the search tree; a screenshot is saved (``XANDER_SCREENSHOT=path``
saves one there too: docs/page.png is made so)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.service_support import BY_COUNTRY, BY_YEAR, ConcertLM, make_service, running_server

CHROMIUM = os.environ.get("XANDER_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="playwright is not installed (pip install '.[dev]')")
    if not (Path(CHROMIUM).is_file() or shutil.which(CHROMIUM)):
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set "
                    "XANDER_CHROMIUM)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(concert_singer):
    with running_server(make_service({"concert_singer": concert_singer}, ConcertLM())) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1100, "height": 1000})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a 4xx the page shows as an error is the test's point, not a fault of the page
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not m.text
            .startswith("Failed to load resource: the server responded with a status of 4")
            else None)
    outside: list[str] = []
    page.on("request", lambda r: outside.append(r.url)
            if not r.url.startswith(("http://127.0.0.1:", "data:")) else None)
    yield page
    context.close()
    assert not errors, errors
    assert not outside, f"the page reached beyond the server: {outside}"


def _ask(page, url: str, question: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#db option", state="attached")  # the databases came from /v1/health
    page.fill("#question", question)
    page.click("#ask")
    page.wait_for_selector("#answer:not([hidden])", timeout=20_000)


def test_question_rows_bar_chart_and_tree(page, server, tmp_path):
    _ask(page, server, BY_COUNTRY)
    assert page.locator("#db").input_value() == "concert_singer"
    assert "GROUP BY" in page.inner_text("#sql")
    assert page.locator("#sql .kw").count() >= 3  # highlighted
    header = page.locator("#rows th").all_inner_texts()
    assert header == ["Country", "count(*)"]
    cells = [r.split("\t") for r in page.locator("#rows tbody tr").all_inner_texts()]
    assert cells == [["France", "4"], ["Netherlands", "1"], ["United States", "1"]]
    chart = page.locator("#chart svg")
    assert chart.get_attribute("data-kind") == "bar"
    assert page.locator("#chart rect.bar").count() == 3
    assert float(page.inner_text("#confidence .value")) > 0.5

    page.click("#tree > summary")  # open the tree
    assert page.locator("#tree").get_attribute("open") is not None
    pruned = page.locator("#tree-body [data-status=pruned]")
    assert pruned.count() >= 1
    assert "singers" in pruned.first.inner_text()  # the made-up table, and why it went
    assert page.locator("#tree-body .st.complete").count() >= 1
    assert "Candidates by result" in page.inner_text("#pool")
    assert "nodes" in page.inner_text("#tree-count")

    shot = tmp_path / "page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    if os.environ.get("XANDER_SCREENSHOT"):
        page.screenshot(path=os.environ["XANDER_SCREENSHOT"], full_page=True)


def test_a_year_question_draws_a_line(page, server):
    _ask(page, server, BY_YEAR)
    assert page.locator("#chart svg").get_attribute("data-kind") == "line"
    assert page.locator("#chart circle.dot").count() == 2


def test_an_unknown_question_shows_the_error(page, server):
    page.goto(server + "/")
    page.wait_for_selector("#db option", state="attached")
    page.fill("#question", "   ")
    page.evaluate("document.getElementById('question').removeAttribute('required')")
    page.click("#ask")
    page.wait_for_selector("#error:not([hidden])")
    assert "blank" in page.inner_text("#error")


def test_the_api_docs_render_offline(page, server):
    from xander.service.app import swagger_assets

    if swagger_assets() is None:
        pytest.skip("Swagger UI's files are not installed (pip install fastapi-offline); "
                    "/docs then links to /openapi.json")
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock", timeout=15_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert {"/v1/ask", "/v1/ask/stream", "/v1/schema", "/v1/health"} <= set(paths)
