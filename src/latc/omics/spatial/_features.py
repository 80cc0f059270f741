"""Per-sample spatial features and their association with response and recurrence-free survival.

:func:`spatial_features` runs, per sample, deconvolution → spot classes → neighbourhood enrichment
and co-occurrence → infiltration → TLS, and returns one row per sample (the sample keys of the
manifest + :data:`FEATURE_DESCRIPTIONS` columns), joinable to ``subject`` on ``patient_id``.

:func:`associate` tests each feature against each endpoint **within a timepoint** (one value per
patient and timepoint: samples of the same patient, timepoint and tissue are averaged, so there is
no pseudo-replication):

* binary response (e.g. objective response, MPR, pCR): two-sided Mann–Whitney U (Wilcoxon
  rank-sum) test; effect = AUC = U / (n₁·n₀) (probability that a responder's value exceeds a
  non-responder's), and the difference in medians;
* RFS: Cox model (:func:`latc.stats.cox`, Efron ties) on the feature standardised to SD 1; effect =
  hazard ratio per SD with Wald 95 % CI and p.

Benjamini–Hochberg FDR over all tests in the table (``q_value``; ``significant`` = q < ``fdr``).
Tests with fewer than ``min_group`` (3) samples per group / events, or a constant feature, are
listed with a ``note`` and no p-value.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import anndata as ad
import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError
from latc.omics.spatial._deconvolution import Reference, deconvolve, marker_levels, marker_proportions
from latc.omics.spatial._infiltration import infiltration
from latc.omics.spatial._neighbourhood import co_occurrence, neighbourhood_enrichment, spot_classes
from latc.omics.spatial._tls import detect_tls, tls_score, tls_summary
from latc.stats import p_adjust

PROPORTION_TYPES = ["tumour", "fibroblast", "endothelial", "cd8_t", "cd4_t", "b_cell", "macrophage"]

FEATURE_DESCRIPTIONS: dict[str, str] = {
    "n_spots": "spots (or cells) on the slide",
    "deconvolution": "how proportions were estimated: poisson / nnls (single-cell reference) or markers",
    **{f"prop_{c}": f"mean {c} cell fraction over spots" for c in PROPORTION_TYPES},
    "tumour_spot_fraction": "share of spots in the tumour region (tumour fraction >= 0.5)",
    "cd8_density": "mean CD8 T fraction over all spots",
    "cd8_density_tumour": "mean CD8 T fraction over tumour spots",
    "cd8_density_stroma": "mean CD8 T fraction over non-tumour spots",
    "cd8_intratumoural_fraction": "share of tumour spots with CD8 signal (CD8 T fraction >= 0.1)",
    "cd8_margin_fraction": "share of non-tumour spots within 1.5 spacings of tumour with CD8 signal",
    "cd8_tumour_adjacent_fraction": "share of tumour-adjacent spots (tumour + margin) with CD8 signal",
    "cd8_distance_to_tumour_median": "median distance (spot spacings) from CD8-signal spots to the nearest tumour spot",
    "cd8_distance_to_tumour_mean": "mean distance (spot spacings) from CD8-signal spots to the nearest tumour spot",
    "cd8_infiltration_ratio": "intratumoural / (intratumoural + margin) CD8-signal fraction (1 infiltrated, 0 excluded)",
    "interface_edges": "spatial-graph edges joining tumour and non-tumour spots (tumour-stroma interface length)",
    "interface_immune_fraction": "share of interface edges whose non-tumour end is lymphocyte-rich (CD8+CD4+B >= 0.2)",
    "interface_cd8_fraction": "share of interface edges with CD8 signal on either end",
    "nhood_z_cd8_tumour": "squidpy neighbourhood-enrichment z-score, CD8-rich vs tumour spots",
    "nhood_z_cd8_stroma": "squidpy neighbourhood-enrichment z-score, CD8-rich vs stroma spots",
    "nhood_z_b_cd8": "squidpy neighbourhood-enrichment z-score, B-rich vs CD8-rich spots",
    "cooccurrence_cd8_tumour": "squidpy co-occurrence ratio p(CD8-rich | tumour spot within 1.5 spacings) / p(CD8-rich)",
    "tls_count": "TLS detected (components of >= 3 spots with TLS chemokine z >= 2, B >= 0.15, T >= 0.10)",
    "tls_area_spots": "spots inside detected TLS",
    "tls_area_mm2": "area of detected TLS (mm², hex spot area from the spot spacing)",
    "tls_density_per_mm2": "TLS per mm² of profiled tissue",
    "tls_score_mean": "mean TLS 12-chemokine score (log1p CP10k) over spots",
}
FEATURE_COLUMNS = list(FEATURE_DESCRIPTIONS)
NUMERIC_FEATURES = [c for c in FEATURE_COLUMNS if c not in ("deconvolution",)]


@dataclass
class SampleAnalysis:
    """One slide's intermediate results (the AnnData gains ``obsm["celltype_proportions"]``,
    ``obs["spot_class"]``, ``obs["tls_score"]``, ``obs["tls_id"]`` and squidpy's graph/results)."""

    adata: ad.AnnData
    proportions: pd.DataFrame
    nhood_z: pd.DataFrame
    co_occurrence: pd.DataFrame
    tls: pd.DataFrame
    features: dict


def analyse_sample(adata: ad.AnnData, *, reference: Reference | None = None, method: str = "poisson",
                   levels: pd.Series | None = None, n_perms: int = 1000, seed: int = 0) -> SampleAnalysis:
    """All spatial analyses of one slide (see the module docstring)."""
    if reference is not None:
        props = deconvolve(adata, reference, method=method)
        how = method
    else:
        props = marker_proportions(adata, levels=levels)
        how = "markers"
    missing = [c for c in ("tumour", "cd8_t", "cd4_t", "b_cell") if c not in props]
    if missing:
        raise OmicsInputError(f"spatial features need cell types {', '.join(missing)} in the reference / marker table")
    adata.obsm["celltype_proportions"] = props
    classes = spot_classes(props)
    z = neighbourhood_enrichment(adata, classes, n_perms=n_perms, seed=seed)
    co = co_occurrence(adata, "spot_class", distances=(1.5, 3.0, 5.0))
    xy = adata.obsm["spatial"]
    spacing_um = float(adata.uns.get("spot_distance_um", 100.0))
    score = tls_score(adata)
    label, tls = detect_tls(xy, props, score, spacing_um=spacing_um)
    adata.obs["tls_score"] = score.to_numpy()
    adata.obs["tls_id"] = label
    co1 = co[(co["a"] == "tumour") & (co["b"] == "cd8_t_rich") & (co["distance"] == 1.5)]["ratio"]
    f: dict = {"n_spots": float(adata.n_obs), "deconvolution": how}
    for c in PROPORTION_TYPES:
        f[f"prop_{c}"] = float(props[c].mean()) if c in props else float("nan")
    f.update(infiltration(xy, props))

    def zget(a: str, b: str) -> float:
        return float(z.loc[a, b]) if a in z.index and b in z.columns else float("nan")

    f["nhood_z_cd8_tumour"] = zget("cd8_t_rich", "tumour")
    f["nhood_z_cd8_stroma"] = zget("cd8_t_rich", "stroma")
    f["nhood_z_b_cd8"] = zget("b_cell_rich", "cd8_t_rich")
    f["cooccurrence_cd8_tumour"] = float(co1.iloc[0]) if len(co1) else float("nan")
    f.update(tls_summary(label, score, adata.n_obs, spacing_um=spacing_um))
    return SampleAnalysis(adata, props, z, co, tls, f)


@dataclass
class SpatialResult:
    """``features`` (one row per sample), ``nhood`` (tidy z-scores), ``tls`` (one row per TLS) and
    the per-sample analyses (for figures)."""

    features: pd.DataFrame
    nhood: pd.DataFrame
    tls: pd.DataFrame
    samples: dict[str, SampleAnalysis] = field(default_factory=dict, repr=False)


def spatial_features(samples: Mapping[str, ad.AnnData], *, reference: Reference | None = None,
                     method: str = "poisson", n_perms: int = 1000, seed: int = 0, keep: bool = True) -> SpatialResult:
    """Per-sample spatial features for every slide (``{sample_id: AnnData}`` with manifest keys in
    ``obs``, as :func:`read_spatial_samples` returns). Without ``reference``, marker-based
    proportions with marker levels computed on all slides pooled (so samples stay comparable)."""
    levels = None
    if reference is None and samples:
        pooled = ad.concat(list(samples.values()), join="inner")
        levels = marker_levels(pooled)
    rows, nh, tl, kept = [], [], [], {}
    for sid, a in samples.items():  # one analysis per slide
        r = analyse_sample(a, reference=reference, method=method, levels=levels, n_perms=n_perms, seed=seed)
        meta = {k: (str(a.obs[k].iloc[0]) if k in a.obs and a.n_obs else (sid if k == "sample_id" else pd.NA)) for k in SAMPLE_KEYS}
        meta["sample_id"] = sid
        rows.append({**meta, **r.features})
        zz = r.nhood_z.rename_axis(index="a", columns="b").stack(future_stack=True).rename("z").reset_index()
        nh.append(zz.assign(sample_id=sid))
        tl.append(r.tls.assign(sample_id=sid))
        if keep:
            kept[sid] = r
    feats = pd.DataFrame(rows, columns=SAMPLE_KEYS + FEATURE_COLUMNS)
    for c in SAMPLE_KEYS + ["deconvolution"]:
        feats[c] = feats[c].astype("str")
    nhood = pd.concat(nh, ignore_index=True)[["sample_id", "a", "b", "z"]] if nh else pd.DataFrame(columns=["sample_id", "a", "b", "z"])
    tls_cols = ["sample_id", "tls_id", "n_spots", "area_mm2", "x", "y", "score_z_mean", "b_cell_mean", "t_cell_mean"]
    tls = pd.concat([t for t in tl if len(t)], ignore_index=True)[tls_cols] if any(len(t) for t in tl) else pd.DataFrame(columns=tls_cols)
    return SpatialResult(feats, nhood, tls, kept)


# ------------------------------------------------------------------------------------------------
# association with endpoints
# ------------------------------------------------------------------------------------------------
RESPONSE_CANDIDATES = ["objective_response", "objective_response_latent", "mpr", "pcr",
                       "major_pathological_response", "pathological_complete_response"]
RFS_TIME_CANDIDATES = ["rfs_time_months", "rfs_months", "rfs_time", "rfs_time_days"]
RFS_EVENT_CANDIDATES = ["rfs_event"]
ASSOCIATION_COLUMNS = ["endpoint", "timepoint", "tissue", "feature", "test", "n", "n_positive", "effect_name",
                       "effect", "ci_low", "ci_high", "median_positive", "median_negative", "p_value", "q_value",
                       "significant", "note"]

_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f"}


def as_binary(s: pd.Series) -> pd.Series:
    """A response column as nullable boolean (bool, 0/1, yes/no, true/false; else missing)."""
    if pd.api.types.is_bool_dtype(s):
        return s.astype("boolean")
    if pd.api.types.is_numeric_dtype(s):
        v = pd.to_numeric(s, errors="coerce")
        return v.map({1: True, 0: False}).astype("boolean")
    t = s.astype("str").str.strip().str.lower()
    out = pd.Series(pd.NA, index=s.index, dtype="boolean")
    out[t.isin(_TRUE).fillna(False).to_numpy()] = True
    out[t.isin(_FALSE).fillna(False).to_numpy()] = False
    return out


def _per_patient(features: pd.DataFrame, cols: list[str]) -> pd.DataFrame:
    g = features.groupby(["patient_id", "timepoint", "tissue"], sort=True, observed=True)
    return g[cols].mean().reset_index()


def _bh(p: pd.Series) -> pd.Series:
    return p_adjust(p.astype(float), method="BH")


def associate(features: pd.DataFrame, subject: pd.DataFrame, *, responses: Sequence[str] | None = None,
              rfs: tuple[str, str] | None = None, feature_columns: Sequence[str] | None = None,
              fdr: float = 0.05, min_group: int = 3) -> pd.DataFrame:
    """Association of every feature with every endpoint, per timepoint and tissue (module docstring).

    Parameters
    ----------
    features : the per-sample table of :func:`spatial_features` (or any table with ``patient_id,
        timepoint, tissue`` and numeric feature columns).
    subject : one row per patient: ``patient_id`` + endpoint columns.
    responses : binary response columns; default those of :data:`RESPONSE_CANDIDATES` present.
    rfs : ``(time, event)`` columns; default the first of :data:`RFS_TIME_CANDIDATES` /
        ``rfs_event`` present.
    """
    if "patient_id" not in subject.columns:
        raise OmicsInputError("subject table has no patient_id column")
    if subject["patient_id"].duplicated().any():
        dup = subject.loc[subject["patient_id"].duplicated(), "patient_id"].iloc[0]
        raise OmicsInputError(f"subject table has more than one row for patient {dup}")
    feats = list(feature_columns) if feature_columns is not None else [c for c in NUMERIC_FEATURES if c in features]
    responses = list(responses) if responses is not None else [c for c in RESPONSE_CANDIDATES if c in subject]
    missing = [c for c in responses if c not in subject]
    if missing:
        raise OmicsInputError(f"subject table lacks response column(s) {', '.join(missing)}")
    if rfs is None:
        t = next((c for c in RFS_TIME_CANDIDATES if c in subject), None)
        e = next((c for c in RFS_EVENT_CANDIDATES if c in subject), None)
        rfs = (t, e) if t and e else None
    if not responses and rfs is None:
        raise OmicsInputError("subject table has no endpoint column (give responses=[...] or rfs=(time, event); "
                              f"looked for {', '.join(RESPONSE_CANDIDATES + RFS_TIME_CANDIDATES)})")
    pp = _per_patient(features, feats).merge(subject, on="patient_id", how="inner")
    rows: list[dict] = []
    for (tp, tissue), d in pp.groupby(["timepoint", "tissue"], sort=True):
        for ep in responses:
            y = as_binary(d[ep])
            for f in feats:
                x = pd.to_numeric(d[f], errors="coerce")
                ok = x.notna() & y.notna()
                xp, xn = x[ok & y.fillna(False)], x[ok & ~y.fillna(True)]
                row = {"endpoint": ep, "timepoint": tp, "tissue": tissue, "feature": f, "test": "mann_whitney_u",
                       "n": int(ok.sum()), "n_positive": int(len(xp)), "effect_name": "auc",
                       "median_positive": float(xp.median()) if len(xp) else np.nan,
                       "median_negative": float(xn.median()) if len(xn) else np.nan}
                if len(xp) < min_group or len(xn) < min_group:
                    row["note"] = f"fewer than {min_group} samples in a group"
                elif x[ok].nunique() < 2:
                    row["note"] = "constant feature"
                else:
                    u, p = mannwhitneyu(xp, xn, alternative="two-sided")
                    row.update(effect=float(u) / (len(xp) * len(xn)), p_value=float(p))
                rows.append(row)
        if rfs is not None:
            rows.extend(_cox_rows(d, feats, rfs, tp, tissue, min_group))
    out = pd.DataFrame(rows, columns=ASSOCIATION_COLUMNS)
    out["q_value"] = _bh(out["p_value"])
    out["significant"] = (out["q_value"] < fdr).fillna(False).astype(bool)
    return out


def _cox_rows(d: pd.DataFrame, feats: list[str], rfs: tuple[str, str], tp, tissue, min_group: int) -> list[dict]:
    from latc.stats import StatsInputError, cox

    tcol, ecol = rfs
    rows = []
    for f in feats:
        x = pd.to_numeric(d[f], errors="coerce")
        t = pd.to_numeric(d[tcol], errors="coerce")
        e = pd.to_numeric(d[ecol], errors="coerce")
        ok = x.notna() & t.notna() & e.notna()
        row = {"endpoint": f"rfs ({tcol}, {ecol})", "timepoint": tp, "tissue": tissue, "feature": f, "test": "cox_wald",
               "n": int(ok.sum()), "n_positive": int(e[ok].sum()), "effect_name": "hr_per_sd"}
        sd = x[ok].std()
        if int(e[ok].sum()) < min_group:
            row["note"] = f"fewer than {min_group} events"
        elif not sd > 0:
            row["note"] = "constant feature"
        else:
            frame = pd.DataFrame({"time": t[ok].to_numpy(float), "event": e[ok].to_numpy(int), "z": ((x[ok] - x[ok].mean()) / sd).to_numpy()})
            try:
                fit = cox(frame, "time", "event", ["z"])
                s = fit.summary.iloc[0]
                row.update(effect=float(s["exp_coef"]), ci_low=float(s["lower"]), ci_high=float(s["upper"]),
                           p_value=float(s["p"]))
            except StatsInputError as exc:
                row["note"] = str(exc)
        rows.append(row)
    return rows
