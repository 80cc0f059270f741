"""Independent iterative fits in lock-step: one round carries the next request of every fit.

A federated Cox model is a Newton–Raphson loop, one round per step (``newton_cox``); the study's
comparison fits nine of them (three endpoints × adjusted, IPTW, overlap) and the unadjusted model.
Asked one after the other they take about fifty rounds; on an engine where a round costs seconds
(Flower's SuperNodes poll for work) that is the run's wall time. :func:`lockstep` runs the fits side
by side — each in its own thread, with R's own iteration (``coxfit_newton``) unchanged — and sends,
once every unfinished fit waits for its next reply, all their requests in one round (the site step
``batch``, :func:`~latc.federated._protocol.unbatch`). The rounds drop to the longest fit's steps.

Deterministic: a round holds the waiting fits' requests in the order of the fits, so the same inputs
send the same rounds (the journal of a resumed run replays them). A fit that fails (a site withholds
a cell) ends with its exception as its result; a failing round (a site stops answering) stops every
fit and is raised to the caller.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from ._messages import Message
from ._protocol import BATCH, unbatch

__all__ = ["Ask", "lockstep"]

#: ``ask(step, **params)`` → one reply per site (in the order of the sites)
Ask = Callable[..., list[Message]]


class _Abort(Exception):
    """Raised in a fit's thread when the round it waits for failed (the failure goes to the caller)."""


class _Lockstep:
    def __init__(self, send: Callable[[str, dict], list[Message]], n: int) -> None:
        self.send = send
        self.cv = threading.Condition()
        self.waiting: dict[int, tuple[str, dict]] = {}
        self.replies: dict[int, list[Message]] = {}
        self.live = n
        self.failure: BaseException | None = None

    def ask(self, i: int, step: str, params: dict) -> list[Message]:
        with self.cv:
            if self.failure is not None:
                raise _Abort
            self.waiting[i] = (step, params)
            self._flush()
            while i not in self.replies and self.failure is None:
                self.cv.wait()
            if self.failure is not None:
                raise _Abort
            return self.replies.pop(i)

    def finished(self) -> None:
        with self.cv:
            self.live -= 1
            self._flush()

    def _flush(self) -> None:
        """Send the round once every unfinished fit waits (called with the lock held)."""
        if self.failure is not None or not self.waiting or len(self.waiting) < self.live:
            return
        order = sorted(self.waiting)
        asked = [self.waiting[i] for i in order]
        self.waiting = {}
        try:
            if len(asked) == 1:
                self.replies[order[0]] = self.send(*asked[0])
            else:
                envelopes = self.send(BATCH, {"requests": [{"step": s, "params": p} for s, p in asked]})
                parts = [unbatch(m) for m in envelopes]            # per site: one part per fit
                for k, i in enumerate(order):
                    self.replies[i] = [site_parts[k] for site_parts in parts]
        except BaseException as exc:   # the round failed (a site stopped): every fit stops, the caller is told
            self.failure = exc
        self.cv.notify_all()


def lockstep(send: Callable[[str, dict], list[Message]], fits: Sequence[Callable[[Ask], Any]]) -> list[Any]:
    """Run ``fits`` (each ``fit(ask) -> result``) side by side; ``send(step, params)`` asks one round.

    Returns each fit's result, or the exception it ended with. Raises the failure of a round."""
    state = _Lockstep(send, len(fits))
    results: list[Any] = [None] * len(fits)

    def run(i: int, fit: Callable[[Ask], Any]) -> None:
        try:
            results[i] = fit(lambda step, **params: state.ask(i, step, params))
        except _Abort:
            pass
        except Exception as exc:  # the fit's own failure (e.g. a withheld cell) is its result
            results[i] = exc
        finally:
            state.finished()

    threads = [threading.Thread(target=run, args=(i, f), name=f"latc-fit-{i}", daemon=True)
               for i, f in enumerate(fits)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if state.failure is not None:
        raise state.failure
    return results
