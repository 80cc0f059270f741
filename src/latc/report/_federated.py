"""The federated report's own section: how the run went and how it compares with the pooled analysis.

A federated analysis folder (``latc federated demo``/``run``; ``results.json`` ``inputs.federated``)
holds the comparison and competing-risk tables the sites' aggregates allow, nothing per patient.
The report shows them with the usual comparative section, and this section adds: the sites and
the engine, rounds and bytes each site sent, the disclosure opt-ins, each site's release log
(messages, bytes, the log's SHA-256), and — when the pooled reference run exists
(``comparison.json`` beside the federated folder) — every table's largest difference between the
federated and the pooled estimates.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pandas as pd

from ._common import add_analysis_table, add_table
from ._inputs import ReportInputs
from ._model import Section

__all__ = ["comparison_of", "federated_section", "is_federated"]


def is_federated(inp: ReportInputs) -> bool:
    return bool((inp.results.get("inputs") or {}).get("federated"))


def _run_root(inp: ReportInputs) -> Path:
    """The demo/run output folder: the parent of the ``federated`` folder."""
    base = inp.analysis_dir.parent if inp.analysis_dir is not None else inp.root
    return base.parent if base.name == "federated" else base


def comparison_of(inp: ReportInputs) -> dict[str, Any] | None:
    """``comparison.json`` of the run (federated vs pooled), or None."""
    for p in (_run_root(inp) / "comparison.json", inp.root / "comparison.json"):
        if p.is_file():
            try:
                return json.loads(p.read_text(encoding="utf-8"))
            except ValueError:
                return None
    return None


def _release_logs(inp: ReportInputs) -> pd.DataFrame:
    rows = []
    root = _run_root(inp)
    for site, info in sorted(((inp.results.get("inputs") or {}).get("sites") or {}).items()):
        rel = (info or {}).get("release_log")
        p = (root / rel) if rel else None
        if p is None or not p.resolve().is_relative_to(root.resolve()) or not p.is_file():
            rows.append({"site": site, "messages": None, "bytes": None, "suppressed": None, "log_sha256": None,
                         "log": rel or "not recorded"})
            continue
        recs = [json.loads(x) for x in p.read_text(encoding="utf-8").splitlines() if x.strip()]
        rows.append({"site": site, "messages": len(recs), "bytes": sum(int(r.get("n_bytes", 0)) for r in recs),
                     "suppressed": sum(bool(r.get("suppressed")) for r in recs),
                     "log_sha256": hashlib.sha256(p.read_bytes()).hexdigest(), "log": rel})
    return pd.DataFrame(rows)


def federated_section(inp: ReportInputs) -> Section:
    sec = Section("federated", "Federated analysis: what left the sites, and agreement with the pooled analysis")
    par = inp.results.get("parameters") or {}
    ins = inp.results.get("inputs") or {}
    sites = sorted((ins.get("sites") or {}).keys())
    sec.paragraphs.append(
        f"Each of the {len(sites)} sites ({', '.join(sites)}) kept its patients' data; only aggregates left a site "
        f"(counts, sums, score and information of the models at the coordinator's coefficients), in "
        f"{ins.get('rounds', '?')} rounds over the {par.get('engine', 'unknown')} engine. Every message a site sent "
        "is in its release log (analysis, UTC time, SHA-256 and size of the exact text). Cells below the minimum "
        "count (3, as DataSHIELD's nfilter.tab) are withheld unless the site opted in.")
    opt = par.get("disclosure_opt_ins") or {}
    if opt:
        sec.paragraphs.append("Disclosure opt-ins of these sites (minimum cell count per analysis): "
                              + ", ".join(f"{k} = {v}" for k, v in sorted(opt.items())) + " (docs/federated.md).")
    step = par.get("coarsen_months")
    if step:
        sec.paragraphs.append(f"The sites rounded every event and follow-up time up to a multiple of {step:g} months "
                              "before computing anything: the survival results are exact for these coarsened times "
                              "(the pooled reference analysed the same coarsened times), not for the original ones.")
    add_table(sec, "federated_release_logs", "Release logs: messages each site sent", _release_logs(inp),
              caption="From each site's release_log.jsonl; the log's own SHA-256 lets the site check that the "
                      "log it keeps is the one summarised here.", why_empty="no sites recorded")
    add_analysis_table(sec, inp, "baseline", "table1", title="Baseline characteristics by cohort (federated)",
                       columns=["label", "level", "statistic", "neoadjuvant", "upfront_surgery", "p", "smd", "missing"])
    add_analysis_table(sec, inp, "comparative", "balance", title="Covariate balance after weighting (federated)",
                       columns=["sample", "variable", "type", "diff_un", "diff_adj", "variance_ratio_adj"])
    comp = comparison_of(inp)
    if comp is None:
        sec.note("Comparison with the pooled analysis", "no comparison.json (the pooled reference run is part of "
                 "`latc federated demo`; a real deployment has no pooled data)")
    else:
        rows = [{"table": k, "rows": v.get("rows_compared"), "values": v.get("values_compared"),
                 "max_abs_diff": f"{float(v.get('max_abs_diff') or 0.0):.1e}", "only_pooled": v.get("only_pooled"),
                 "only_federated": v.get("only_federated")} for k, v in sorted((comp.get("tables") or {}).items())]
        add_table(sec, "federated_comparison", "Federated vs pooled `latc analyze`: largest absolute difference per table",
                  pd.DataFrame(rows),
                  caption=f"Largest difference over all tables: {comp.get('max_abs_diff', float('nan')):.1e}. Every "
                          "value is in comparison.csv. 'only_pooled': rows the pooled analysis has and the federated "
                          "one does not compute (e.g. the PS-matched model).")
    return sec
