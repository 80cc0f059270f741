"""Thyroid-specific and immune scores of bulk RNA-seq samples.

Sources (gene lists shipped in ``latc/omics/resources``, see its README):

* **Thyroid Differentiation Score (TDS)** — Cancer Genome Atlas Research Network, *Cell*
  2014;159:676 (TCGA THCA): 16 thyroid metabolism and function genes. TCGA scored a tumour as the
  mean log2 fold change of the 16 genes against the median of normal thyroid samples; without
  normal tissue we use the cohort-relative analogue (mean of per-gene z-scores).
* **BRAF^V600E–RAS score (BRS)** — same paper: 71 genes; centroids of BRAF^V600E-mutant and
  RAS-mutant tumours; a sample's score is its normalised squared Euclidean distance to the BRAF
  centroid minus that to the RAS centroid (−1 … 1; < 0 BRAF-like, > 0 RAS-like).
* **ERK activation score** — same paper, from the 52 MEK-inhibitor-responsive genes of Pratilas
  et al., *PNAS* 2009;106:4519: per-gene z-scores of log2 expression, summed over the 48 genes
  that fall with MEK inhibition minus the 4 that rise.
* **Immune cell-type scores** — Danaher et al., *J Immunother Cancer* 2017;5:18 (Table 1) marker
  genes, plus CYT (Rooney 2015), IFN-γ 6-gene (Ayers 2017), 12-chemokine TLS (Coppola 2011 /
  Messina 2012) and T-cell exhaustion sets, scored with decoupler (ULM / weighted aggregate / MLM)
  on the shipped network — never a downloaded resource.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError

_RES = "latc.omics.resources"


@cache
def _read(name: str) -> pd.DataFrame:
    with resources.files(_RES).joinpath(name).open("r", encoding="utf-8") as fh:
        return pd.read_csv(fh, dtype=str, keep_default_na=False)


def thyroid_score_genes(score: str) -> pd.DataFrame:
    """The shipped gene list of ``"TDS"``, ``"BRS"`` or ``"ERK"``: columns ``gene``,
    ``previous_symbol`` (the symbol used by TCGA 2014 / Pratilas 2009 where renamed since),
    ``erk_set`` (A: falls with MEK inhibition, B: rises) and ``weight`` (+1 / −1)."""
    t = _read("thyroid_scores.csv")
    t = t[t["score"] == score.upper()]
    if t.empty:
        raise ValueError(f"unknown thyroid score {score!r}; expected TDS, BRS or ERK")
    out = t.drop(columns="score").reset_index(drop=True)
    out["weight"] = out["weight"].astype(float)
    return out


def immune_gene_sets(collection: str | None = None) -> pd.DataFrame:
    """The shipped immune gene sets as a decoupler network: ``collection, source, target, weight,
    reference`` (``collection`` ``danaher2017`` for cell types, ``signature`` for CYT, IFNG_6,
    TLS_12_chemokine, T_cell_exhaustion)."""
    t = _read("immune_gene_sets.csv").copy()
    t["weight"] = t["weight"].astype(float)
    return t if collection is None else t[t["collection"] == collection].reset_index(drop=True)


def size_factors(counts: np.ndarray) -> np.ndarray:
    """DESeq2 median-of-ratios size factors (Anders & Huber 2010) of a samples × genes matrix,
    over genes expressed in every sample."""
    counts = np.asarray(counts, dtype=float)
    expressed = (counts > 0).all(axis=0)
    if expressed.sum() == 0:
        raise OmicsInputError("no gene is expressed in every sample: size factors are undefined")
    logc = np.log(counts[:, expressed])
    sf = np.exp(np.median(logc - logc.mean(axis=0), axis=1))
    return sf


def normalized_log2(adata_or_counts, layer: str = "counts") -> pd.DataFrame:
    """log2(median-of-ratios normalised counts + 1), samples × genes, as TCGA/Loberg scored on
    DESeq2-normalised expression."""
    if isinstance(adata_or_counts, pd.DataFrame):
        counts, index, cols = adata_or_counts.to_numpy(float), adata_or_counts.index, adata_or_counts.columns
    else:
        a = adata_or_counts
        X = a.layers[layer] if layer in a.layers else a.X
        counts = X.toarray() if hasattr(X, "toarray") else np.asarray(X, dtype=float)
        index, cols = a.obs_names, a.var_names
    sf = size_factors(counts)
    return pd.DataFrame(np.log2(counts / sf[:, None] + 1.0), index=index, columns=cols)


def _present(logexpr: pd.DataFrame, genes: pd.Series, score: str, min_genes: int) -> list[str]:
    have = [g for g in genes if g in logexpr.columns]
    if len(have) < min_genes:
        raise OmicsInputError(f"{score}: only {len(have)} of {len(genes)} genes are in the data (need ≥ {min_genes})")
    return have


def _zscore(x: pd.DataFrame) -> pd.DataFrame:
    sd = x.std(axis=0, ddof=1).replace(0.0, np.nan)
    return (x - x.mean(axis=0)) / sd


def thyroid_differentiation_score(logexpr: pd.DataFrame, normal: pd.Series | np.ndarray | None = None,
                                  *, min_genes: int = 12) -> pd.Series:
    """TDS per sample from log2 expression (samples × genes).

    With ``normal`` (boolean mask of normal-thyroid samples) this is the TCGA 2014 definition:
    the mean over the 16 genes of log2 expression minus the gene's median in normal thyroid.
    Without normal tissue it is the cohort-relative mean of per-gene z-scores (higher = more
    differentiated; comparable only within one cohort).
    """
    genes = _present(logexpr, thyroid_score_genes("TDS")["gene"], "TDS", min_genes)
    x = logexpr[genes]
    if normal is not None:
        mask = np.asarray(normal, dtype=bool)
        if mask.sum() == 0:
            raise OmicsInputError("TDS: the normal-thyroid reference has no samples")
        rel = x - x[mask].median(axis=0)
    else:
        rel = _zscore(x)
    return rel.mean(axis=1, skipna=True).rename("tds")


def normalized_squared_distance(x: np.ndarray, c: np.ndarray) -> np.ndarray:
    """TCGA 2014 normalised squared Euclidean distance between each row of ``x`` and centroid ``c``:
    Σ((x−x̄) − (c−c̄))² / (2·(Σ(x−x̄)² + Σ(c−c̄)²)), in [0, 1] (0: same shape, 0.5: unrelated,
    1: opposite); equal to (1 − Pearson r)/2 when both vectors have equal variance."""
    xc = x - x.mean(axis=1, keepdims=True)
    cc = c - c.mean()
    num = ((xc - cc) ** 2).sum(axis=1)
    den = 2.0 * ((xc ** 2).sum(axis=1) + (cc ** 2).sum())
    return num / den


def brs_centroids(logexpr: pd.DataFrame, braf_mutant, ras_mutant, *, min_genes: int = 50) -> pd.DataFrame:
    """BRAF^V600E and RAS centroids (genes × {braf, ras}): the gene-wise median of cohort z-scores
    over the mutation-defined reference samples, as TCGA 2014 (and Loberg's re-implementation)
    describe. TCGA built them from non-metastatic mutation-defined PTCs; pass masks selecting such
    samples (and never the sample being scored in a validation cohort)."""
    braf, ras = np.asarray(braf_mutant, bool), np.asarray(ras_mutant, bool)
    if braf.sum() < 3 or ras.sum() < 3:
        raise OmicsInputError(f"BRS: centroids need ≥ 3 BRAF-mutant and ≥ 3 RAS-mutant reference samples "
                              f"(have {int(braf.sum())} and {int(ras.sum())})")
    if (braf & ras).any():
        raise OmicsInputError("BRS: a reference sample is flagged both BRAF- and RAS-mutant")
    genes = _present(logexpr, thyroid_score_genes("BRS")["gene"], "BRS", min_genes)
    z = _zscore(logexpr[genes]).dropna(axis=1, how="all")
    return pd.DataFrame({"braf": z[braf].median(axis=0), "ras": z[ras].median(axis=0)})


def braf_ras_score(logexpr: pd.DataFrame, centroids: pd.DataFrame | None = None, *, braf_mutant=None,
                   ras_mutant=None, min_genes: int = 50) -> pd.Series:
    """BRS per sample: d(sample, BRAF centroid) − d(sample, RAS centroid) on cohort z-scores.

    Give ``centroids`` (genes × {braf, ras}, e.g. a versioned artefact from a reference cohort) or
    ``braf_mutant`` / ``ras_mutant`` masks to derive them from this cohort (:func:`brs_centroids`).
    """
    if centroids is None:
        if braf_mutant is None or ras_mutant is None:
            raise OmicsInputError("BRS: give centroids or both braf_mutant and ras_mutant reference masks")
        centroids = brs_centroids(logexpr, braf_mutant, ras_mutant, min_genes=min_genes)
    genes = [g for g in centroids.index if g in logexpr.columns]
    if len(genes) < min_genes:
        raise OmicsInputError(f"BRS: only {len(genes)} centroid genes are in the data (need ≥ {min_genes})")
    z = _zscore(logexpr[genes]).fillna(0.0).to_numpy()
    c = centroids.loc[genes]
    score = normalized_squared_distance(z, c["braf"].to_numpy()) - normalized_squared_distance(z, c["ras"].to_numpy())
    return pd.Series(score, index=logexpr.index, name="brs")


def erk_activation_score(logexpr: pd.DataFrame, *, min_genes: int = 40) -> pd.Series:
    """ERK activation score: Σ z(set A) − Σ z(set B) over the 52 Pratilas 2009 genes (TCGA 2014),
    z-scores of log2 expression over the cohort. Genes absent from the data are skipped (the sum
    then spans fewer genes; ``min_genes`` guards against a meaningless score)."""
    g = thyroid_score_genes("ERK")
    genes = _present(logexpr, g["gene"], "ERK", min_genes)
    w = g.set_index("gene").loc[genes, "weight"].to_numpy()
    z = _zscore(logexpr[genes]).fillna(0.0)
    return pd.Series(z.to_numpy() @ w, index=logexpr.index, name="erk")


def immune_scores(logexpr: pd.DataFrame, *, method: str = "ulm", collection: str | None = None,
                  tmin: int = 1, times: int = 0) -> pd.DataFrame:
    """Immune cell-type / signature activity per sample with decoupler on the shipped network.

    ``method`` is ``ulm`` (univariate linear model t-value), ``waggr`` (weighted mean; ``wsum`` the
    weighted sum, decoupler 1's name) or ``mlm`` (multivariate linear model). ``times`` > 0 adds
    decoupler's permutation normalisation to waggr/wsum (slow; off by default). Expression is z-scored per gene over
    the cohort first, so a score says how much the set is above its cohort average relative to the
    other genes of the sample. Columns are the gene sets (``danaher2017`` cell types and signatures).
    """
    import decoupler as dc

    methods = {"ulm": dc.mt.ulm, "waggr": dc.mt.waggr, "wsum": dc.mt.waggr, "mlm": dc.mt.mlm}
    if method not in methods:
        raise ValueError(f"unknown method {method!r}; expected one of {', '.join(methods)}")
    net = immune_gene_sets(collection)[["source", "target", "weight"]]
    if method == "mlm":
        net = net[net["source"] != "CD45"]  # a single gene shared with no set is collinear with nothing useful
    z = _zscore(logexpr).dropna(axis=1)
    kw = {"times": times, "fun": "wsum" if method == "wsum" else "wmean"} if method in ("waggr", "wsum") else {}
    res = methods[method](z, net, tmin=tmin, **kw)
    es = res[0] if isinstance(res, tuple) else res
    return es.add_prefix("immune_")


def bulk_scores(logexpr: pd.DataFrame, *, braf_mutant=None, ras_mutant=None, brs_centroids_: pd.DataFrame | None = None,
                immune_method: str = "ulm") -> pd.DataFrame:
    """All per-sample scores (one row per sample): ``tds``, ``erk``, ``brs`` (when centroids or
    reference masks are available) and ``immune_*``."""
    parts = [thyroid_differentiation_score(logexpr), erk_activation_score(logexpr)]
    if brs_centroids_ is not None or (braf_mutant is not None and ras_mutant is not None):
        parts.append(braf_ras_score(logexpr, brs_centroids_, braf_mutant=braf_mutant, ras_mutant=ras_mutant))
    parts.append(immune_scores(logexpr, method=immune_method))
    return pd.concat(parts, axis=1)
