"""Small coordinator plans for the Flower engine (tests, the demo).

A plan is what the ServerApp runs (run config ``coordinator = "module:function"``):
``fn(channel, out=Path, config=dict) -> result`` with ``config["params"]`` the plan's own parameters.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from .._descriptive import combine_counts
from .._protocol import Channel, Request

__all__ = ["comparison", "counts_plan", "run"]


def counts_plan(channel: Channel, *, variable: str = "sex", by: str | None = "cohort", repeat: int = 1) -> pd.DataFrame:
    """Every site's ``counts`` of ``variable`` by ``by``, combined (:func:`combine_counts`); asked
    ``repeat`` times (rounds 1…repeat, the last one's table is returned: a run long enough to stop a
    site during it)."""
    sites = channel.sites()
    table = pd.DataFrame()
    for rnd in range(1, int(repeat) + 1):
        replies = channel.ask({s: Request("counts", {"variable": variable, "by": by}, rnd) for s in sites})
        table = combine_counts([replies[s] for s in sites])
    return table


def run(channel: Channel, *, out: Path, config: Mapping[str, Any]) -> pd.DataFrame:
    """The self-test plan: :func:`counts_plan` (``params``: variable, by, repeat), written to
    ``out/counts.json`` and ``out/counts.csv``."""
    params = dict(config.get("params") or {})
    table = counts_plan(channel, variable=params.get("variable", "sex"), by=params.get("by", "cohort"),
                        repeat=int(params.get("repeat", 1)))
    out = Path(out)
    table.to_csv(out / "counts.csv", index=False)
    (out / "counts.json").write_text(json.dumps({"variable": table.attrs.get("variable"),
                                                 "rows": table.to_dict(orient="records")}, indent=1),
                                     encoding="utf-8")
    return table


def comparison(channel: Channel, *, out: Path, config: Mapping[str, Any]) -> Any:
    """The study's comparison (:func:`~latc.federated.run_comparison`, ``params``: its keyword options,
    e.g. ``{"baseline": true}``, and ``journal``: the coordinator's journal file — completed rounds
    are replayed from it, :class:`~latc.federated.JournalChannel`); the launcher reads the result
    back from ``result.pickle``."""
    from .._comparison import run_comparison
    from .._journal import JournalChannel

    params = dict(config.get("params") or {})
    journal = params.pop("journal", None)
    if journal:
        channel = JournalChannel(channel, journal)
    return run_comparison(channel, **params)
