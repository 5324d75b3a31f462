"""JSON over HTTP to an OpenAI-compatible server: replicas, retries, timeouts, error words.

The stdlib only (``urllib``).  Several base URLs are replicas used round-robin.  A server that is
down, answers 5xx or times out is retried with exponential backoff; then, as for a 4xx answer or
a reply that is not what the API promises, an ``LMServerError`` names the server and the
problem.  What the requests and replies mean is ``openai_wire``'s business.
"""

from __future__ import annotations

import http.client
import itertools
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from xander.errors import LMServerError, ModelNotFoundError

T = TypeVar("T")

DEFAULT_TIMEOUT = 60.0
DEFAULT_TRIES = 3
DEFAULT_BACKOFF = 0.5  # seconds before the second try; doubled before each later one
DEFAULT_CONCURRENCY = 8
START_HINT = ("start it, e.g. `vllm serve <model>` or `python -m llama_cpp.server --model <gguf>`, "
              "or check --model")


class BadShape(Exception):
    """Raised by a reply parser: the reply does not have the shape the API promises."""


class ProbeFailed(Exception):
    """A probing request found no such endpoint (or one that wants other fields)."""


class _Retry(Exception):
    """A failure worth another try (connection, timeout, 5xx); ``problem`` completes
    "LM server at <url> ..."."""

    def __init__(self, base: str, problem: str) -> None:
        super().__init__(problem)
        self.base = base
        self.problem = problem


class _Refused(Exception):
    """An HTTP 4xx answer: the request itself is wrong, another try would not help."""

    def __init__(self, base: str, path: str, code: int, detail: str) -> None:
        super().__init__(detail)
        self.base, self.path, self.code, self.detail = base, path, code, detail


class _BadReply(Exception):
    """A ``BadShape`` (or unreadable) reply, with the server and request it came from."""

    def __init__(self, base: str, path: str, problem: str, raw: bytes) -> None:
        super().__init__(problem)
        self.base, self.path, self.problem, self.raw = base, path, problem, raw


def _reason(exc: BaseException) -> str:
    """Words for a connection failure."""
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset"
    if isinstance(exc, (http.client.RemoteDisconnected, http.client.IncompleteRead,
                        BrokenPipeError, ConnectionAbortedError)):
        return "connection closed mid-reply"
    return str(exc) or type(exc).__name__


def server_message(raw: bytes) -> str:
    """The error message in an error reply (OpenAI, FastAPI and llama.cpp shapes).

    >>> server_message(b'{"error": {"message": "prompt is too long"}}')
    'prompt is too long'
    >>> server_message(b'{"detail": "Not Found"}'), server_message(b"<html>")
    ('Not Found', '<html>')
    """
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300] or "no details"
    if isinstance(data, dict):
        err = data.get("error", data.get("detail", data.get("message")))
        if isinstance(err, dict):
            err = err.get("message", err)
        if err is not None:
            return (err if isinstance(err, str) else json.dumps(err))[:300]
    return text[:300]


def _identity(data: Any) -> Any:
    return data


class HTTPClient:
    """JSON requests to replicas of one server, retried; ``map`` runs requests concurrently."""

    def __init__(
        self,
        base_urls: str | Sequence[str],
        *,
        timeout: float = DEFAULT_TIMEOUT,
        tries: int = DEFAULT_TRIES,
        backoff: float = DEFAULT_BACKOFF,
        concurrency: int = DEFAULT_CONCURRENCY,
        api_key: str | None = None,
    ) -> None:
        urls = [base_urls] if isinstance(base_urls, str) else list(base_urls)
        if not urls:
            raise ModelNotFoundError("no server URL given", "use --model openai:http://host:port")
        self.base_urls = tuple(u.rstrip("/") for u in urls)
        self.timeout = timeout
        self.tries = max(1, tries)
        self.backoff = backoff
        self.concurrency = max(1, concurrency)
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        self._cycle: Iterator[str] = itertools.cycle(self.base_urls)
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def _next_base(self) -> str:
        with self._lock:
            return next(self._cycle)

    def request(self, path: str, body: dict[str, Any] | None = None,
                parse: Callable[[Any], T] = _identity, probe: bool = False) -> T:
        """``parse(reply JSON)`` of ``POST path`` (``GET`` without a body) on the next replica,
        retried on connection failures, timeouts and 5xx answers.  With ``probe``, a 4xx answer
        or an unreadable reply raises ``ProbeFailed`` instead of ``LMServerError``."""
        failure: _Retry | None = None
        for attempt in range(self.tries):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            base = self._next_base()
            try:
                return self._once(base, path, body, parse)
            except _Retry as exc:
                failure = exc
            except _Refused as exc:
                if probe and exc.code in (400, 404, 405, 422):
                    raise ProbeFailed(f"HTTP {exc.code}: {exc.detail}") from exc
                raise LMServerError(
                    f"LM server at {exc.base} refused {exc.path}: HTTP {exc.code}: {exc.detail}",
                    "check --model (URL and ?model=<name>) and the server's options",
                ) from exc
            except _BadReply as exc:
                if probe:
                    raise ProbeFailed(exc.problem) from exc
                shown = exc.raw[:120].decode("utf-8", errors="replace")
                raise LMServerError(
                    f"LM server at {exc.base} returned garbage for {exc.path}: {exc.problem} "
                    f"(reply: {shown!r})",
                    "is it an OpenAI-compatible server (vLLM, llama-cpp-python, llama.cpp)?",
                ) from exc
        assert failure is not None
        raise LMServerError(f"LM server at {failure.base} {failure.problem}", START_HINT)

    def _once(self, base: str, path: str, body: dict[str, Any] | None,
              parse: Callable[[Any], T]) -> T:
        """One request; failures become ``_Retry``, ``_Refused`` or ``_BadReply``."""
        data = None if body is None else json.dumps(body).encode("utf-8")
        req = urllib.request.Request(base + path, data=data, headers=self._headers,
                                     method="GET" if body is None else "POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                raw = resp.read()
        except urllib.error.HTTPError as exc:
            try:
                detail = server_message(exc.read())
            except (OSError, http.client.HTTPException):
                detail = str(exc.reason or "no details")
            if exc.code >= 500:
                raise _Retry(base, f"failed on {path}: HTTP {exc.code}: {detail}") from exc
            raise _Refused(base, path, exc.code, detail) from exc
        except urllib.error.URLError as exc:
            reason = exc.reason if isinstance(exc.reason, BaseException) else OSError(exc.reason)
            if isinstance(reason, TimeoutError):
                raise _Retry(base, f"did not answer within {self.timeout:g} s") from exc
            raise _Retry(base, f"is not answering: {_reason(reason)}") from exc
        except TimeoutError as exc:
            raise _Retry(base, f"did not answer within {self.timeout:g} s") from exc
        except (http.client.HTTPException, OSError) as exc:
            raise _Retry(base, f"is not answering: {_reason(exc)}") from exc
        try:
            return parse(json.loads(raw))
        except (ValueError, KeyError, TypeError, IndexError, AttributeError, BadShape) as exc:
            problem = ("not JSON" if isinstance(exc, json.JSONDecodeError)
                       else f"{type(exc).__name__}: {exc}")
            raise _BadReply(base, path, problem, raw) from exc

    def map(self, fn: Callable[[Any], T], items: Sequence[Any]) -> list[T]:
        """``fn`` over ``items``, concurrently when there are several."""
        if len(items) <= 1 or self.concurrency == 1:
            return [fn(x) for x in items]
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="xander-lm")
            pool = self._pool
        return list(pool.map(fn, items))

    def close(self) -> None:
        """Stop the request threads."""
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
