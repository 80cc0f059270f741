"""``latc omics flow run``: gate every FCS file of the manifest, write population frequencies + figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latc.omics.bulk import _figures
from latc.omics.bulk._pipeline import response_from_subject, synthetic_subject
from latc.omics.flow._features import flow_features

FIGURE_POPULATIONS = ["CD8_PD1pos_pct_parent", "CD4_PD1pos_pct_parent", "Treg_pct_parent", "CD3pos_pct_parent",
                      "NK_pct_parent", "B_pct_parent"]
TIMEPOINTS = ["baseline", "on_treatment", "surgery", "follow_up"]


@dataclass
class FlowRun:
    """What a flow run wrote (tables also on disk under ``out``)."""

    out: Path
    features: pd.DataFrame
    files: list[Path] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def run_flow(study_dir: str | Path, out: str | Path, *, gating: str | Path | None = None, compensation=None,
             subject: pd.DataFrame | None = None, response_column: str = "objective_response",
             strict: bool = True, data_root: str | Path | None = None) -> FlowRun:
    """Write ``flow_populations.csv`` (one row per sample: keys, counts and % of parent per gate),
    ``flow_gating_report.csv`` (long: one row per sample × gate) and ``figures/`` (population
    frequencies by timepoint, split by response when a response is known). The manifest is the
    validated one; ``file_ref`` paths are relative to ``data_root`` (default: the study folder)."""
    from latc.omics._manifest import resolve_data_root

    study_dir, out = Path(study_dir), Path(out)
    root = resolve_data_root(study_dir, data_root)
    out.mkdir(parents=True, exist_ok=True)
    wide, long = flow_features(study_dir, root, gating=gating, compensation=compensation, strict=strict)
    notes: list[str] = []
    if wide.attrs.get("missing_samples"):
        miss = wide.attrs["missing_samples"]
        notes.append(f"{len(miss)} FCS file(s) named in the manifest are absent and were skipped: {', '.join(miss[:5])}"
                     + (" …" if len(miss) > 5 else ""))
    if subject is None:
        subject = synthetic_subject(study_dir)
        if subject is not None:
            notes.append("response taken from the synthetic truth (truth_patients.csv: objective_response_latent)")
            response_column = "objective_response"
    if subject is not None:
        wide["response"] = wide["patient_id"].map(response_from_subject(subject, response_column))
    files = [out / "flow_populations.csv", out / "flow_gating_report.csv"]
    wide.to_csv(files[0], index=False)
    long.to_csv(files[1], index=False)
    fig_dir = out / "figures"
    cols = [c for c in FIGURE_POPULATIONS if c in wide]
    tps = [t for t in TIMEPOINTS if t in set(wide["timepoint"])]
    if "response" in wide and wide["response"].notna().any():
        w = wide[wide["response"].notna()].copy()
        w["group"] = w["timepoint"] + " · " + w["response"].str.replace("_", "-")
        order = [f"{t} · {r}" for t in tps for r in ("non-responder", "responder") if f"{t} · {r}" in set(w["group"])]
        fig = _figures.distributions(w, cols, "group", "Blood populations (% of parent) by timepoint and response", order=order)
    else:
        fig = _figures.distributions(wide, cols, "timepoint", "Blood populations (% of parent) by timepoint", order=tps)
    files += _figures.save(fig, fig_dir / "flow_populations_by_timepoint")
    return FlowRun(out=out, features=wide, files=files, notes=notes)
