"""The federated protocol, independent of any engine: requests, site runtimes, channels.

A run is a conversation between the coordinator and the sites, in rounds:

* the coordinator sends each site a :class:`Request` (plain data: which analysis, which step, the
  parameters — column names, a time grid, β at a Newton step);
* the site's :class:`SiteRuntime` answers with a :class:`~latc.federated.Message` of aggregates,
  computed by the ``site_*`` function the request names (:data:`SITE_STEPS`), after its disclosure
  check, and records every message it sends in its **release log** (JSON lines: analysis, kind,
  UTC time, SHA-256 and size of the exact text sent, the request's round and step, the engine's
  run id when it has one) and keeps the exact text in ``<log>.sent.jsonl`` beside it, so the site
  can read — not only count — what left;
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

from ._disclosure import DisclosurePolicy, FederatedDisclosureError
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
        #: the engine's id of the run (Flower's run id), recorded with every message; None locally
        self.run_id: str | None = None
        self.state: dict[str, Any] = {}
        #: what the site can read again from its own data (e.g. its derived datasets): not kept
        #: between an engine's processes, unlike ``state``
        self.local: dict[str, Any] = {}
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

    @property
    def sent_texts(self) -> Path | None:
        """Where the exact text of every message sent is kept (beside the release log)."""
        return None if self.release_log is None else self.release_log.with_name(self.release_log.stem + ".sent.jsonl")

    def _record(self, msg: Message, request: Request) -> None:
        rec = {**release_record(msg), "round": request.round, "step": request.step}
        if self.run_id is not None:
            rec["run_id"] = self.run_id
        if msg.kind == BATCH:           # one envelope sent; its parts listed, each with its own hash
            rec["parts"] = [{k: v for k, v in release_record(part).items() if k not in ("site", "when_utc")}
                            for part in unbatch(msg)]
        self.sent.append(rec)
        if self.release_log is not None:
            self.release_log.parent.mkdir(parents=True, exist_ok=True)
            with self.release_log.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(rec, sort_keys=True) + "\n")
            with self.sent_texts.open("a", encoding="utf-8") as fh:       # type: ignore[union-attr]
                fh.write(json.dumps({"sha256": rec["sha256"], "round": request.round, "text": msg.to_json()},
                                    ensure_ascii=False) + "\n")


#: the step (and message kind) of several independent requests answered in one round
BATCH = "batch"


@site_step(BATCH)
def _batch(rt: SiteRuntime, requests: list) -> Message:
    """Independent requests of one round answered together (e.g. the Newton steps of several Cox
    models fitted in lock-step): each part is the message its own step would send — with its own
    allow-list and cell checks — and the release log lists every part with its SHA-256."""
    parts = []
    for q in requests:
        step = str(q["step"])
        fn = SITE_STEPS.get(step)
        if fn is None or step == BATCH or step in STATEFUL_STEPS:
            raise FederatedSiteError(rt.site, f"step {step!r} cannot be batched")
        try:
            part = fn(rt, **dict(q.get("params") or {}))
        except FederatedDisclosureError as exc:   # the site refuses this part's analysis: that part only
            part = Message(step, rt.site, step, {}, [{"analysis": step, "cell": "(analysis)", "reason": str(exc)}])
        parts.append(part.to_dict())
    # the parts are plain data already (each Message converted its payload): not converted again
    return Message.from_dict({"analysis": BATCH, "site": rt.site, "kind": BATCH, "payload": {"messages": parts}})


def unbatch(message: Message) -> list[Message]:
    """The parts of a batch reply, in the order of the requests."""
    return [Message.from_dict(d) for d in message.payload["messages"]]


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
