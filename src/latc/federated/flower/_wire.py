"""What the latc Flower app puts on the wire, and how a site builds its runtime from its node config.

Nothing here imports Flower: the names are shared by the ClientApp, the ServerApp and the launcher.

* A request travels as ``Message(content=RecordDict({RECORD: ConfigRecord({"request": <Request JSON>})}),
  message_type=MESSAGE_TYPE)``; the reply as ``ConfigRecord({"site": …, "message": <Message JSON>})`` or,
  when the site could not answer, ``ConfigRecord({"site": …, "error": "<type>: <text>"})``.
* A SuperNode's ``node_config`` (``flower-supernode --node-config FILE.toml``) names the site and its
  data: :data:`NODE_KEYS`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._disclosure import DEFAULT_ALLOWED, DisclosurePolicy
from .._protocol import SiteRuntime

__all__: list[str] = []

#: name of the ConfigRecord that carries latc's request / reply in a Flower message
RECORD = "latc"
#: Flower message type of a latc request (routed to the ClientApp's ``@app.query()`` function)
MESSAGE_TYPE = "query"
#: name of the ConfigRecord in ``context.state`` holding a site's state between messages of a run
STATE_RECORD = "latc-site-state"

#: node_config keys a SuperNode reads (the launcher writes them; a deployment passes them itself)
NODE_KEYS = {
    "site": "the site's name (its center id)",
    "data": "its local data: a Parquet file of its analysis rows, or its `latc derive` folder",
    "release-log": "its release log (JSON lines, appended to)",
    "min-cell": "minimum cell count (default 3, DataSHIELD nfilter.tab)",
    "min-cell-by-analysis": "JSON object analysis → minimum, the site's documented opt-ins",
    "allowed": "comma-separated analyses it runs (default: latc's DEFAULT_ALLOWED)",
    "min-center-size": "for a derived folder: centers smaller than this are pooled (default 20)",
    "coarsen-months": "time grid in months the site rounds every time up to before computing (default: none)",
}


def policy_to_node_config(policy: DisclosurePolicy | None) -> dict[str, Any]:
    """The node_config entries of a disclosure policy (inverse of :func:`policy_from_node_config`)."""
    policy = policy or DisclosurePolicy()
    out: dict[str, Any] = {"min-cell": int(policy.min_cell)}
    if policy.min_cell_by_analysis:
        out["min-cell-by-analysis"] = json.dumps({str(k): int(v) for k, v in policy.min_cell_by_analysis.items()},
                                                 sort_keys=True)
    if frozenset(policy.allowed) != DEFAULT_ALLOWED:
        out["allowed"] = ",".join(sorted(policy.allowed))
    if policy.coarsen_months is not None:
        out["coarsen-months"] = float(policy.coarsen_months)
    return out


def policy_from_node_config(cfg: Mapping[str, Any]) -> DisclosurePolicy:
    """The site's :class:`DisclosurePolicy` from its node_config."""
    by = cfg.get("min-cell-by-analysis")
    by_analysis = {str(k): int(v) for k, v in (json.loads(by) if isinstance(by, str) and by.strip() else {}).items()}
    allowed = cfg.get("allowed")
    allowed_set = (frozenset(a.strip() for a in str(allowed).split(",") if a.strip())
                   if allowed not in (None, "") else DEFAULT_ALLOWED)
    step = cfg.get("coarsen-months")
    return DisclosurePolicy(min_cell=int(cfg.get("min-cell", 3)), allowed=allowed_set,
                            min_cell_by_analysis=by_analysis,
                            coarsen_months=float(step) if step not in (None, "") else None)


def runtime_from_node_config(cfg: Mapping[str, Any]) -> SiteRuntime:
    """Build the site's :class:`SiteRuntime` from its node_config (reads its local data)."""
    import pandas as pd

    site = cfg.get("site")
    if not site:
        raise ValueError("node_config has no 'site' (the site's name)")
    site = str(site)
    data = cfg.get("data")
    if not data:
        raise ValueError(f"site {site!r}: node_config has no 'data' (its Parquet frame or derived folder)")
    path = Path(str(data))
    if not path.exists():
        raise FileNotFoundError(f"site {site!r}: data {str(path)!r} not found")
    policy = policy_from_node_config(cfg)
    log = cfg.get("release-log") or None
    if path.is_dir():
        from .._comparison import site_runtime

        return site_runtime(site, path, policy=policy, release_log=log,
                            min_center_size=int(cfg.get("min-center-size", 20)))
    try:
        frame = pd.read_parquet(path)
    except Exception as exc:  # any unreadable file is the site's data problem, named
        raise ValueError(f"site {site!r}: cannot read data {str(path)!r} as Parquet ({type(exc).__name__}: {exc})") \
            from exc
    return SiteRuntime(site, frame, policy=policy, release_log=log)
