"""Per-sample spatial features and their association with response and recurrence-free survival.

:func:`spatial_features` runs, per sample, deconvolution → spot classes → neighbourhood enrichment
and co-occurrence → infiltration → TLS, and returns one row per sample (the sample keys of the
manifest + :data:`FEATURE_DESCRIPTIONS` columns), joinable to ``subject`` on ``patient_id``.

:func:`associate` (the shared omics association, :mod:`latc.omics._associate`, with the spatial
features as default) tests each feature against each endpoint **within a timepoint** (one value per
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
import pandas as pd

from latc.omics._associate import (ASSOCIATION_COLUMNS, RESPONSE_CANDIDATES, RFS_EVENT_CANDIDATES,  # noqa: F401
                                   RFS_TIME_CANDIDATES, as_binary)
from latc.omics._associate import associate as _associate
from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError
from latc.omics.spatial._deconvolution import Reference, deconvolve, marker_levels, marker_proportions
from latc.omics.spatial._infiltration import infiltration
from latc.omics.spatial._neighbourhood import co_occurrence, neighbourhood_enrichment, spot_classes
from latc.omics.spatial._tls import detect_tls, tls_score, tls_summary

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
# association with endpoints: the shared omics test battery (latc.omics._associate), with the
# spatial features as the default feature columns
# ------------------------------------------------------------------------------------------------
def associate(features: pd.DataFrame, subject: pd.DataFrame, *, responses: Sequence[str] | None = None,
              rfs: tuple[str, str] | None = None, feature_columns: Sequence[str] | None = None,
              fdr: float = 0.05, min_group: int = 3) -> pd.DataFrame:
    """Association of every spatial feature with every endpoint, per timepoint and tissue: the
    shared omics association (:func:`latc.omics._associate.associate` — Mann–Whitney U / AUC for a
    binary response, Cox hazard ratio per SD for RFS, BH-FDR over the table; module docstring).

    Parameters
    ----------
    features : the per-sample table of :func:`spatial_features` (or any table with ``patient_id,
        timepoint, tissue`` and numeric feature columns).
    subject : one row per patient: ``patient_id`` + endpoint columns.
    responses : binary response columns; default those of :data:`RESPONSE_CANDIDATES` present.
    rfs : ``(time, event)`` columns; default the first of :data:`RFS_TIME_CANDIDATES` /
        ``rfs_event`` present.
    feature_columns : default the numeric :data:`FEATURE_DESCRIPTIONS` columns present.
    """
    if feature_columns is None:
        feature_columns = [c for c in NUMERIC_FEATURES if c in features]
    return _associate(features, subject, responses=responses, rfs=rfs, feature_columns=feature_columns, fdr=fdr,
                      min_group=min_group)
