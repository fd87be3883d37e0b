"""The server's work queue: one worker thread runs generation jobs in arrival order (ONNX Runtime uses every
core for one job; HTTP threads never wait on it), a bounded number wait (more are refused, the caller answers
429), and the running job reports its progress and stops between steps when interrupted."""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

logger = logging.getLogger(__name__)


class QueueFull(RuntimeError):
    """Every waiting place is taken."""


class ShuttingDown(RuntimeError):
    """The server stopped before the job started."""


class Interrupted(Exception):
    """Raised between steps in the running job after ``interrupt``."""


class Skipped(Exception):
    """Raised between steps in the running job after ``skip``: the current picture is dropped, the batch goes on."""


@dataclass
class _Job:
    name: str
    run: Callable[[JobContext], Any]
    future: concurrent.futures.Future
    queued_at: float


class JobContext:
    """What a running job tells the queue (its step, its picture) and is told (interrupt, skip)."""

    def __init__(self, queue: JobQueue, job: _Job) -> None:
        self._queue = queue
        self._job = job

    def picture(self, index: int, count: int, steps: int) -> None:
        """Picture ``index`` of ``count`` starts, ``steps`` steps long."""
        with self._queue._lock:
            state = self._queue._state
            state.update(job_no=index, job_count=count, sampling_step=0, sampling_steps=steps, picture_started=time.monotonic())
            state["skipped"] = False

    def step(self, done: int, preview: Callable[[], Any] | None = None) -> None:
        """``done`` steps of the current picture are finished; ``preview`` makes a picture of where it stands (the
        progress route calls it for live previews). Raises Interrupted / Skipped when asked."""
        with self._queue._lock:
            state = self._queue._state
            state["sampling_step"] = done
            state["preview"] = preview
            if state["interrupted"]:
                raise Interrupted()
            if state["skipped"]:
                state["skipped"] = False
                raise Skipped()

    @property
    def interrupted(self) -> bool:
        """Whether ``interrupt`` was called during this job."""
        with self._queue._lock:
            return bool(self._queue._state["interrupted"])


class JobQueue:
    """FIFO of at most ``size`` waiting jobs and one running, on a worker thread started here."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._waiting: deque[_Job] = deque()
        self._closed = False
        self._state: dict[str, Any] = self._idle_state()
        self._thread = threading.Thread(target=self._work, name="ortdiffusion-jobs", daemon=True)
        self._thread.start()

    @staticmethod
    def _idle_state() -> dict[str, Any]:
        return {"job": "", "job_timestamp": "0", "job_no": 0, "job_count": 0, "sampling_step": 0, "sampling_steps": 0,
                "interrupted": False, "skipped": False, "started": None, "picture_started": None, "preview": None}

    def submit(self, name: str, run: Callable[[JobContext], Any]) -> concurrent.futures.Future:
        """Queue ``run`` (called with a :class:`JobContext` on the worker thread); its result or exception
        arrives through the returned future. QueueFull when ``size`` jobs already wait; RuntimeError after close."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the server is shutting down")
            if len(self._waiting) >= self.size:
                raise QueueFull(f"{len(self._waiting)} jobs are waiting (queue size {self.size})")
            self._waiting.append(_Job(name, run, future, time.monotonic()))
            self._wake.notify()
        return future

    def interrupt(self) -> None:
        """Stop the running job at its next step (its finished pictures are kept)."""
        with self._lock:
            if self._state["started"] is not None:
                self._state["interrupted"] = True

    def skip(self) -> None:
        """Drop the running job's current picture at its next step and go on with the next one."""
        with self._lock:
            if self._state["started"] is not None:
                self._state["skipped"] = True

    def progress(self) -> dict[str, Any]:
        """AUTOMATIC1111's progress: fraction of the running job done, seconds left (estimated from the time per
        step so far), and its state (job, job_count = jobs running or waiting, step, steps, flags)."""
        with self._lock:
            state = dict(self._state)
            waiting = len(self._waiting)
        running = state["started"] is not None
        steps = max(int(state["sampling_steps"]), 1)
        count = max(int(state["job_count"]), 1)
        fraction = ((state["job_no"] + state["sampling_step"] / steps) / count) if running else 0.0
        eta = 0.0
        if running and fraction > 0:
            elapsed = time.monotonic() - state["started"]
            eta = elapsed / fraction - elapsed
        return {
            "progress": min(fraction, 1.0),
            "eta_relative": eta,
            "state": {
                "skipped": state["skipped"], "interrupted": state["interrupted"], "stopping_generation": False,
                "job": state["job"], "job_count": waiting + int(running), "job_timestamp": state["job_timestamp"],
                "job_no": state["job_no"], "sampling_step": state["sampling_step"], "sampling_steps": state["sampling_steps"],
            },
            "current_image": None,
            "textinfo": None,
        }

    def current_preview(self) -> Any:
        """A picture of the running job's current step (PIL), or None when no job runs or it has no preview (its
        model has no tiny VAE decoder)."""
        with self._lock:
            preview = self._state.get("preview") if self._state["started"] is not None else None
        return preview() if preview is not None else None

    @property
    def waiting(self) -> int:
        """Jobs queued and not started."""
        with self._lock:
            return len(self._waiting)

    def stop(self) -> None:
        """Refuse new jobs, fail the waiting ones with ShuttingDown and interrupt the running one; returns at once
        (safe in a signal handler's thread)."""
        with self._lock:
            self._closed = True
            dropped = list(self._waiting)
            self._waiting.clear()
            if self._state["started"] is not None:
                self._state["interrupted"] = True
            self._wake.notify_all()
        for job in dropped:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(ShuttingDown("the server is shutting down; the job was not started"))

    def close(self, timeout: float = 30.0) -> None:
        """:meth:`stop`, then wait for the worker to finish."""
        self.stop()
        self._thread.join(timeout)

    def _work(self) -> None:
        while True:
            with self._lock:
                while not self._waiting and not self._closed:
                    self._wake.wait()
                if self._closed and not self._waiting:
                    return
                job = self._waiting.popleft()
                if not job.future.set_running_or_notify_cancel():
                    continue
                self._state = self._idle_state()
                self._state.update(job=job.name, started=time.monotonic(), job_timestamp=time.strftime("%Y%m%d%H%M%S"))
            try:
                job.future.set_result(job.run(JobContext(self, job)))
            except BaseException as e:  # noqa: BLE001 - every failure goes to the waiting request
                job.future.set_exception(e)
            finally:
                with self._lock:
                    self._state = self._idle_state()
