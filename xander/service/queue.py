"""The questions' queue: a fixed number of worker threads in front of the one model.

``AskQueue(workers=1, capacity=N)`` runs at most ``workers`` jobs at once and lets at most
``capacity`` wait; ``submit`` refuses more at once (``QueueFull``, the service's 503) instead of
piling threads up.  A job is a function of a ``Job`` (its worker's slot and its cancel flag);
``Job.cancel()`` drops a job still waiting and asks a running one to stop: its ``check()``
raises ``Cancelled`` at the next point it looks (the service calls it from the search's progress
hook, so a running question stops at its next tree event and frees the slot).

No web framework here: the queue is threads and locks, tested on its own.
"""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any


class QueueFull(Exception):
    """Every worker is busy and ``capacity`` jobs already wait."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"the queue is full; retry in {retry_after:.0f} s")
        self.retry_after = retry_after


class Cancelled(BaseException):
    """Raised inside a running job that was cancelled.  A ``BaseException``, so that no
    ``except Exception`` on the way (a checker's guard) swallows it."""


class Stopped(Exception):
    """The job's outcome when it was cancelled while running (its future's exception)."""


class Job:
    """One queued call: ``fn(job)``, its future, and the worker slot it runs in."""

    def __init__(self, fn: Callable[[Job], Any]) -> None:
        self.fn = fn
        self.future: Future[Any] = Future()
        self.slot = -1  # the worker running it (0 .. workers-1); -1 while it waits
        self.queued_at = time.monotonic()
        self.started_at: float | None = None
        self._cancelled = threading.Event()

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def cancel(self) -> None:
        """Stop the job: a waiting job never starts (its future is cancelled now), a running one
        stops at its next check."""
        self._cancelled.set()
        self.future.cancel()  # False (and nothing happens) once it runs or is done

    def check(self) -> None:
        """Raise ``Cancelled`` if the job was cancelled (called from inside ``fn``)."""
        if self._cancelled.is_set():
            raise Cancelled


class AskQueue:
    """``workers`` threads taking jobs first come, first served; at most ``capacity`` waiting."""

    def __init__(self, workers: int = 1, capacity: int = 8) -> None:
        if workers < 1 or capacity < 0:
            raise ValueError("workers must be at least 1 and capacity at least 0")
        self.workers, self.capacity = workers, capacity
        self._waiting: collections.deque[Job] = collections.deque()
        self._running = 0
        self._lock = threading.Condition()
        self._closed = False
        self._served = 0
        self._busy_s = 0.0  # seconds of answering, for Retry-After
        self._threads = [threading.Thread(target=self._work, args=(i,), daemon=True,
                                          name=f"xander-ask-{i}") for i in range(workers)]
        for t in self._threads:
            t.start()

    # -- what the service reads -------------------------------------------------------------
    @property
    def waiting(self) -> int:
        with self._lock:
            return sum(1 for j in self._waiting if not j.cancelled)

    @property
    def running(self) -> int:
        with self._lock:
            return self._running

    def retry_after(self) -> float:
        """Seconds until a slot is likely free: the jobs ahead times the mean answer time."""
        with self._lock:
            mean = self._busy_s / self._served if self._served else 1.0
            ahead = len(self._waiting) + self._running
        return max(1.0, round(mean * ahead / self.workers))

    # -- submitting ---------------------------------------------------------------------------
    def submit(self, fn: Callable[[Job], Any]) -> Job:
        """Queue ``fn``; ``QueueFull`` when ``capacity`` jobs already wait and no worker is free."""
        job = Job(fn)
        with self._lock:
            if self._closed:
                raise RuntimeError("the queue is closed")
            self._waiting = collections.deque(j for j in self._waiting if not j.cancelled)
            free = self.workers - self._running - len(self._waiting)
            if free <= 0 and len(self._waiting) >= self.capacity:
                mean = self._busy_s / self._served if self._served else 1.0
                ahead = len(self._waiting) + self._running
                raise QueueFull(max(1.0, round(mean * ahead / self.workers)))
            self._waiting.append(job)
            self._lock.notify()
        return job

    def position(self, job: Job) -> int:
        """How many jobs wait ahead of ``job`` (0 when it is next or running)."""
        with self._lock:
            for i, j in enumerate(self._waiting):
                if j is job:
                    return i
        return 0

    def close(self, timeout: float = 5.0) -> None:
        """Cancel what waits, let the running jobs stop, and end the workers."""
        with self._lock:
            self._closed = True
            for j in self._waiting:
                j.cancel()
            self._lock.notify_all()
        for t in self._threads:
            t.join(timeout)

    # -- the workers ----------------------------------------------------------------------------
    def _next(self) -> Job | None:
        with self._lock:
            while True:
                while self._waiting:
                    job = self._waiting.popleft()
                    if job.cancelled:
                        job.future.cancel()
                        continue
                    self._running += 1
                    return job
                if self._closed:
                    return None
                self._lock.wait()

    def _work(self, slot: int) -> None:
        while (job := self._next()) is not None:
            job.slot, job.started_at = slot, time.monotonic()
            if not job.future.set_running_or_notify_cancel():
                self._done(job)
                continue
            try:
                job.future.set_result(job.fn(job))
            except Cancelled:  # whoever waits learns it was stopped
                job.future.set_exception(Stopped("the job was cancelled"))
            except Exception as exc:  # noqa: BLE001 - the waiter gets the error, the worker lives
                job.future.set_exception(exc)
            finally:
                self._done(job)

    def _done(self, job: Job) -> None:
        with self._lock:
            self._running -= 1
            self._served += 1
            self._busy_s += time.monotonic() - (job.started_at or time.monotonic())
