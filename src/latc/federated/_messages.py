"""Messages between a site and the coordinator: plain data, JSON-serialisable, hashable for a release log.

A :class:`Message` holds only aggregates (counts, sums, sums of squares/cross-products, risk-set sums)
and the analysis metadata — never a patient row. Floats survive the JSON round trip exactly (Python
writes the shortest repr that reads back to the same double), so a combine step on messages that went
through :meth:`Message.to_json` / :meth:`Message.from_json` gives bit-identical results.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

__all__ = ["Message", "release_record", "canonical_json", "plain", "transport"]


def plain(value: Any) -> Any:
    """numpy arrays/scalars → lists/ints/floats (recursively); NaN/inf → None."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        kinds = {type(v) for v in value}
        if kinds <= {int, float, type(None)}:   # a flat list of numbers (a grid, β, counts): no recursion
            return [v if v is None or type(v) is int or math.isfinite(v) else None for v in value]
        return [plain(v) for v in value]
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return value.tolist()
        if value.dtype.kind == "f" and np.isfinite(value).all():
            return value.tolist()
        return plain(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        v = float(value)
        return v if math.isfinite(v) else None
    if value is None or isinstance(value, str):
        return value
    raise TypeError(f"federated message: {type(value).__name__} is not plain data")


@dataclass
class Message:
    """One site → coordinator message.

    ``analysis``: the analysis it serves (must be on the site's allow-list); ``kind``: which step
    (e.g. ``"km_times"``, ``"cox_step"``); ``payload``: plain data (lists, numbers, strings);
    ``suppressed``: disclosure-control reasons — when non-empty the payload is empty and the
    coordinator raises :class:`~latc.federated.FederatedDisclosureError` naming site, analysis, cell.
    """

    analysis: str
    site: str
    kind: str
    payload: dict = field(default_factory=dict)
    suppressed: list = field(default_factory=list)

    def __post_init__(self) -> None:
        self.payload = plain(self.payload)
        self.suppressed = plain(self.suppressed)

    def to_dict(self) -> dict:
        return {"analysis": self.analysis, "site": self.site, "kind": self.kind,
                "payload": self.payload, "suppressed": self.suppressed}

    def to_json(self) -> str:
        return _dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> "Message":
        return cls.from_dict(json.loads(text))

    @classmethod
    def from_dict(cls, d: dict) -> "Message":
        """A message from its plain-data form (:meth:`to_dict`, or parsed JSON)."""
        m = object.__new__(cls)          # JSON is plain data already: skip the conversion
        m.analysis, m.site, m.kind = str(d["analysis"]), str(d["site"]), str(d["kind"])
        m.payload, m.suppressed = d["payload"], d.get("suppressed", [])
        return m

    def array(self, key: str, dtype=float) -> np.ndarray:
        """A payload entry as a numpy array (None → NaN for floats)."""
        v = self.payload[key]
        if dtype is float:
            return np.array(v, dtype=float)        # numpy reads None as NaN in a float array, nested too
        return np.asarray(v, dtype=dtype)


def canonical_json(obj: Any) -> str:
    """Sorted keys, no whitespace, no NaN: the text that is hashed and sent."""
    return _dumps(plain(obj))


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)


def release_record(message: Message | dict, when: datetime | None = None) -> dict:
    """What a site's release log records for one message it sent: analysis, kind, site, UTC time,
    SHA-256 of the canonical JSON and its size in bytes (of the UTF-8 text)."""
    d = message.to_dict() if isinstance(message, Message) else plain(message)
    text = _dumps(d).encode("utf-8")
    when = when or datetime.now(timezone.utc)
    return {"analysis": d.get("analysis"), "kind": d.get("kind"), "site": d.get("site"),
            "when_utc": when.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z"),
            "sha256": hashlib.sha256(text).hexdigest(), "n_bytes": len(text),
            "suppressed": bool(d.get("suppressed"))}


def transport(message: Message) -> Message:
    """What any engine does with a message: serialise to JSON and read it back (checked lossless)."""
    text = message.to_json()
    back = Message.from_json(text)
    if back.to_json() != text:
        raise ValueError(f"message from site {message.site!r} ({message.kind}) does not survive JSON")
    return back
