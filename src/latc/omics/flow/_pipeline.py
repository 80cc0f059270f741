"""``latc omics flow run``: gate every FCS file of the manifest, write population frequencies + figures."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from latc.omics._outcomes import Outcomes
from latc.omics._output import Output, Progress, no_progress, write_run_json
from latc.omics import _figures
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
             subject: str | Path | pd.DataFrame | Outcomes | None = None, response_column: str | list[str] | None = None,
             time_col: str | None = None, event_col: str | None = None, strict: bool = True,
             data_root: str | Path | None = None, figures: bool = True, progress: Progress | None = None) -> FlowRun:
    """Write (the omics output layout, :mod:`latc.omics._output`) ``tables/flow_populations.csv``
    (one row per sample: keys, counts and % of parent per gate, ``cohort``, ``response``),
    ``tables/flow_gating_report.csv`` (long: one row per sample × gate),
    ``tables/flow_association.csv`` (every % of parent against every response column —
    Mann–Whitney — and RFS — Cox per SD —, per timepoint, BH-FDR) and ``figures/`` (population
    frequencies by timepoint, split by response when a response is known), ``skipped.csv``,
    ``run.json``. Outcomes: ``subject`` (table, path or `latc derive`/`latc run` output folder),
    else found beside the study (:mod:`latc.omics._outcomes`; never the synthetic truth unless named).
    The manifest is the validated one; ``file_ref`` paths are relative to ``data_root`` (default:
    the study folder)."""
    import time

    from latc.omics._manifest import load_manifest, resolve_data_root, samples_for, validated_form
    from latc.omics._outcomes import is_output_folder, load_outcomes, study_data_root
    from latc.omics._output import files_checksum, manifest_checksum
    from latc.omics._associate import associate

    step = progress or no_progress
    t0 = time.perf_counter()
    study_dir = Path(study_dir)
    if data_root is None and is_output_folder(study_dir):
        data_root = study_data_root(study_dir)
    root = resolve_data_root(study_dir, data_root)
    oo = Output(out)
    step("reading the subject table")
    o = subject if isinstance(subject, Outcomes) else load_outcomes(study_dir, subject, response=response_column,
                                                                   time=time_col, event=event_col)
    step("compensating, transforming and gating the FCS files")
    wide, long = flow_features(study_dir, root, gating=gating, compensation=compensation, strict=strict)
    oo.root.mkdir(parents=True, exist_ok=True)
    notes: list[str] = []
    skipped: list[dict] = []
    if wide.attrs.get("missing_samples"):
        miss = wide.attrs["missing_samples"]
        notes.append(f"{len(miss)} FCS file(s) named in the manifest are absent and were skipped: {', '.join(miss[:5])}"
                     + (" …" if len(miss) > 5 else ""))
    pct = [c for c in wide.columns if c.endswith("_pct_parent")]
    try:
        patients = validated_form(study_dir, "patients")
    except Exception:  # noqa: BLE001 - the cohort is a convenience: without the patients form it comes from subject
        patients = None
    cohort = patients.drop_duplicates("patient_id").set_index("patient_id")["cohort"] \
        if patients is not None and "cohort" in patients else None
    pc = o.patient_columns(wide["patient_id"], cohort)
    for c in pc.columns:
        wide[c] = pc[c].astype("object").to_numpy()
    oo.table(wide, "flow_populations")
    oo.table(long, "flow_gating_report")
    subj = o.frame()
    if subj is not None and (o.responses or o.has_rfs) and pct:
        step("association of the populations with the outcomes")
        assoc = associate(wide, subj, responses=o.responses, rfs=(o.time, o.event) if o.has_rfs else None,
                          feature_columns=pct)
        oo.table(assoc, "flow_association")
    skipped += [{"analysis": "flow_association", "reason": s_} for s_ in o.skipped]
    if figures:
        step("figures")
        cols = [c for c in FIGURE_POPULATIONS if c in wide]
        tps = [t for t in TIMEPOINTS if t in set(wide["timepoint"])]
        if "response" in wide and wide["response"].notna().any():
            w = wide[wide["response"].notna()].copy()
            w["group"] = w["timepoint"] + " · " + w["response"].str.replace("_", "-")
            order = [f"{t} · {r}" for t in tps for r in ("non-responder", "responder") if f"{t} · {r}" in set(w["group"])]
            fig = _figures.distributions(w, cols, "group", "Blood populations (% of parent) by timepoint and response", order=order)
        else:
            fig = _figures.distributions(wide, cols, "timepoint", "Blood populations (% of parent) by timepoint", order=tps)
        oo.figure(fig, "flow_populations_by_timepoint")
    oo.skipped(skipped)
    try:
        manifest = load_manifest(study_dir)
        files = {str(r_.sample_id): r_.path for r_ in samples_for(manifest, "flow", root, require_files=False).itertuples()
                 if r_.exists}
        man = manifest_checksum(manifest)
    except Exception:  # noqa: BLE001 - the record is best effort; gating already read the manifest
        files, man = {}, None
    inputs = {"study": str(study_dir.resolve()), "data_root": str(Path(root).resolve()), "manifest": man,
              "subject": files_checksum({"subject": o.source}) if o.source and Path(o.source).is_file() else None,
              "gating": str(gating) if gating else "shipped PBMC strategy", "data_files": files_checksum(files)}
    params = {"compensation": compensation, "strict": strict, "figures": figures, "response_columns": o.responses,
              "time_column": o.time, "event_column": o.event}
    write_run_json(oo, command="latc omics flow run", parameters=params, inputs=inputs, outcomes=o.record(),
                   timings={"total": time.perf_counter() - t0}, steps=["gating", "association"],
                   counts={"n_samples": int(len(wide))})
    return FlowRun(out=Path(out), features=wide, files=list(oo.files) + [oo.run_json],
                   notes=[n for n in [o.message()] + notes if n])
