"""Forked helper processes: the ``fork`` context and its one expected warning.

latc forks (never spawns) where a helper needs the parent's objects without pickling them: the
report's figure drawing (:mod:`latc.report._draw`) and the analysis plan's second process
(:mod:`latc.analysis._plan`). Python 3.12 warns on every fork from a process with threads; the only
thread latc has then is the progress display's, and the children never touch it.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["can_fork", "cores", "fork_context", "forking", "ignore_interrupt", "release_memory"]


def can_fork() -> bool:
    """Forked helpers are used on Linux only (fork is not the safe default elsewhere)."""
    return sys.platform == "linux"


def cores(jobs: int | None = None) -> int:
    """``jobs``, or the cores this process may use."""
    if jobs is not None:
        return jobs
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def fork_context() -> Any:
    import multiprocessing

    return multiprocessing.get_context("fork")


@contextmanager
def forking() -> Iterator[None]:
    """Silence Python's "use of fork() may lead to deadlocks" warning around a fork (see module doc)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*use of fork\\(\\) may lead to deadlocks", category=DeprecationWarning)
        yield


def ignore_interrupt() -> None:
    """In a forked helper: leave Ctrl-C (SIGINT, sent to the whole process group) to the ``latc``
    process, which stops its helpers itself; a helper interrupted mid-task could leave a queue's
    lock held and the parent waiting on it for ever."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def release_memory() -> None:
    """Give memory back between the stages of ``latc run`` (issue 17 item 2): stop joblib's idle
    worker processes (loky keeps them 300 s for reuse; each holds a copy of the imputation data),
    collect garbage, and ask glibc to return freed heap pages to the system (``malloc_trim``),
    so that the report's forked workers do not start from a parent still the size of the analysis."""
    import gc

    # loky's reusable executor, only when one was started (get_reusable_executor() would start one)
    executor = getattr(sys.modules.get("joblib.externals.loky.reusable_executor"), "_executor", None)
    if executor is not None:
        executor.shutdown(wait=True)
    gc.collect()
    if sys.platform == "linux":
        import ctypes
        import ctypes.util

        try:
            ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc (musl): nothing to trim with
            pass
