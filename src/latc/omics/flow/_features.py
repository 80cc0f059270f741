"""Flow cytometry features: population counts and % of parent, one row per sample.

Column names: ``<gate>_count`` and ``<gate>_pct_parent`` for every gate of the strategy, plus
``events_total``; sample keys (:data:`~latc.omics.SAMPLE_KEYS`) come from the manifest so each
row joins to the patient's timepoint, tissue and response.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, load_manifest, resolve_data_root, samples_for
from latc.omics.flow._gating import gate_sample, load_gating
from latc.omics.flow._io import read_fcs

ASSAY = "flow"


def population_table(reports: pd.DataFrame, events_total: pd.Series | None = None) -> pd.DataFrame:
    """Wide table (one row per ``sample_id``) from stacked FlowKit gating reports."""
    if reports.empty:
        return pd.DataFrame(columns=["sample_id"])
    r = reports.copy()
    r["sample_id"] = r["sample_id"].astype(str)
    dup = r.duplicated(["sample_id", "gate_name"])
    if dup.any():  # same gate name under two parents: qualify with the parent
        r.loc[dup, "gate_name"] = r.loc[dup, "parent"].astype(str) + "_" + r.loc[dup, "gate_name"].astype(str)
    counts = r.pivot(index="sample_id", columns="gate_name", values="count").add_suffix("_count")
    pct = r.pivot(index="sample_id", columns="gate_name", values="relative_percent").add_suffix("_pct_parent")
    order = list(dict.fromkeys(r["gate_name"]))
    cols = [c for g in order for c in (f"{g}_count", f"{g}_pct_parent")]
    wide = counts.join(pct)[cols]
    if events_total is not None:
        wide.insert(0, "events_total", events_total.reindex(wide.index).to_numpy())
    return wide.reset_index()


def flow_features(source: str | Path | pd.DataFrame, root: str | Path | None = None, *,
                  gating: str | Path | None = None, compensation=None, strict: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Gate every flow sample of the manifest; returns (wide features, long report).

    ``gating``: YAML or GatingML 2.0 path (default: the shipped PBMC strategy); ``compensation``
    overrides the YAML's (``"FCS"``, ``"none"``, a CSV path or a spillover DataFrame). With
    ``strict=False`` samples whose FCS file is absent are skipped and listed in
    ``wide.attrs["missing_samples"]`` instead of raising.
    """
    manifest = load_manifest(source)
    root = Path(root if root is not None else resolve_data_root(source) if not isinstance(source, pd.DataFrame) else ".")
    rows = samples_for(manifest, ASSAY, root, require_files=strict)
    missing = rows.loc[~rows["exists"], "sample_id"].astype(str).tolist()
    rows = rows[rows["exists"]]
    if rows.empty:
        raise OmicsInputError(f"no {ASSAY} samples with a data file in the manifest under {root}")
    strategy = load_gating(gating, compensation)
    reports, totals = [], {}
    for r in rows.itertuples(index=False):  # one FCS file at a time (memory stays flat)
        sample = read_fcs(r.path, sample_id=str(r.sample_id))
        totals[str(r.sample_id)] = sample.event_count
        reports.append(gate_sample(strategy, sample))
    long = pd.concat(reports, ignore_index=True)
    wide = population_table(long, pd.Series(totals))
    keys = rows[SAMPLE_KEYS].astype(str).drop_duplicates("sample_id")
    wide = keys.merge(wide, on="sample_id", how="right")
    long = long.drop(columns=["gate_path"]).rename(columns={"relative_percent": "pct_parent",
                                                            "absolute_percent": "pct_total"})
    wide.attrs["missing_samples"] = missing
    return wide, long
