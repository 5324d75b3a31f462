"""The HTTP API and the page: a FastAPI app over ``Xander`` objects opened once at start.

Routes (``docs/service.md`` has the whole contract):

- ``POST /v1/ask``: ``{question, db, mode, examples, evidence, min_confidence, trace}`` → the
  answer as ``xander ask --json`` prints it (``xander.service.payload.answer_payload``) plus
  ``db``.  ``POST /v1/ask/stream``: the same body; server-sent events ``queued``, ``started``,
  ``node`` / ``mark`` (the search tree as it grows, from ``Xander.ask(on_event=...)``), then
  ``result`` (the same JSON) or ``error``.
- ``GET /v1/schema?db=``, ``GET /v1/health``; ``/`` the page, ``/openapi.json``, ``/docs``.

Every question goes through one ``AskQueue`` (``workers`` running, ``capacity`` waiting: 503 with
``Retry-After`` beyond), with one deadline for waiting and answering (504); a timed-out or
abandoned question is stopped at its next search event.  Databases are the names the server
was started with, nothing else: a request names a database, never a path.  Errors are JSON
``{"error", "fix"}``; tracebacks go to the server's log only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, Response, StreamingResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.exceptions import HTTPException

from xander.api import Xander
from xander.errors import (
    BackendError,
    DatabaseNotFoundError,
    InputError,
    MissingDependencyError,
    XanderError,
)
from xander.service.payload import answer_payload, schema_payload
from xander.service.queue import AskQueue, Job, QueueFull, Stopped

log = logging.getLogger("xander.service")

STATIC = Path(__file__).with_name("static")
#: The bearer scheme, declared for /docs' "Authorize" button (``authorized`` reads and compares
#: the header itself, to say what is wrong with it).
BEARER = HTTPBearer(auto_error=False, description="The token the server was started with "
                    "(--token or XANDER_TOKEN); without one, no token is needed.")
#: Seconds between SSE comments while a question waits (keeps proxies from closing the stream).
HEARTBEAT_S = 10.0


# -- the service's state ----------------------------------------------------------------------
@dataclass
class Database:
    """One database the server was started with: its name and one ``Xander`` per worker (all
    sharing the one model)."""

    name: str
    source: str  # what --db named (shown in /v1/health; never taken from a request)
    xanders: Sequence[Xander]

    @property
    def xander(self) -> Xander:
        return self.xanders[0]


@dataclass
class Service:
    """What the app serves: databases by name, the model's name, the queue, the limits."""

    databases: Mapping[str, Database]
    model: str
    queue: AskQueue
    timeout_s: float = 60.0
    token: str | None = None
    started: float = field(default_factory=time.time)

    def database(self, name: str | None) -> Database:
        if name is None:
            if len(self.databases) == 1:
                return next(iter(self.databases.values()))
            raise ServiceError(400, "say which database: the server has "
                               f"{len(self.databases)}", f"set db to one of {self._names()}")
        if name not in self.databases:
            raise ServiceError(404, f"no database named {name!r} on this server",
                               f"choose one of {self._names()}")
        return self.databases[name]

    def _names(self) -> str:
        return ", ".join(sorted(self.databases)) or "(none)"

    def close(self) -> None:
        self.queue.close()
        for db in self.databases.values():
            for x in db.xanders:
                x.close()


class ServiceError(Exception):
    """An HTTP error with xander's two parts: what went wrong and what to do."""

    def __init__(self, status: int, error: str, fix: str | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(error)
        self.status, self.error, self.fix = status, error, fix
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        return {"error": self.error, "fix": self.fix, "status": self.status}


def status_of(exc: XanderError) -> int:
    """The HTTP status of a xander error: the user's input 400, a database that is gone 404,
    the model's backend 502 (a missing extra 500), anything else 500."""
    if isinstance(exc, DatabaseNotFoundError):
        return 404
    if isinstance(exc, InputError):
        return 400
    if isinstance(exc, MissingDependencyError):
        return 500
    if isinstance(exc, BackendError):
        return 502
    return 500


def error_of(exc: BaseException) -> ServiceError:
    """Any failure as a ``ServiceError``; unexpected ones are logged with their traceback and
    told as "internal error" (no traceback reaches the client)."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, XanderError):
        return ServiceError(status_of(exc), exc.message, exc.hint)
    log.exception("internal error", exc_info=exc)
    return ServiceError(500, f"internal error ({type(exc).__name__})",
                        "the server's log has the details")


# -- requests -------------------------------------------------------------------------------
Cell = str | int | float | bool | None


class AskRequest(BaseModel):
    """A question about one of the server's databases."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"question": "How many singers are there?", "db": "concert_singer"}]})

    question: str = Field(min_length=1, max_length=4000, description="The question.")
    db: str | None = Field(None, max_length=200, description="A database name from "
                           "/v1/health (optional when the server has one).")
    mode: Literal["search", "greedy"] | None = Field(None, description="search (default) or "
                                                     "greedy (one LM call, no search).")
    examples: list[list[Cell]] = Field(default_factory=list, max_length=50,
                                       description='Rows the answer must contain, e.g. '
                                       '[["France", 3]].')
    evidence: str = Field("", max_length=8000, description="Extra knowledge (BIRD's hint).")
    min_confidence: float | None = Field(None, ge=0.0, le=1.0, description="Below it the "
                                         "answer is 'not sure' with the likeliest queries.")
    trace: bool = Field(False, description="Include the search tree (node-link JSON).")

    @field_validator("question")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("the question is blank")
        return v

    def rows(self) -> list[tuple[str, ...]]:
        return [tuple("NULL" if c is None else str(c) for c in row) for row in self.examples]


def _sse(event: str, data: Any) -> str:
    return f"event: {event}\ndata: {json.dumps(data, default=str)}\n\n"


def _json(data: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(json.dumps(data, default=str), status_code=status,
                    media_type="application/json", headers=dict(headers or {}))


def swagger_assets() -> Path | None:
    """Swagger UI's files from an installed package (``fastapi-offline`` ships them), or None:
    the service never loads them from the internet."""
    try:
        root = Path(str(resources.files("fastapi_offline") / "static"))
    except ModuleNotFoundError:
        return None
    ok = (root / "swagger-ui-bundle.js").is_file() and (root / "swagger-ui.css").is_file()
    return root if ok else None


# -- the app --------------------------------------------------------------------------------
def create_app(service: Service) -> FastAPI:
    """The FastAPI app serving ``service`` (uvicorn runs it; tests start it on a free port)."""
    app = FastAPI(title="xander", version="0.1.0", docs_url=None, redoc_url=None,
                  description="Questions about databases in plain language: SQL, rows, a chart "
                  "and the search that found them.  All data is read-only.")
    app.state.service = service

    @app.exception_handler(ServiceError)
    async def _service_error(_: Request, exc: ServiceError) -> Response:
        return _json(exc.body(), exc.status, exc.headers)

    @app.exception_handler(XanderError)
    async def _xander_error(_: Request, exc: XanderError) -> Response:
        err = error_of(exc)
        return _json(err.body(), err.status)

    @app.exception_handler(HTTPException)
    async def _http_error(request: Request, exc: HTTPException) -> Response:
        fix = ("the routes are in /openapi.json and at /docs" if exc.status_code in (404, 405)
               else None)
        return _json({"error": f"{exc.detail}: {request.method} {request.url.path}",
                      "fix": fix, "status": exc.status_code}, exc.status_code,
                     exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_: Request, exc: RequestValidationError) -> Response:
        parts = []
        for e in exc.errors():
            where = ".".join(str(p) for p in e.get("loc", ()) if p != "body") or "body"
            parts.append(f"{where}: {e.get('msg', 'invalid')}")
        return _json({"error": "; ".join(parts) or "invalid request", "status": 422,
                      "fix": 'send JSON like {"question": "How many singers are there?", '
                      '"db": "<a name from /v1/health>"}'}, 422)

    @app.exception_handler(Exception)
    async def _internal(_: Request, exc: Exception) -> Response:
        err = error_of(exc)
        return _json(err.body(), err.status)

    def authorized(request: Request,
                   _credentials: Annotated[Any, Security(BEARER)] = None) -> None:
        if service.token is None:
            return
        given = request.headers.get("authorization", "")
        scheme, _, value = given.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), service.token.encode()):
            raise ServiceError(401, "a bearer token is required" if not given
                               else "the bearer token is wrong",
                               "send the header 'Authorization: Bearer <token>' (the token "
                               "the server was started with: --token or XANDER_TOKEN)",
                               {"WWW-Authenticate": "Bearer"})

    auth = [Depends(authorized)]

    # -- asking -------------------------------------------------------------------------------
    def submit(req: AskRequest, db: Database, deadline: float,
               listener: Callable[[dict[str, Any]], None] | None = None) -> Job:
        def answer(job: Job) -> Any:
            if time.monotonic() > deadline:  # it waited its whole time: not worth starting
                job.cancel()
            job.check()
            if listener is not None:
                listener({"event": "started", "waited_s": round(
                    time.monotonic() - job.queued_at, 3)})

            def on_event(event: dict[str, Any]) -> None:
                job.check()
                if time.monotonic() > deadline:
                    job.cancel()
                    job.check()
                if listener is not None:
                    listener(event)

            return db.xanders[job.slot].ask(
                req.question, evidence=req.evidence, examples=req.rows(), mode=req.mode,
                min_confidence=req.min_confidence, on_event=on_event)

        try:
            return service.queue.submit(answer)
        except QueueFull as exc:
            raise ServiceError(503, f"busy: {service.queue.waiting} questions wait for the "
                               "model", f"retry in {exc.retry_after:.0f} s",
                               {"Retry-After": str(int(exc.retry_after))}) from None

    def timed_out(job: Job) -> ServiceError:
        where = "waiting in the queue" if job.started_at is None else "answering"
        return ServiceError(504, f"the question took longer than {service.timeout_s:g} s "
                            f"(it ran out of time {where}); it was stopped",
                            "retry later, ask a narrower question, or start the server with a "
                            "larger --timeout")

    def answer_json(req: AskRequest, db: Database, result: Any) -> dict[str, Any]:
        out = {"db": db.name, **answer_payload(result)}
        if req.trace and result.trace is not None:
            out["trace"] = result.trace.to_json()
        return out

    @app.post("/v1/ask", dependencies=auth, summary="Answer a question")
    async def ask(req: AskRequest) -> Response:
        """The answer: SQL (and Normalized SQL), columns, rows, confidence, the candidate pool,
        the chart its shape suits, timings; ``error`` says why a query failed."""
        db = service.database(req.db)
        deadline = time.monotonic() + service.timeout_s
        job = submit(req, db, deadline)
        try:
            result = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job.future)),
                                            max(0.0, deadline - time.monotonic()))
        except (TimeoutError, Stopped):  # the job may see the deadline before this timer does
            job.cancel()
            raise timed_out(job) from None
        except asyncio.CancelledError:
            job.cancel()
            raise
        return _json(answer_json(req, db, result))

    @app.post("/v1/ask/stream", dependencies=auth, summary="Answer a question, streaming the "
              "search", response_class=StreamingResponse)
    async def ask_stream(req: AskRequest) -> StreamingResponse:
        """Server-sent events: ``queued`` {position}, ``started`` {waited_s}, then ``node``
        {id, parent, text, logprob, depth, status, ...} and ``mark`` {id, status, reason, sql,
        ok, score, group, ...} as the search tree grows, then ``result`` (the JSON of /v1/ask)
        or ``error`` {error, fix, status}.  A full queue is a plain 503 before any event."""
        db = service.database(req.db)
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()

        def listener(event: dict[str, Any]) -> None:
            loop.call_soon_threadsafe(events.put_nowait, event)

        deadline = time.monotonic() + service.timeout_s
        job = submit(req, db, deadline, listener)
        job.future.add_done_callback(lambda _: loop.call_soon_threadsafe(events.put_nowait,
                                                                           None))
        position = service.queue.position(job)

        async def stream() -> AsyncIterator[str]:
            try:
                yield _sse("queued", {"db": db.name, "position": position})
                while True:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        job.cancel()
                        yield _sse("error", timed_out(job).body())
                        return
                    try:
                        event = await asyncio.wait_for(events.get(), min(left, HEARTBEAT_S))
                    except TimeoutError:
                        yield ": waiting\n\n"
                        continue
                    if event is not None:
                        yield _sse(str(event.get("event", "event")), event)
                        continue
                    try:
                        result = job.future.result()
                    except BaseException as exc:  # noqa: BLE001 - told as an error event
                        err = timed_out(job) if job.cancelled else error_of(exc)
                        yield _sse("error", err.body())
                        return
                    yield _sse("result", answer_json(req, db, result))
                    return
            finally:
                job.cancel()  # the client went away, or it is over: stop at the next event

        return StreamingResponse(stream(), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache",
                                          "X-Accel-Buffering": "no"})

    # -- reading ------------------------------------------------------------------------------
    @app.get("/v1/schema", dependencies=auth, summary="A database's schema")
    async def schema(db: str | None = Query(None, max_length=200,
                                           description="A database name")) -> Response:
        """The schema as the model sees it: tables, columns with types and sample values,
        keys (the JSON of ``xander schema --json``)."""
        database = service.database(db)
        s = await asyncio.to_thread(lambda: database.xander.schema)
        return _json({"db": database.name, **schema_payload(s)})

    @app.get("/v1/health", dependencies=auth, summary="The model, databases and queue")
    async def health() -> Response:
        q = service.queue
        return _json({
            "status": "ok",
            "model": service.model,
            "databases": [{"name": d.name, "dialect": d.xander.schema.dialect,
                           "tables": len(d.xander.schema.tables)}
                          for d in service.databases.values()],
            "queue": {"running": q.running, "waiting": q.waiting, "workers": q.workers,
                      "capacity": q.capacity},
            "timeout_s": service.timeout_s,
            "auth": service.token is not None,
            "uptime_s": round(time.time() - service.started, 1),
        })

    # -- the page and the docs ----------------------------------------------------------------
    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    assets = swagger_assets()
    if assets is not None:
        app.mount("/docs/assets", StaticFiles(directory=assets), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        if assets is None:
            return HTMLResponse(
                "<!doctype html><title>xander API</title><h1>xander API</h1><p>The interactive "
                "docs need Swagger UI's files, which this install lacks (<code>pip install "
                "fastapi-offline</code> brings them; nothing is loaded from the internet). "
                "The API's description is <a href='/openapi.json'>/openapi.json</a>; "
                "docs/service.md explains it.</p>")
        return get_swagger_ui_html(openapi_url="/openapi.json", title="xander API",
                                   swagger_js_url="/docs/assets/swagger-ui-bundle.js",
                                   swagger_css_url="/docs/assets/swagger-ui.css",
                                   swagger_favicon_url="/static/favicon.svg")

    return app
