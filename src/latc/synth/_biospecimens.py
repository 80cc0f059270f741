"""The biospecimen manifest: tumour / lymph node / blood samples with their assays.

Neoadjuvant patients: baseline (biopsy day = baseline imaging), on treatment (first restaging scan)
and surgery; upfront patients: surgery only. H&E slides and ultrasound images are collected at
every center; single-cell, bulk, spatial and flow assays only at the centers running them
(``OMICS_CENTER_SHARE``). Lymph-node samples only from node-positive patients.
Sample id: ``<patient_id>-<TP>_<TISSUE>_<ASSAY>`` (dictionary ``sample_id_pattern``); data file
``omics/<assay>/<sample_id>.<ext>`` (blank while the file is pending).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.synth import _params as P
from latc.synth._util import dates, typed_table

_TP = {"baseline": "BL", "on_treatment": "OT", "surgery": "SX"}
_TISSUE = {"tumour": "TU", "lymph_node": "LN", "blood": "PB"}
_ASSAY = {"scrna_seq": "SC", "bulk_rna_seq": "BK", "spatial": "SP", "flow": "FL", "he_slide": "HE", "ultrasound": "US"}


def biospecimen_rows(rng: np.random.Generator, pt: pd.DataFrame, assess_days: pd.DataFrame, centers) -> pd.DataFrame:
    e = pt[pt["eligible"]]
    neo = e["neoadjuvant"].to_numpy()
    first_scan = assess_days.sort_values(["pt_row", "day"]).drop_duplicates("pt_row").set_index("pt_row")["day"]
    day_of = {
        "baseline": np.where(neo, e["baseline_imaging_day"].to_numpy(), np.nan),
        "on_treatment": np.where(neo, first_scan.reindex(e.index).to_numpy(dtype=float), np.nan),
        "surgery": e["surgery_day"].to_numpy(),
    }
    omics = centers.omics[e["center"].to_numpy()]
    node_pos = e["cn"].to_numpy() != "N0"
    frames = []
    for (tp, tissue, assay), (p, needs_omics) in P.BIOSPECIMENS.items():
        day = day_of[tp]
        ok = ~np.isnan(day) & (rng.random(len(e)) < p)
        if needs_omics:
            ok &= omics
        if tissue == "lymph_node":
            ok &= node_pos
        idx = np.flatnonzero(ok)
        frames.append(pd.DataFrame({"pt_row": e.index.to_numpy()[idx], "day": day[idx], "timepoint": tp, "tissue": tissue, "assay": assay}))
    b = pd.concat(frames, ignore_index=True)
    b = b[b["day"].to_numpy() <= pt["end_day"].to_numpy()[b["pt_row"].to_numpy()]]
    b = b.sort_values(["pt_row", "day"], kind="stable").reset_index(drop=True)
    pid = pt["patient_id"].to_numpy()[b["pt_row"].to_numpy()]
    code = b["timepoint"].map(_TP) + "_" + b["tissue"].map(_TISSUE) + "_" + b["assay"].map(_ASSAY)
    b["sample_id"] = pd.Series(pid, dtype=object) + "-" + code.to_numpy(dtype=object)
    ext = b["assay"].map(P.FILE_EXTENSION)
    ref = "omics/" + b["assay"] + "/" + b["sample_id"] + "." + ext
    b["file_ref"] = ref.where(rng.random(len(b)) >= P.P_FILE_PENDING, None)
    return b


def biospecimens_table(b: pd.DataFrame, pt: pd.DataFrame, centers) -> pd.DataFrame:
    r = b["pt_row"].to_numpy()
    return typed_table("biospecimens", {
        "sample_id": b["sample_id"], "patient_id": pt["patient_id"].to_numpy()[r],
        "center_id": centers.ids[pt["center"].to_numpy()[r]], "collection_date": dates(pt["t0_date"].to_numpy()[r], b["day"]),
        "timepoint": b["timepoint"], "tissue": b["tissue"], "assay": b["assay"], "file_ref": b["file_ref"],
    }, len(b))
