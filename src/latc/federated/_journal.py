"""Resuming a federated run after a site dropped out: the coordinator's journal of completed rounds.

The coordinator is deterministic: the same inputs ask the same requests in the same order. A
:class:`JournalChannel` wraps any :class:`~latc.federated.Channel` and appends every completed round
— the requests (canonical JSON) and every site's reply (its exact JSON text) — to a journal file
(JSON lines). When a site stops answering, the round fails with a
:class:`~latc.federated.FederatedSiteError` naming the site and nothing is reported. Running the
same analysis again with the same journal replays the completed rounds from the journal (the sites
are not asked again) and continues live from the round that failed, so a long run resumes where it
stopped and its result is the uninterrupted run's. A round whose step keeps state at the sites
(``STATEFUL_STEPS``: the weights computed from the announced propensity model) is asked again, so
the restarted sites hold what later rounds use.

A journal entry is used only for the identical request text; a journal written for other inputs,
options or sites is refused (:class:`JournalMismatch`) instead of being replayed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

from latc.errors import LatcError

from ._messages import Message, _dumps
from ._protocol import STATEFUL_STEPS, Channel, Request

__all__ = ["JournalChannel", "JournalMismatch"]


class JournalMismatch(LatcError, RuntimeError):
    """The journal holds rounds of another run (other requests at the same position)."""


def _key(requests: Mapping[str, Request]) -> str:
    text = _dumps({s: json.loads(r.to_json()) for s, r in sorted(requests.items())})
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class JournalChannel:
    """A channel that records completed rounds to ``path`` and replays them on a rerun."""

    def __init__(self, channel: Channel, path: str | Path) -> None:
        self.channel = channel
        self.path = Path(path)
        self.entries: list[dict] = []
        if self.path.is_file():
            self.entries = [json.loads(x) for x in self.path.read_text(encoding="utf-8").splitlines() if x.strip()]
        self.position = 0
        self.replayed = 0
        self.live = 0

    def sites(self) -> list[str]:
        return self.channel.sites()

    def ask(self, requests: Mapping[str, Request]) -> dict[str, Message]:
        key = _key(requests)
        if self.position < len(self.entries):
            entry = self.entries[self.position]
            if entry["key"] != key:
                raise JournalMismatch(f"{self.path}: round {self.position + 1} of the journal was another request "
                                      "(other data, options or sites); start with a new journal")
            self.position += 1
            if any(r.step in STATEFUL_STEPS for r in requests.values()):
                self.live += 1                        # the sites must redo what they keep locally
                return self.channel.ask(requests)
            self.replayed += 1
            return {s: Message.from_json(t) for s, t in entry["replies"].items()}
        replies = self.channel.ask(requests)          # FederatedSiteError propagates: nothing is recorded
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps({"key": key, "replies": {s: m.to_json() for s, m in replies.items()}}) + "\n")
        self.entries.append({"key": key})
        self.position += 1
        self.live += 1
        return replies
