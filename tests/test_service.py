"""The HTTP service through a real uvicorn server on 127.0.0.1, with httpx: ask, schema, health,
the event stream, auth, unknown databases, bad input, a full queue (503), timeouts (504), a
small load test; the command line's checks (names, host rule); one slow test of `xander serve`
with the real embedded model."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, run_cli
from tests.service_support import (
    BY_COUNTRY,
    BY_YEAR,
    COUNT,
    EXPECTED_ROWS,
    ConcertLM,
    free_port,
    make_service,
    running_server,
)

httpx = pytest.importorskip("httpx", reason="httpx is not installed (pip install '.[dev]')")
pytest.importorskip("fastapi", reason="fastapi is not installed")
pytest.importorskip("uvicorn", reason="uvicorn is not installed")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def server(concert_singer, shop_duckdb):
    before = {p: _sha(p) for p in (concert_singer, shop_duckdb)}
    service = make_service({"concert_singer": concert_singer, "shop": shop_duckdb}, ConcertLM())
    with running_server(service) as url:
        yield url
    assert {p: _sha(p) for p in before} == before, "a database file changed"


def _events(response) -> list[tuple[str, dict]]:
    """The server-sent events of a response, as (name, data)."""
    out, name = [], None
    for line in response.iter_lines():
        if line.startswith("event:"):
            name = line[6:].strip()
        elif line.startswith("data:"):
            out.append((name, json.loads(line[5:])))
    return out


# -- asking -----------------------------------------------------------------------------------
def test_ask_answers_like_the_python_api(server, concert_singer):
    from xander import Xander
    from xander.service.payload import answer_payload

    r = httpx.post(f"{server}/v1/ask", json={"question": BY_COUNTRY, "db": "concert_singer"},
                   timeout=30)
    assert r.status_code == 200, r.text
    got = r.json()
    want = answer_payload(Xander(concert_singer, model=ConcertLM()).ask(BY_COUNTRY))
    assert set(got) == set(want) | {"db"}
    for key in ("sql", "normalized_sql", "columns", "rows", "confidence", "pool", "chart",
                "candidates", "error", "expansions", "pruned", "stop_reason"):
        assert got[key] == want[key], key
    assert got["db"] == "concert_singer"
    assert got["rows"] == EXPECTED_ROWS[BY_COUNTRY]
    assert got["chart"]["kind"] == "bar" and got["chart"]["x"] == "Country"
    assert got["pruned"] >= 1 and 0 < got["confidence"] <= 1
    assert got["pool"][0]["members"] == [got["sql"]]


def test_ask_a_count_has_no_chart_and_a_year_question_a_line(server):
    count = httpx.post(f"{server}/v1/ask", json={"question": COUNT, "db": "concert_singer"},
                       timeout=30).json()
    assert count["rows"] == [[6]] and count["chart"] is None
    years = httpx.post(f"{server}/v1/ask", json={"question": BY_YEAR, "db": "concert_singer",
                                                 "mode": "greedy"}, timeout=30).json()
    assert years["mode"] == "greedy"
    assert years["chart"]["kind"] == "line"
    assert years["chart"]["points"] == [["2014", 3.0], ["2015", 3.0]]


def test_ask_with_the_tree_and_not_sure(server):
    r = httpx.post(f"{server}/v1/ask", json={"question": BY_COUNTRY, "db": "concert_singer",
                                             "trace": True, "min_confidence": 0.99}, timeout=30)
    body = r.json()
    assert r.status_code == 200
    assert body["not_sure"] is True and body["rows"] == [] and body["alternatives"]
    statuses = {n["status"] for n in body["trace"]["nodes"]}
    assert {"pruned", "complete"} <= statuses


def test_stream_reports_the_search_then_the_result(server):
    with httpx.stream("POST", f"{server}/v1/ask/stream",
                      json={"question": BY_COUNTRY, "db": "concert_singer"}, timeout=30) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        events = _events(r)
    names = [n for n, _ in events]
    assert names[0] == "queued" and names[1] == "started" and names[-1] == "result"
    assert names.count("result") == 1 and "error" not in names
    seen: set[int] = set()
    for name, data in events:
        if name == "node":
            assert data["parent"] in seen or data["parent"] < 0, "a child before its parent"
            seen.add(data["id"])
        elif name == "mark":
            assert data["id"] in seen, "a mark before its node"
    pruned = [d for n, d in events if n == "node" and d["status"] == "pruned"]
    assert pruned and "singers" in pruned[0]["reason"]
    complete = [d for n, d in events if n == "mark" and d["status"] == "complete" and "sql" in d]
    assert complete
    result = events[-1][1]
    assert result["rows"] == EXPECTED_ROWS[BY_COUNTRY] and result["chart"]["kind"] == "bar"
    assert result["sql"] in {d["sql"] for d in complete}


# -- reading ----------------------------------------------------------------------------------
def test_health_and_schema(server):
    h = httpx.get(f"{server}/v1/health").json()
    assert h["status"] == "ok" and h["model"] == "concert-scripted"
    assert {d["name"]: d["dialect"] for d in h["databases"]} == {"concert_singer": "sqlite",
                                                                 "shop": "duckdb"}
    assert h["queue"] == {"running": 0, "waiting": 0, "workers": 1, "capacity": 8}
    s = httpx.get(f"{server}/v1/schema", params={"db": "shop"}).json()
    assert s["db"] == "shop" and s["dialect"] == "duckdb"
    assert {t["name"] for t in s["tables"]} == {"customers", "products", "orders"}
    orders = next(t for t in s["tables"] if t["name"] == "orders")
    assert {"columns": ["customer_id"], "ref_table": "customers",
            "ref_columns": ["customer_id"]} in orders["foreign_keys"]


def test_schema_is_the_one_the_cli_prints(server, concert_singer):
    cli = json.loads(run_cli("schema", "--db", str(concert_singer), "--json").stdout)
    api = httpx.get(f"{server}/v1/schema", params={"db": "concert_singer"}).json()
    assert api.pop("db") == "concert_singer"
    assert api == cli


def test_page_docs_and_openapi_need_nothing_from_the_internet(server):
    page = httpx.get(f"{server}/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "http" not in page.text.replace("http-equiv", "")
    for asset in ("app.js", "style.css", "favicon.svg"):
        body = httpx.get(f"{server}/static/{asset}")
        assert body.status_code == 200 and "https://" not in body.text, asset
    spec = httpx.get(f"{server}/openapi.json").json()
    assert {"/v1/ask", "/v1/ask/stream", "/v1/schema", "/v1/health"} <= set(spec["paths"])
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    docs = httpx.get(f"{server}/docs")
    assert docs.status_code == 200 and "/openapi.json" in docs.text
    assert "cdn." not in docs.text and "https://" not in docs.text
    if "/docs/assets/" in docs.text:  # Swagger UI's files are installed: served from here
        assert httpx.get(f"{server}/docs/assets/swagger-ui-bundle.js").status_code == 200


# -- refusing ---------------------------------------------------------------------------------
def test_unknown_database_is_404_with_the_names(server):
    for name in ("music", "../concert_singer", "/etc/passwd",
                 str(ROOT / "tests" / "fixtures")):
        r = httpx.post(f"{server}/v1/ask", json={"question": COUNT, "db": name})
        assert r.status_code == 404, name
        assert r.json()["error"] == f"no database named {name!r} on this server"
        assert "concert_singer, shop" in r.json()["fix"]
    assert httpx.get(f"{server}/v1/schema", params={"db": "nope"}).status_code == 404


def test_unknown_routes_and_methods_are_json(server):
    r = httpx.get(f"{server}/v1/nope")
    assert r.status_code == 404 and r.json()["error"] == "Not Found: GET /v1/nope"
    r = httpx.get(f"{server}/v1/ask")
    assert r.status_code == 405 and "/docs" in r.json()["fix"]


def test_two_databases_need_a_name(server):
    r = httpx.post(f"{server}/v1/ask", json={"question": COUNT})
    assert r.status_code == 400 and "say which database" in r.json()["error"]


@pytest.mark.parametrize("body, field", [
    ({}, "question: Field required"),
    ({"question": "   "}, "the question is blank"),
    ({"question": COUNT, "mode": "magic"}, "mode:"),
    ({"question": COUNT, "min_confidence": 2}, "min_confidence:"),
    ({"question": COUNT, "examples": "France"}, "examples:"),
    ({"question": COUNT, "path": "/etc/passwd"}, "path: Extra inputs are not permitted"),
    ({"question": "x" * 5000}, "question:"),
])
def test_bad_input_is_422_with_a_clear_message(server, body, field):
    r = httpx.post(f"{server}/v1/ask", json={"db": "concert_singer", **body})
    assert r.status_code == 422
    err = r.json()
    assert field in err["error"] and err["fix"]
    assert "Traceback" not in r.text


def test_not_json_is_422(server):
    r = httpx.post(f"{server}/v1/ask", content=b"How many singers?",
                   headers={"Content-Type": "application/json"})
    assert r.status_code == 422 and "JSON" in r.json()["error"]


def test_a_failure_inside_is_500_without_a_traceback(server):
    # the scripted model knows no such question: it raises, as a broken backend would
    r = httpx.post(f"{server}/v1/ask", json={"question": "Which stadium is the biggest?",
                                             "db": "concert_singer"}, timeout=30)
    assert r.status_code == 500
    assert r.json()["error"] == "internal error (KeyError)"
    assert "Traceback" not in r.text and "script" not in r.text


def test_bearer_token(concert_singer):
    service = make_service({"concert_singer": concert_singer}, ConcertLM(), token="s3cret")
    with running_server(service) as url:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                        {"Authorization": "Basic s3cret"}):
            r = httpx.post(f"{url}/v1/ask", json={"question": COUNT}, headers=headers)
            assert r.status_code == 401, headers
            assert r.headers["www-authenticate"] == "Bearer"
            assert "Authorization: Bearer" in r.json()["fix"]
        assert httpx.get(f"{url}/v1/health").status_code == 401
        assert httpx.get(f"{url}/v1/schema").status_code == 401
        assert httpx.post(f"{url}/v1/ask/stream", json={"question": COUNT}).status_code == 401
        ok = httpx.post(f"{url}/v1/ask", json={"question": COUNT}, timeout=30,
                        headers={"Authorization": "Bearer s3cret"})
        assert ok.status_code == 200 and ok.json()["rows"] == [[6]]
        assert httpx.get(f"{url}/").status_code == 200  # the page asks for the token itself


# -- the queue ----------------------------------------------------------------------------------
def _post(url: str, question: str = COUNT, timeout: float = 30):
    return httpx.post(f"{url}/v1/ask", json={"question": question}, timeout=timeout)


def test_a_full_queue_is_503_with_retry_after(concert_singer):
    gate = threading.Event()
    lm = ConcertLM(gate=gate)
    service = make_service({"concert_singer": concert_singer}, lm, capacity=1)
    with running_server(service) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            running = pool.submit(_post, url)
            assert lm.entered.wait(10), "the first question never reached the model"
            waiting = pool.submit(_post, url)
            deadline = time.monotonic() + 10
            while service.queue.waiting < 1 and time.monotonic() < deadline:
                time.sleep(0.01)
            health = httpx.get(f"{url}/v1/health").json()["queue"]
            assert health["running"] == 1 and health["waiting"] == 1
            full = _post(url)
            assert full.status_code == 503
            assert int(full.headers["retry-after"]) >= 1
            assert "busy" in full.json()["error"] and "retry in" in full.json()["fix"]
            stream = httpx.post(f"{url}/v1/ask/stream", json={"question": COUNT})
            assert stream.status_code == 503 and stream.json()["status"] == 503
        finally:
            gate.set()
        assert running.result().status_code == 200 and waiting.result().status_code == 200
        assert lm.questions_started == 2


def test_workers_answer_at_once(concert_singer):
    """With --workers 2 (for servers that batch) two questions run at the same time, each on
    its own worker's Xander, sharing the one model."""
    gate = threading.Event()
    lm = ConcertLM(gate=gate)
    service = make_service({"concert_singer": concert_singer}, lm, workers=2, capacity=0)
    with running_server(service) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            replies = [pool.submit(_post, url, q) for q in (COUNT, BY_COUNTRY)]
            deadline = time.monotonic() + 10
            while lm.questions_started < 2 and time.monotonic() < deadline:
                time.sleep(0.01)
            assert httpx.get(f"{url}/v1/health").json()["queue"]["running"] == 2
            assert _post(url).status_code == 503  # no waiting places: capacity 0
        finally:
            gate.set()
        assert [r.result().json()["rows"] for r in replies] == [EXPECTED_ROWS[COUNT],
                                                               EXPECTED_ROWS[BY_COUNTRY]]
    xanders = service.databases["concert_singer"].xanders
    assert len(xanders) == 2 and xanders[0] is not xanders[1]
    assert xanders[0].lm is xanders[1].lm is lm


def test_timeouts_are_504_and_free_the_slot(concert_singer):
    gate = threading.Event()
    lm = ConcertLM(gate=gate)
    service = make_service({"concert_singer": concert_singer}, lm, timeout_s=1.0)
    with running_server(service) as url, concurrent.futures.ThreadPoolExecutor(2) as pool:
        try:
            start = time.monotonic()
            first = pool.submit(_post, url)
            assert lm.entered.wait(10)
            second = pool.submit(_post, url)
            r1, r2 = first.result(), second.result()
            assert time.monotonic() - start < 5
            assert r1.status_code == 504 and "ran out of time answering" in r1.json()["error"]
            assert r2.status_code == 504
            assert "ran out of time waiting in the queue" in r2.json()["error"]
            assert "--timeout" in r1.json()["fix"]
            with httpx.stream("POST", f"{url}/v1/ask/stream", json={"question": COUNT},
                              timeout=30) as r:
                events = _events(r)
            assert events[-1][0] == "error" and events[-1][1]["status"] == 504
        finally:
            gate.set()
        # the stopped questions free the slot: the next one is answered
        deadline = time.monotonic() + 10
        while service.queue.running and time.monotonic() < deadline:
            time.sleep(0.02)
        lm.gate = None
        ok = _post(url)
        assert ok.status_code == 200, ok.text
        assert ok.json()["rows"] == [[6]]


def test_load_all_answered_or_refused(concert_singer):
    """A small form of benchmarks/load_service.py: 30 requests at once, 0.05 s a question, a
    queue of 10: every request gets 200 or 503, none is lost, and the answers are right."""
    lm = ConcertLM(delay_s=0.05)
    service = make_service({"concert_singer": concert_singer}, lm, capacity=10)
    with running_server(service) as url:
        qs = [(COUNT, BY_COUNTRY, BY_YEAR)[i % 3] for i in range(30)]
        with concurrent.futures.ThreadPoolExecutor(30) as pool:
            replies = list(pool.map(lambda q: (q, _post(url, q, 60)), qs))
        codes = [r.status_code for _, r in replies]
        assert set(codes) <= {200, 503} and len(codes) == 30
        assert codes.count(200) >= 11  # at least the running one and the ten that waited
        for q, r in replies:
            if r.status_code == 200:
                assert r.json()["rows"] == EXPECTED_ROWS[q]
        assert lm.questions_started == codes.count(200)
        # the last slot is given back just after its reply is sent: wait for it, briefly
        deadline = time.monotonic() + 10
        while (service.queue.running or service.queue.waiting) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert service.queue.running == 0 and service.queue.waiting == 0


# -- the command line -------------------------------------------------------------------------
def test_database_names(tmp_path):
    from xander.errors import InputError
    from xander.service.serve import check_exposure, database_specs

    assert database_specs(["a/shop.duckdb", "b/data", "m=x.sqlite"]) == {
        "shop": "a/shop.duckdb", "data": "b/data", "m": "x.sqlite"}
    url = "postgresql://reader:pw@127.0.0.1:5432/sales?sslmode=require"  # kept as written
    assert database_specs([url, f"hr={url}"]) == {"sales": url, "hr": url}
    with pytest.raises(InputError, match="two databases are named 'shop'"):
        database_specs(["a/shop.duckdb", "b/shop.sqlite"])
    with pytest.raises(InputError, match="cannot name a database"):
        database_specs(["a b=x.sqlite"])
    odd = tmp_path / "x=y.sqlite"  # a file whose name has '=' is a path, not NAME=PATH,
    odd.write_bytes(b"")  # and its stem is no name: NAME=PATH gives it one
    with pytest.raises(InputError, match="'x=y' cannot name a database"):
        database_specs([str(odd)])
    assert database_specs([f"odd={odd}"]) == {"odd": str(odd)}
    with pytest.raises(InputError, match="no database"):
        database_specs([])
    with pytest.raises(InputError, match="without a token"):
        check_exposure("0.0.0.0", None)
    check_exposure("0.0.0.0", "t")
    check_exposure("::1", None)


def test_serve_refuses_the_network_without_a_token(concert_singer):
    proc = run_cli("serve", "--db", str(concert_singer), "--host", "0.0.0.0", timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [(
        "error: --host 0.0.0.0 serves your databases to the network without a token (set "
        "--token (or XANDER_TOKEN), or keep the default --host 127.0.0.1)")]


def test_serve_checks_the_databases_before_it_loads_a_model(tmp_path):
    start = time.monotonic()
    proc = run_cli("serve", "--db", str(tmp_path / "missing.sqlite"), timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("error: database not found")
    assert len(proc.stderr.strip().splitlines()) == 1
    assert time.monotonic() - start < 60  # no model was loaded


def test_schema_option_reaches_the_engine(concert_singer):
    proc = run_cli("schema", "--db", str(concert_singer), "--schema", "main")
    assert proc.returncode == 2 and "no named schemas" in proc.stderr
    proc = run_cli("ask", "--db", str(concert_singer), "--schema", " , ", COUNT)
    assert proc.returncode == 2 and "--schema names no schema" in proc.stderr


@pytest.mark.slow
def test_xander_serve_with_the_embedded_model(concert_singer):
    pytest.importorskip("llama_cpp", reason="the local extra is not installed")
    port = free_port()
    env = {**os.environ, "XANDER_TOKEN": "t0ken"}
    # a busy 2-core machine with a cold prompt cache: give the question time (--timeout)
    proc = subprocess.Popen([sys.executable, "-m", "xander.cli", "serve", "--db",
                             str(concert_singer), "--port", str(port), "--timeout", "280"],
                            cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    url, auth = f"http://127.0.0.1:{port}", {"Authorization": "Bearer t0ken"}
    try:
        deadline = time.monotonic() + 300
        while True:
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            try:
                if httpx.get(f"{url}/v1/health", headers=auth, timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.5)
        r = httpx.post(f"{url}/v1/ask", json={"question": "How many singers are there?"},
                       headers=auth, timeout=300)
        assert r.status_code == 200, r.text
        assert r.json()["rows"] == [[6]] and r.json()["model"].lower().startswith("qwen")
    finally:
        proc.terminate()
        proc.wait(30)


# -- the chart chooser (a pure function) --------------------------------------------------------
@pytest.mark.parametrize("columns, rows, kind, x", [
    (("Country", "count(*)"), [("France", 4), ("Netherlands", 1)], "bar", "Country"),
    (("n", "name"), [(3, "Glebe Park"), (2, "Hampden Park")], "bar", "name"),  # number first
    (("stadium_id", "count(*)"), [(1, 2), (2, 1), (9, 5)], "bar", "stadium_id"),  # an id
    (("Year", "count(*)"), [("2015", 3), ("2014", 2)], "line", "Year"),  # year as text
    (("year", "avg(age)"), [(2001, 30.5), (1999, 41.0)], "line", "year"),
    (("order_date", "sum(quantity)"), [("2024-02-10", 3), ("2024-01-05", 1)], "line",
     "order_date"),
    (("month", "total"), [("2024-02", 3.5), ("2024-01", 1)], "line", "month"),
    (("name", "age"), [("Ada", 36), ("Bo", None), ("Cy", 41)], "bar", "name"),
])
def test_choose_chart_picks(columns, rows, kind, x):
    from xander.service.chart import choose_chart

    chart = choose_chart(columns, rows)
    assert chart is not None and (chart.kind, chart.x) == (kind, x)
    if kind == "line":
        labels = [p[0] for p in chart.points]
        assert labels == sorted(labels)  # time order, whatever the rows' order
    else:
        assert [p[0] for p in chart.points] == [str(r[columns.index(x)]) for r in rows
                                                if r[1 - columns.index(x)] is not None]


@pytest.mark.parametrize("columns, rows", [
    (("count(*)",), [(6,)]),  # one number
    (("name", "count(*)"), [("France", 4)]),  # one row
    (("a", "b", "c"), [("x", 1, 2), ("y", 3, 4)]),  # three columns
    (("name", "country"), [("Ada", "France"), ("Bo", "Spain")]),  # no number
    (("age", "weight"), [(25, 60.5), (41, 80.0)]),  # two plain numbers
    (("name", "flag"), [("Ada", True), ("Bo", False)]),  # booleans are not amounts
    (("name", "age"), [("Ada", None), ("Bo", None)]),  # no value left
    (("name", "n"), [(f"c{i}", i) for i in range(41)]),  # too many bars
    (("name", "n"), [(None, 1), ("Bo", 2)]),  # a NULL category
])
def test_choose_chart_declines(columns, rows):
    from xander.service.chart import choose_chart

    assert choose_chart(columns, rows) is None


def test_the_queue_alone():
    from xander.service.queue import AskQueue, QueueFull

    gate = threading.Event()
    q = AskQueue(workers=1, capacity=1)
    try:
        first = q.submit(lambda job: gate.wait(10) and job.slot)
        deadline = time.monotonic() + 5
        while q.running < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        second = q.submit(lambda job: "second")
        with pytest.raises(QueueFull) as full:
            q.submit(lambda job: "third")
        assert full.value.retry_after >= 1
        second.cancel()  # a waiting job that is cancelled never runs, and frees its place
        third = q.submit(lambda job: "third")
        gate.set()
        assert first.future.result(5) == 0 and third.future.result(5) == "third"
        assert second.future.cancelled()
    finally:
        gate.set()
        q.close()
