"""Delta-radiomics: change of each feature between timepoints of the same patient and lesion.

For every patient × lesion and every ordered pair of timepoints present (baseline → on_treatment,
on_treatment → surgery, baseline → surgery, …; order of :data:`TIMEPOINT_ORDER`):

* ``absolute_change = value_to − value_from``
* ``relative_change = (value_to − value_from) / |value_from|`` (NaN when ``value_from`` is 0),

the two delta definitions of Fave et al., Sci Rep 2017;7:588 (delta-radiomics in NSCLC). The
lesion is identified by ``lesion_id`` when the table has it, else by ``tissue`` (one lesion per
sample). A patient with several samples of the same lesion and timepoint is an error (which one
would be the reference?).
"""

from __future__ import annotations

import pandas as pd

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError

TIMEPOINT_ORDER: list[str] = ["baseline", "on_treatment", "surgery", "follow_up"]
DELTA_COLUMNS = ["patient_id", "center_id", "lesion", "from_timepoint", "to_timepoint", "feature",
                 "value_from", "value_to", "absolute_change", "relative_change"]


def delta_radiomics(features: pd.DataFrame, *, feature_columns: list[str] | None = None,
                    pairs: list[tuple[str, str]] | None = None) -> pd.DataFrame:
    """Long table (:data:`DELTA_COLUMNS`) of per-lesion feature changes between timepoints.

    ``features``: one row per sample with ``patient_id, timepoint`` (+ ``lesion_id`` or ``tissue``)
    and numeric feature columns (default: every numeric column not in the sample metadata).
    ``pairs`` restricts the (from, to) timepoint pairs; default every ordered pair.
    """
    lesion_col = "lesion_id" if "lesion_id" in features.columns else "tissue"
    meta = set(SAMPLE_KEYS) | {"lesion_id", "spacing_mm", "spacing_source", "n_pixels_roi"}
    if feature_columns is None:
        feature_columns = [c for c in features.columns if c not in meta and pd.api.types.is_numeric_dtype(features[c])]
    f = features.copy()
    f["lesion"] = f[lesion_col].astype(str)
    dup = f.duplicated(["patient_id", "lesion", "timepoint"], keep=False)
    if dup.any():
        r = f[dup].iloc[0]
        raise OmicsInputError(f"patient {r['patient_id']} has several samples for lesion {r['lesion']} at "
                              f"{r['timepoint']} ({', '.join(f.loc[dup, 'sample_id'].astype(str).head(3))}); "
                              f"delta-radiomics needs one per timepoint")
    unknown = sorted(set(f["timepoint"].astype(str)) - set(TIMEPOINT_ORDER))
    if unknown:
        raise OmicsInputError(f"unknown timepoint(s) {', '.join(unknown)}; expected {', '.join(TIMEPOINT_ORDER)}")
    if pairs is None:
        pairs = [(a, b) for i, a in enumerate(TIMEPOINT_ORDER) for b in TIMEPOINT_ORDER[i + 1:]]
    keep = ["patient_id", "lesion", "timepoint"] + (["center_id"] if "center_id" in f.columns else [])
    long = f[keep + feature_columns].melt(id_vars=keep, var_name="feature", value_name="value")
    long["value"] = pd.to_numeric(long["value"], errors="coerce").astype(float)
    frames = []
    for a, b in pairs:
        x = long[long["timepoint"] == a].drop(columns="timepoint")
        y = long[long["timepoint"] == b].drop(columns=["timepoint"] + (["center_id"] if "center_id" in keep else []))
        m = x.merge(y, on=["patient_id", "lesion", "feature"], suffixes=("_from", "_to"))
        m.insert(3, "from_timepoint", a)
        m.insert(4, "to_timepoint", b)
        frames.append(m)
    if not frames or not sum(len(x) for x in frames):
        return pd.DataFrame({c: pd.Series(dtype=float if c.startswith(("value", "abs", "rel")) else "str") for c in DELTA_COLUMNS})
    d = pd.concat(frames, ignore_index=True)
    if "center_id" not in d.columns:
        d["center_id"] = pd.NA
    d["absolute_change"] = d["value_to"] - d["value_from"]
    d["relative_change"] = d["absolute_change"] / d["value_from"].abs().where(d["value_from"] != 0)
    return d[DELTA_COLUMNS].reset_index(drop=True)


def delta_wide(delta: pd.DataFrame, change: str = "relative_change") -> pd.DataFrame:
    """One row per patient × lesion × timepoint pair, one column per feature (``change`` values)."""
    w = delta.pivot_table(index=["patient_id", "lesion", "from_timepoint", "to_timepoint"], columns="feature",
                          values=change, aggfunc="first")
    w.columns.name = None
    return w.reset_index()
