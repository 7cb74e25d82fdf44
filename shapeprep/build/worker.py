"""Objects run in a worker process, so one that crashes, hangs or eats memory fails alone.

The worker is a long-lived child (``spawn``: no locks or thread pools
inherited from the job) that takes object ids over a pipe and answers with
each object's result. The job watches it: past the wall-time limit, or past
the memory limit (its resident memory, read every 20 ms), the worker is
killed and the object fails with ``timeout`` or ``out_of_memory``; a worker
that dies on its own (a segfault in a C extension, the kernel's OOM killer)
fails the object with ``crashed`` and the signal. A fresh worker then takes
the next object. Healthy objects pay one round trip through the pipe.

An object that was running when the whole job died (node failure,
preemption, the scheduler's own limits) is remembered in a journal beside
the job's output; after ``job_deaths`` such deaths it is recorded as
``killed_with_job`` instead of being run again, so a rerun cannot die on it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import time
import traceback
from dataclasses import dataclass
from pathlib import Path

from ..status import Filtered, MeshError
from .cluster import resolution_factor

#: Seconds between checks of a running worker's memory and time.
POLL_SECONDS = 0.02

#: Test hook: JSON ``{"object": id prefix, "kind": "segfault" | "memory" | "sleep", "stage": name}`` in this
#: environment variable makes a worker (of that stage's job, when given) misbehave on that object, so that
#: tests and an end-to-end build can check that the shard survives it. Never set in a real build.
FAULT_VARIABLE = "SHAPEPREP_INJECT_FAULT"


@dataclass(frozen=True)
class Limits:
    """Per-object limits of a stage (the ``limits`` config section).

    Attributes
    ----------
    seconds : float or None
        Wall time one object may take.
    memory_mb : float or None
        Resident memory the worker may reach while running one object.
    job_deaths : int
        Job deaths while an object ran after which it is failed (``killed_with_job``).
    """

    seconds: float | None = None
    memory_mb: float | None = None
    job_deaths: int = 1


def stage_limits(config: dict, stage: str, mem_mb: float | None) -> Limits | None:
    """The :class:`Limits` of a stage's job from the ``limits`` config section and the job's ``mem_mb``.

    None when ``limits.isolate`` is false (objects then run in the job's process).
    """
    section = config["limits"]
    if not section["isolate"]:
        return None
    seconds = section["seconds"][stage] * resolution_factor(config, stage)
    memory = section["memory_fraction"] * mem_mb if mem_mb else None
    return Limits(seconds=seconds, memory_mb=memory, job_deaths=section["job_deaths"])


def return_freed_memory() -> bool:
    """Give the memory freed so far back to the system (glibc's ``malloc_trim``): whether any went back (False
    off glibc).

    glibc raises its mmap threshold to the largest block freed (up to 32 MB) and then keeps freed heap
    memory resident: a long-lived worker carried one object's peak into the next (and the memory limit read
    it). A worker trims after each object. A fixed 1 MB mmap threshold instead was measured to cost 7% on a
    hole-filling object at 1024 (pandora 55.4 -> 59.4 s) and a quarter of the band search's time (its
    scratch pages faulted in again for every batch) for 3-11% less peak memory: not worth it.
    """
    import ctypes
    import ctypes.util

    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.malloc_trim(0))
    except (OSError, AttributeError):  # not glibc (macOS, musl): their allocators return memory their own way
        return False


def reset_peak_rss() -> bool:
    """Reset the process's peak resident memory (Linux ``clear_refs``); False where that is not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as handle:
            handle.write("5")
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    """The process's peak resident memory in MB since the last :func:`reset_peak_rss` (``VmHWM``).

    Falls back to the lifetime peak (``getrusage``) where ``/proc`` does not tell.
    """
    value = _status_field("self", "VmHWM")
    if value is not None:
        return value
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def _status_field(pid, field: str) -> float | None:
    """A memory field of ``/proc/<pid>/status`` in MB, or None."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024.0
    except (OSError, ValueError):
        pass
    return None


def outcome_of(process, object_id: str) -> tuple:
    """Run ``process(object_id)`` and describe the outcome as plain, picklable data.

    Returns
    -------
    ``("ok", result)``, ``("filtered", reason, message)``, ``("failed", reason, message)``
    or ``("error", "ExceptionName: message", traceback text)``.
    """
    try:
        return ("ok", process(object_id))
    except Filtered as error:
        return ("filtered", error.reason, error.message)
    except MeshError as error:
        return ("failed", error.reason, error.message)
    except MemoryError as error:
        return ("failed", "out_of_memory", f"MemoryError: {error}")
    except Exception as error:  # one broken object must not lose the shard
        return ("error", f"{type(error).__name__}: {error}", traceback.format_exc())


def misbehave(kind: str) -> None:
    """What :data:`FAULT_VARIABLE` asks for: die from SIGSEGV, grow without bound, or hang."""
    if kind == "segfault":
        import ctypes

        ctypes.string_at(0)  # reads address 0: SIGSEGV
    elif kind == "memory":
        hoard = []
        while True:
            hoard.append(bytearray(64 << 20))  # bytearray zero-fills: the pages are really used
    elif kind == "sleep":
        time.sleep(3600)


def _exit_when_orphaned(parent: int) -> None:
    """End this worker when its job is gone (killed outright, it cannot say so)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(1)


def _serve(connection, process) -> None:
    """The worker's loop: object id in, ``(outcome, seconds, peak MB)`` out, until None arrives or the job dies."""
    import threading

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the job handles interrupts; the worker just stops with it
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()
    fault = json.loads(os.environ.get(FAULT_VARIABLE) or "null")
    module = getattr(getattr(process, "func", process), "__module__", "")
    if fault and fault.get("stage") and module.rpartition(".")[2] != fault["stage"]:
        fault = None
    while True:
        try:
            object_id = connection.recv()
        except (EOFError, OSError):  # the job is gone
            return
        if object_id is None:
            return
        reset_peak_rss()
        begin = time.perf_counter()
        if fault and object_id.startswith(fault["object"]):
            misbehave(fault["kind"])
        outcome = outcome_of(process, object_id)
        elapsed = time.perf_counter() - begin
        return_freed_memory()  # this object's freed arrays must not count against the next one
        try:
            connection.send((outcome, elapsed, peak_rss_mb()))
        except (BrokenPipeError, EOFError, ConnectionResetError):  # the job is gone
            return
        except Exception as error:  # an unpicklable result is this object's failure, not the worker's
            connection.send((("error", f"result not transferable: {error}", traceback.format_exc()), elapsed,
                             peak_rss_mb()))


class ObjectWorker:
    """A worker process for ``process`` (a picklable callable: a module-level function or a partial of one)."""

    def __init__(self, process):
        self.process = process
        self.child = None
        self.connection = None

    def start(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.connection, child_end = context.Pipe()
        self.child = context.Process(target=_serve, args=(child_end, self.process), daemon=True)
        self.child.start()
        child_end.close()

    def kill(self) -> None:
        if self.child is not None and self.child.is_alive():
            self.child.kill()
        if self.child is not None:
            self.child.join()
        if self.connection is not None:
            self.connection.close()
        self.child, self.connection = None, None

    def stop(self) -> None:
        """End the worker cleanly (it finishes nothing more)."""
        if self.child is not None and self.child.is_alive():
            try:
                self.connection.send(None)
                self.child.join(timeout=10)
            except (OSError, EOFError):
                pass
        self.kill()

    def run(self, object_id: str, limits: Limits) -> tuple[tuple, float, float]:
        """Run one object within ``limits``: ``(outcome, seconds, peak MB)``, outcome as in :func:`outcome_of`.

        A worker that had to be killed or died is replaced on the next call.
        """
        if self.child is None:
            self.start()
        begin = time.perf_counter()
        peak = 0.0
        try:
            self.connection.send(object_id)
        except (OSError, BrokenPipeError):
            return self._died(begin, peak)
        while True:
            try:
                if self.connection.poll(POLL_SECONDS):
                    return self.connection.recv()
            except (EOFError, OSError):
                return self._died(begin, peak)
            elapsed = time.perf_counter() - begin
            if not self.child.is_alive():
                return self._died(begin, peak)
            resident = _status_field(self.child.pid, "VmRSS") or 0.0
            peak = max(peak, resident)
            if limits.memory_mb is not None and resident > limits.memory_mb:
                self.kill()
                message = f"resident memory {resident:.0f} MB passed the limit of {limits.memory_mb:.0f} MB"
                return ("failed", "out_of_memory", message), elapsed, peak
            if limits.seconds is not None and elapsed > limits.seconds:
                self.kill()
                return ("failed", "timeout", f"still running after {limits.seconds:.0f} s"), elapsed, peak

    def _died(self, begin: float, peak: float) -> tuple[tuple, float, float]:
        """The outcome of an object whose worker died under it."""
        self.child.join(timeout=5)
        code = self.child.exitcode
        self.kill()
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            hint = " (likely the kernel's out-of-memory killer)" if -code == signal.SIGKILL else ""
            message = f"the worker died from {name}{hint}"
        else:
            message = f"the worker exited with status {code}"
        return ("failed", "crashed", message), time.perf_counter() - begin, peak


class ObjectJournal:
    """Which object a job was running, kept beside its output so that a rerun knows who killed it.

    JSON lines: ``{"start": id}`` before an object runs, ``{"done": id}`` after,
    ``{"death": id}`` for each object found started-but-not-done when a job opens
    the journal (the previous job died while it ran).

    Parameters
    ----------
    path : the journal file (a hidden sibling of the job's status table)
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.deaths: dict[str, int] = {}
        running = None
        if self.path.exists():
            for line in self.path.read_text().splitlines():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError:  # a line torn by the kill
                    continue
                if "start" in entry:
                    running = entry["start"]
                elif "done" in entry:
                    running = None
                elif "death" in entry:
                    self.deaths[entry["death"]] = self.deaths.get(entry["death"], 0) + 1
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a")
        if running is not None:
            self.deaths[running] = self.deaths.get(running, 0) + 1
            self._write({"death": running})

    def _write(self, entry: dict) -> None:
        self.handle.write(json.dumps(entry) + "\n")
        self.handle.flush()  # in the kernel's hands: survives the process being killed

    def start(self, object_id: str) -> None:
        self._write({"start": object_id})

    def done(self, object_id: str) -> None:
        self._write({"done": object_id})

    def close(self, remove: bool) -> None:
        """Close; ``remove`` once the job's outputs are complete."""
        self.handle.close()
        if remove:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
