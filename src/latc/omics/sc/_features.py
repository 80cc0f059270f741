"""Sample-level immune features (one row per sample) and their association with response and RFS.

Feature columns (all per sample; ``NaN`` where a cell type has fewer than ``min_cells`` cells):

* ``n_cells`` — cells after QC; ``n_unassigned`` — of them, cells the annotation left
  ``unassigned`` (a sample-quality indicator, not tested against the outcomes);
* ``prop__<cell_type>`` — share of the sample's *assigned* cells annotated as the type (unassigned
  cells are left out of the denominator, as in :func:`latc.omics.sc.composition`);
* ``clr__<cell_type>`` — its centred log-ratio (pseudocount 0.5; see ``_composition``);
* ``sig__<signature>__all`` — mean per-cell signature score over all cells;
* ``sig__<signature>__<cell_type>`` — mean score within a type, for the pairs in
  :data:`SIGNATURE_CELL_TYPES` (cytotoxicity / exhaustion in CD8 and NK cells, IFN-γ in myeloid
  cells, TDS in thyrocytes …);
* ``cd8_effector_exhausted_log2ratio`` — log2((n_effector + 0.5) / (n_exhausted + 0.5)).

Tests (per tissue × timepoint stratum, one sample per patient; BH-FDR over the features of a
stratum and test): response — Mann–Whitney U (two-sided; effect = AUC = U / (n1·n0), 0.5 = none)
and RFS — Cox model per feature standardised to SD 1 (:func:`latc.stats.cox`, Efron ties, HR per
SD). A feature with too few patients or a degenerate model gets ``NaN`` and a ``note``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import stats

from latc.omics._manifest import SAMPLE_KEYS
from latc.omics.sc._annotate import UNASSIGNED
from latc.omics.sc._composition import bh, clr

__all__ = ["SIGNATURE_CELL_TYPES", "sample_features", "feature_changes", "associate_features", "subject_from_latent"]

#: per-sample counts of the feature table that are not tested against the outcomes
NOT_FEATURES = ("n_cells", "n_unassigned")

#: (signature, cell type) pairs summarised per sample beyond the all-cell means.
SIGNATURE_CELL_TYPES: list[tuple[str, str]] = [
    ("cytotoxicity", "cd8_t_effector"), ("cytotoxicity", "nk"), ("exhaustion", "cd8_t_exhausted"),
    ("exhaustion", "cd8_t_effector"), ("ifng_ayers_18", "macrophage_m1_like"), ("ifng_ayers_6", "dendritic"),
    ("tls_12_chemokine", "fibroblast"), ("thyroid_differentiation_tds", "thyrocyte_tumour"),
]


def sample_features(adata: AnnData, *, cell_type: str = "cell_type", min_cells: int = 5) -> pd.DataFrame:
    """The sample-level feature table: :data:`SAMPLE_KEYS`, ``n_cells`` and the feature columns."""
    obs = adata.obs
    keys = [k for k in SAMPLE_KEYS if k in obs]
    sid = obs["sample_id"].astype(str)
    ct = obs[cell_type].astype(str)
    base = obs[keys].astype(str).drop_duplicates("sample_id").set_index("sample_id")
    counts = pd.crosstab(sid, ct)
    if isinstance(obs[cell_type].dtype, pd.CategoricalDtype):
        counts = counts.reindex(columns=list(obs[cell_type].cat.categories), fill_value=0)
    n = counts.sum(axis=1)
    n_un = counts.pop(UNASSIGNED) if UNASSIGNED in counts.columns else pd.Series(0, index=counts.index)
    n_assigned = counts.sum(axis=1)
    parts = [n.rename("n_cells"), n_un.rename("n_unassigned")]
    parts.append((counts.div(n_assigned.where(n_assigned > 0), axis=0)).add_prefix("prop__"))
    present = counts.loc[:, counts.sum(axis=0) > 0]
    parts.append(clr(present).add_prefix("clr__"))
    sigs = [c for c in obs.columns if c.startswith("sig_")]
    if sigs:
        parts.append(obs[sigs].groupby(sid, observed=True).mean().rename(columns=lambda c: f"sig__{c[4:]}__all"))
        for s, t in SIGNATURE_CELL_TYPES:
            col = f"sig_{s}"
            if col not in obs:
                continue
            m = ct.to_numpy() == t
            v = obs.loc[m, col].groupby(sid[m], observed=True).agg(["mean", "size"])
            v = v["mean"].where(v["size"] >= min_cells)
            parts.append(v.rename(f"sig__{s}__{t}"))
    eff = counts.get("cd8_t_effector", pd.Series(0, index=counts.index))
    exh = counts.get("cd8_t_exhausted", pd.Series(0, index=counts.index))
    parts.append(np.log2((eff + 0.5) / (exh + 0.5)).rename("cd8_effector_exhausted_log2ratio"))
    feats = pd.concat(parts, axis=1)
    small = counts.reindex(feats.index).fillna(0) < min_cells
    for t in counts.columns:
        for pre in ("prop__", "clr__"):
            if f"{pre}{t}" in feats:
                feats.loc[small[t].to_numpy() & (feats["n_cells"] < min_cells).to_numpy(), f"{pre}{t}"] = np.nan
    out = base.join(feats, how="right")
    out.index.name = "sample_id"
    return out.reset_index()


def feature_changes(features: pd.DataFrame, *, pre: str = "baseline", post: str = "surgery",
                    tissue: str = "tumour") -> pd.DataFrame:
    """Post − pre difference of every numeric feature per patient (one row per patient with both)."""
    f = features[features["tissue"] == tissue]
    num = [c for c in f.columns if c not in SAMPLE_KEYS and c not in NOT_FEATURES and pd.api.types.is_numeric_dtype(f[c])]
    a = f[f["timepoint"] == pre].drop_duplicates("patient_id").set_index("patient_id")[num]
    b = f[f["timepoint"] == post].drop_duplicates("patient_id").set_index("patient_id")[num]
    both = a.index.intersection(b.index)
    d = (b.loc[both] - a.loc[both]).add_prefix("change__")
    d.insert(0, "tissue", tissue)
    d.insert(1, "timepoint", f"{post}-{pre}")
    return d.reset_index()


def subject_from_latent(latent: pd.DataFrame) -> pd.DataFrame:
    """A ``subject``-like table from the synthetic per-patient truth (``truth_patients.csv``) in
    `latc derive`'s column names: ``patient_id, cohort, objective_response, mpr, pcr`` (neoadjuvant
    cohort only; missing for upfront surgery), ``rfs_time_days``, ``rfs_time_months``, ``rfs_event``
    (recurrence observed; time = recurrence or end of follow-up). For demonstrations: the omics
    commands use it only when ``--subject`` names the truth file."""
    from latc.omics._outcomes import _from_truth

    return _from_truth(latent)


def _mw(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    u, p = stats.mannwhitneyu(x, y, alternative="two-sided")
    return float(u / (len(x) * len(y))), float(p)


def associate_features(features: pd.DataFrame, subject: pd.DataFrame, *,
                       response: str | list[str] | None = "objective_response", time: str | None = "rfs_time_months",
                       event: str | None = "rfs_event", min_patients: int = 6) -> pd.DataFrame:
    """Association of every numeric feature with response (Mann–Whitney) and RFS (Cox), per stratum.

    ``features``: :func:`sample_features` or :func:`feature_changes` output (``tissue``,
    ``timepoint`` strata). ``subject``: one row per ``patient_id`` with the outcome columns — by
    default `latc derive`'s ``objective_response``, ``rfs_time_months``, ``rfs_event``;
    ``response`` may list several binary columns (missing outcome columns skip that test).
    Returns long rows ``tissue, timepoint, feature, outcome, test, n, effect, effect_name, ci_low,
    ci_high, p, q, note`` (BH-FDR per tissue, timepoint, outcome and test).
    """
    from latc.omics._outcomes import binary_values
    from latc.stats import StatsInputError, cox

    subj = subject.drop_duplicates("patient_id").set_index("patient_id")
    subj.index = subj.index.astype(str)
    responses = [response] if isinstance(response, str) else list(response or [])
    num = [c for c in features.columns
           if c not in SAMPLE_KEYS and c not in NOT_FEATURES and pd.api.types.is_numeric_dtype(features[c])]
    rows = []
    for (tissue, tp), f in features.groupby(["tissue", "timepoint"], sort=True):
        f = f.drop_duplicates("patient_id").set_index("patient_id")
        f.index = f.index.astype(str)
        j = f[num].join(subj[[c for c in subj.columns if c not in num]], how="inner")
        for resp_col in (c for c in responses if c in j):
            r = binary_values(j[resp_col])
            for c in num:
                ok = j[c].notna().to_numpy() & r.notna().to_numpy()
                rr = r[ok].astype(bool).to_numpy()
                x, y = j.loc[ok, c].to_numpy(float)[rr], j.loc[ok, c].to_numpy(float)[~rr]
                row = {"tissue": tissue, "timepoint": tp, "feature": c, "outcome": resp_col,
                       "test": "response (Mann-Whitney)",
                       "n": int(ok.sum()), "effect_name": "AUC", "effect": np.nan, "ci_low": np.nan, "ci_high": np.nan,
                       "p": np.nan, "note": ""}
                if min(len(x), len(y)) >= min_patients // 2 and len(x) + len(y) >= min_patients and np.ptp(np.r_[x, y]) > 0:
                    row["effect"], row["p"] = _mw(x, y)
                else:
                    row["note"] = "too few patients or constant"
                rows.append(row)
        if time and event and time in j and event in j:
            for c in num:
                d = j[[c, time, event]].apply(pd.to_numeric, errors="coerce").astype("float64").dropna()
                row = {"tissue": tissue, "timepoint": tp, "feature": c, "outcome": f"rfs ({time}, {event})",
                       "test": "RFS (Cox, per SD)", "n": len(d),
                       "effect_name": "HR", "effect": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan, "note": ""}
                sd = d[c].std()
                if len(d) >= min_patients and sd > 0 and d[event].astype(int).sum() >= 2:
                    d = d.assign(**{c: (d[c] - d[c].mean()) / sd, event: d[event].astype(int)})
                    try:
                        s = cox(d, time, event, [c]).summary.iloc[0]
                        row.update(effect=float(s["exp_coef"]), p=float(s["p"]),
                                   ci_low=float(s["lower"]),
                                   ci_high=float(s["upper"]))
                    except StatsInputError as exc:
                        row["note"] = str(exc)[:120]
                else:
                    row["note"] = "too few patients/events or constant"
                rows.append(row)
    cols = ["tissue", "timepoint", "feature", "outcome", "test", "n", "effect", "effect_name", "ci_low", "ci_high",
            "p", "q", "note"]
    out = pd.DataFrame(rows)
    if out.empty:
        return pd.DataFrame(columns=cols)
    out["q"] = out.groupby(["tissue", "timepoint", "outcome", "test"])["p"].transform(
        lambda p: pd.Series(bh(p), index=p.index))
    return out[cols]
