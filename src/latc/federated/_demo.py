"""``latc federated demo``: the synthetic multicenter cohort analysed federated and pooled, compared.

1. synthesise the study (``latc synth``), validate and derive it once (the pooled derived datasets,
   used only for the pooled reference analysis);
2. give every center its own derived datasets (``OUT/sites/<center>/derived``) — from here on a
   site reads nothing else;
3. each site builds its rows of the comparison (``site_comparison_frame``) and answers the
   coordinator's rounds over the chosen engine (Flower's Deployment Engine: one SuperLink, one
   SuperNode per site, local processes on loopback; or ``local``: in this process), recording every
   message in ``OUT/sites/<center>/release_log.jsonl``;
4. the coordinator writes the federated results in `latc analyze`'s format
   (``OUT/federated/analysis``), the pooled `latc analyze` runs on the pooled derived data
   (``OUT/pooled/analysis``), and every federated estimate is put beside its pooled value
   (``OUT/comparison.json``, ``OUT/comparison.csv``).

The demo's sites opt in to releases the default cell rule withholds on a cohort of this size
(:data:`DEMO_POLICY`; docs/federated.md): per-time weighted sums for the IPTW curves, competing-risk
counts below 3, balance rows and Table 1 levels of rare categories, the values of skewed
Table 1 variables, the unadjusted Cox model's per-time risk-set sums (WebDISCO), and the counts
of rare response, surgical-outcome and adverse-event cells.
The opt-ins are recorded in the results and shown in the report.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from ._comparison import coarsen_tte, run_comparison, site_runtime
from ._disclosure import DisclosurePolicy, FederatedInputError
from ._journal import JournalChannel
from ._protocol import LocalChannel
from ._results import compare_results, federated_results
from ._site import derived_by_site

__all__ = ["DEMO_POLICY", "FederatedDemo", "federated_demo", "split_derived"]

#: the demo sites' disclosure decisions (module docstring)
DEMO_POLICY = DisclosurePolicy(min_cell_by_analysis={"km_weighted": 1, "cif": 1, "balance": 1, "counts": 1,
                                                     "table_one_values": 1, "cox_webdisco": 1,
                                                     "response_rates": 1})


@dataclass
class FederatedDemo:
    """Where a demo run wrote its outputs, and its headline figures."""

    out: Path
    sites: list[str]
    comparison: dict[str, Any]
    rounds: int
    seconds: dict[str, float] = field(default_factory=dict)
    bytes_sent: dict[str, int] = field(default_factory=dict)
    primary: dict[str, Any] = field(default_factory=dict)


def split_derived(tables: dict[str, pd.DataFrame], out: Path) -> dict[str, Path]:
    """Write each center's own derived datasets (:func:`~latc.federated.derived_by_site`) to
    ``out/<center>/derived`` (what a site holds)."""
    from latc._paths import safe_filename

    by_site = derived_by_site(tables)
    bad = [c for c in by_site if safe_filename(c) != c]   # a center id becomes a folder name, never a path
    if bad:
        raise FederatedInputError(f"center id(s) {bad} cannot name a site folder (letters, digits, '.', '_', '-')")
    folders = {}
    for c, parts in by_site.items():
        d = out / c / "derived"
        d.mkdir(parents=True, exist_ok=True)
        for name, t in parts.items():
            if t is not None:
                t.to_parquet(d / f"{name}.parquet", index=False)
        folders[c] = d
    return folders


def _pooled_derived(out: Path, n_patients: int, n_centers: int, seed: int, coarsen_months: float | None = None
                    ) -> tuple[dict[str, pd.DataFrame], Path]:
    """The pooled derived datasets (returned as derived) and their folder for the pooled reference run,
    whose ``tte`` is coarsened like the sites' times when ``coarsen_months`` is set."""
    from latc.derive.datasets import derive_datasets
    from latc.io import read_study
    from latc.synth import write_synthetic_study
    from latc.validate import validate_study

    synth = write_synthetic_study(out / "synthetic", n_patients=n_patients, n_centers=n_centers, seed=seed)
    cut = date.fromisoformat(json.loads(Path(synth.truth_path).read_text(encoding="utf-8"))["data_cut"])
    result = validate_study(read_study(synth.study_path), data_cut=cut)
    ds = derive_datasets(result.clean, result.data_cut, eligibility=result.eligibility)
    folder = out / "pooled" / "derived"
    folder.mkdir(parents=True, exist_ok=True)
    tables = {k: v for k, v in ds.tables().items() if v is not None}
    for name, t in tables.items():
        if name == "tte" and coarsen_months is not None:
            t = coarsen_tte(t, coarsen_months)
        t.to_parquet(folder / f"{name}.parquet", index=False)
    return tables, folder


def federated_demo(out: str | Path, *, n_patients: int = 800, n_centers: int = 8, seed: int = 20261204,
                   engine: str = "flower", policy: DisclosurePolicy = DEMO_POLICY,
                   timeout: float = 1800.0, resume: bool = False, coarsen_months: float | None = None
                   ) -> FederatedDemo:
    """Run the demo (module docstring); ``engine``: ``"flower"`` or ``"local"``. The coordinator's
    journal (``OUT/federated/journal.jsonl``) records every completed round; ``resume`` replays it
    (a run that stopped because a site dropped out continues from the failed round) — otherwise
    the demo starts afresh. ``coarsen_months``: every site rounds its times up to this grid
    (``DisclosurePolicy.coarsen_months``) and the pooled reference analyses the same coarsened times."""
    from latc.analysis import analyze_path, write_results
    from latc.io import write_table_csv

    out = Path(out)
    t: dict[str, float] = {}
    t0 = time.perf_counter()
    if coarsen_months is not None:
        policy = replace(policy, coarsen_months=float(coarsen_months))
    tables, pooled_dir = _pooled_derived(out, n_patients, n_centers, seed, policy.coarsen_months)
    site_dirs = split_derived(tables, out / "sites")
    t["synthesise_and_derive"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    logs = {s: out / "sites" / s / "release_log.jsonl" for s in site_dirs}
    journal = out / "federated" / "journal.jsonl"
    if not resume:
        for p in [*logs.values(), journal]:
            p.unlink(missing_ok=True)
    if engine == "local":
        channel = LocalChannel({s: site_runtime(s, d, policy=policy, release_log=logs[s]) for s, d in site_dirs.items()})
        fed = run_comparison(JournalChannel(channel, journal), baseline=True)
        bytes_sent = dict(channel.bytes_sent)
    elif engine == "flower":
        from .flower.launcher import run_flower_comparison

        fed, bytes_sent = run_flower_comparison(site_dirs, logs, out / "federated" / "flower", policy=policy,
                                                timeout=timeout, journal=journal)
    else:
        raise ValueError(f"engine must be 'flower' or 'local', not {engine!r}")
    t["federated"] = time.perf_counter() - t0
    fed.parameters["disclosure_opt_ins"] = dict(policy.min_cell_by_analysis)
    fed.parameters["engine"] = engine
    fed.parameters["coarsen_months"] = policy.coarsen_months
    fres = federated_results(fed, sites={s: {"release_log": str(p.relative_to(out))} for s, p in logs.items()})
    write_results(fres, out / "federated" / "analysis")

    t0 = time.perf_counter()
    pooled, _ = analyze_path(pooled_dir, out / "pooled")
    t["pooled_analyze"] = time.perf_counter() - t0

    summary, rows = compare_results(fres, pooled)
    summary.update({"sites": sorted(site_dirs), "rounds": fed.rounds, "bytes_sent_per_site": bytes_sent,
                    "engine": engine, "seconds": {k: round(v, 3) for k, v in t.items()},
                    "not_computed_federated": fed.not_computed})
    (out / "comparison.json").write_text(json.dumps(summary, indent=1, default=float), encoding="utf-8")
    write_table_csv(rows, out / "comparison.csv")    # text cells never run as spreadsheet formulas
    prim = fed.primary() if "comparative/hazard_ratios" in fed.tables else None
    return FederatedDemo(out=out, sites=sorted(site_dirs), comparison=summary, rounds=fed.rounds, seconds=t,
                         bytes_sent=bytes_sent,
                         primary={} if prim is None else {k: prim[k] for k in ("hr", "lower", "upper", "p")})
