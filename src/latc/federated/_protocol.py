"""The federated protocol, independent of any engine: requests, site runtimes, channels.

A run is a conversation between the coordinator and the sites, in rounds:

* the coordinator sends each site a :class:`Request` (plain data: which analysis, which step, the
  parameters — column names, a time grid, β at a Newton step);
* the site's :class:`SiteRuntime` answers with a :class:`~latc.federated.Message` of aggregates,
  computed by the ``site_*`` function the request names (:data:`SITE_STEPS`), after its disclosure
  check, and records every message it sends in its **release log** (JSON lines: analysis, kind,
  UTC time, SHA-256 and size of the exact text sent);
* a :class:`Channel` carries one round: ``ask({site: request}) → {site: message}``. It is the only
  thing an engine provides. :class:`LocalChannel` runs the sites in this process (every request
  and reply still goes through JSON); the Flower engine (``latc.federated.flower``) carries the same
  JSON between a SuperLink and one SuperNode per site.

A site that does not answer is a :class:`FederatedSiteError` naming it; a coordinator never reports
a partial result as complete.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from latc.errors import LatcError

from ._disclosure import DisclosurePolicy
from ._messages import Message, _dumps, plain, release_record

__all__ = ["Channel", "FederatedSiteError", "LocalChannel", "Request", "SITE_STEPS", "STATEFUL_STEPS", "SiteRuntime",
           "site_step"]


class FederatedSiteError(LatcError, RuntimeError):
    """A site did not answer (stopped, unreachable, timed out) or answered with an error; names the site."""

    def __init__(self, site: str, reason: str) -> None:
        super().__init__(f"site {site!r}: {reason}")
        self.site = site
        self.reason = reason


@dataclass(frozen=True)
class Request:
    """One coordinator → site request: ``step`` names the site function (:data:`SITE_STEPS`),
    ``params`` its plain-data arguments; ``round`` numbers the request within the run."""

    step: str
    params: dict = field(default_factory=dict)
    round: int = 0

    def to_json(self) -> str:
        return _dumps({"step": self.step, "params": plain(self.params), "round": int(self.round)})

    @classmethod
    def from_json(cls, text: str) -> "Request":
        d = json.loads(text)
        return cls(step=str(d["step"]), params=dict(d.get("params") or {}), round=int(d.get("round", 0)))


#: step name → site function ``fn(runtime, **params) -> Message``
SITE_STEPS: dict[str, Callable[..., Message]] = {}
#: steps that change the site's local state (e.g. compute its weights): never replayed from a journal
STATEFUL_STEPS: set[str] = set()


def site_step(name: str, *, stateful: bool = False) -> Callable[[Callable[..., Message]], Callable[..., Message]]:
    """Register a site function under ``name`` (the ``step`` of a :class:`Request`); ``stateful``:
    it keeps something at the site a later step uses, so a resumed run asks it again."""
    def register(fn: Callable[..., Message]) -> Callable[..., Message]:
        SITE_STEPS[name] = fn
        if stateful:
            STATEFUL_STEPS.add(name)
        return fn
    return register


class SiteRuntime:
    """One site: its local analysis rows, its disclosure policy, its release log and its local state
    (e.g. propensity scores and weights computed from an announced β — they never leave the site).

    ``handle(request_json) -> message_json`` is all an engine calls.
    """

    def __init__(self, site: str, frame: pd.DataFrame, *, policy: DisclosurePolicy | None = None,
                 release_log: str | Path | None = None) -> None:
        self.site = str(site)
        self.frame = frame
        self.policy = policy or DisclosurePolicy()
        self.release_log = Path(release_log) if release_log is not None else None
        self.state: dict[str, Any] = {}
        self.sent: list[dict] = []

    def answer(self, request: Request) -> Message:
        """The message for ``request`` (recorded in the release log)."""
        fn = SITE_STEPS.get(request.step)
        if fn is None:
            raise FederatedSiteError(self.site, f"unknown step {request.step!r} (steps: {sorted(SITE_STEPS)})")
        msg = fn(self, **request.params)
        self._record(msg, request)
        return msg

    def handle(self, request_json: str) -> str:
        """JSON in, JSON out: what an engine carries."""
        return self.answer(Request.from_json(request_json)).to_json()

    def _record(self, msg: Message, request: Request) -> None:
        rec = {**release_record(msg), "round": request.round, "step": request.step}
        self.sent.append(rec)
        if self.release_log is not None:
            self.release_log.parent.mkdir(parents=True, exist_ok=True)
            with self.release_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")


class Channel(Protocol):
    """What an engine provides: the sites, and one round of requests and replies."""

    def sites(self) -> list[str]: ...

    def ask(self, requests: Mapping[str, Request]) -> dict[str, Message]: ...


class LocalChannel:
    """All sites in this process; requests and replies go through their JSON text as on a network.

    ``stopped`` names sites that no longer answer (a test of the drop-out error).
    """

    def __init__(self, runtimes: Mapping[str, SiteRuntime]) -> None:
        self.runtimes = dict(runtimes)
        self.stopped: set[str] = set()
        self.bytes_sent: dict[str, int] = {s: 0 for s in self.runtimes}
        self.messages: dict[str, int] = {s: 0 for s in self.runtimes}

    def sites(self) -> list[str]:
        return sorted(self.runtimes)

    def ask(self, requests: Mapping[str, Request]) -> dict[str, Message]:
        out = {}
        for site, req in requests.items():
            if site in self.stopped or site not in self.runtimes:
                raise FederatedSiteError(site, "did not answer (the site is not running)")
            text = self.runtimes[site].handle(req.to_json())
            self.bytes_sent[site] += len(text.encode("utf-8"))
            self.messages[site] += 1
            out[site] = Message.from_json(text)
        return out
