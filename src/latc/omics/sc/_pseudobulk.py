"""Pseudobulk differential expression per cell type (pydeseq2), patient as blocking factor.

Counts are summed per sample × cell type (``sc.get.aggregate(func="sum")`` on ``layers["counts"]``)
and tested with DESeq2's negative-binomial GLM (Love et al., *Genome Biol* 2014;15:550; the Python
port pydeseq2, Muzellec et al., *Bioinformatics* 2023;39:btad547). Pseudobulk keeps the sample as
the unit of replication; cell-level tests inflate false discoveries (Squair et al., *Nat Commun*
2021;12:5692; Crowell et al., *Nat Commun* 2020;11:6077).

Designs:

* ``"paired"``: ``~ patient_id + timepoint`` on patients with both timepoints — the treatment
  effect within patient (patient as a blocking factor, as DESeq2's paired design);
* ``"response"``: ``~ response`` at one timepoint (one sample per patient).

Filters (edgeR ``filterByExpr`` spirit, Chen et al. 2016): a pseudobulk profile needs ≥
``min_cells`` cells; a gene needs ≥ ``min_counts`` counts in ≥ ``min_samples_expressed`` profiles
(default: the smaller group's size). Results: pydeseq2's Wald test with its independent filtering
and BH-adjusted ``padj``.

**Dispersion trend, one fit per cell type** (``dispersion_fit`` in the results and in
:func:`pseudobulk_de_many`'s fit table). DESeq2 shrinks each gene's dispersion towards a trend
``α(μ) = a₀ + a₁/μ`` fitted over the genes (Love et al. 2014). Each cell type gets its own fit —
dispersions differ between cell types — with three documented exits:

* ``parametric``: the type's own parametric trend (DESeq2's default ``fitType="parametric"``);
* ``mean_fallback``: the parametric trend did not converge (typically ``a₁`` → 0, no mean
  dependence) and pydeseq2 used the mean of the gene-wise dispersions instead (its documented
  fallback; R's DESeq2 substitutes a local fit). The warning pydeseq2 raises is kept in the fit
  record (``fit_warnings``), not printed;
* ``shared_parametric`` / ``shared_mean``: *thin* data — residual degrees of freedom ≤
  ``thin_df`` (3: the point below which DESeq2 and pydeseq2 warn that the log-dispersion prior is
  poorly estimated) or fewer than ``min_trend_genes`` (200) genes passing the filter, too few to
  draw a curve through. Such a type borrows the trend fitted on the pooled gene-wise dispersions
  of the *other* cell types of the same contrast (same tissue and design), and keeps its own
  gene-wise estimates, prior width and MAP shrinkage. This is DESeq2's documented route for a
  custom trend: "replace fitted values with a custom fit and continue with the maximum a
  posteriori dispersion estimation" (DESeq2 manual, ``estimateDispersionsGeneEst`` /
  ``dispersionFunction<-``); in pydeseq2 the same steps are ``fit_genewise_dispersions`` →
  (trend set) → ``fit_dispersion_prior`` → ``fit_MAP_dispersions`` → ``fit_LFC`` → Cook's
  distances and refit, exactly as ``DeseqDataSet.deseq2()`` runs them. The pooled trend is fitted
  with pydeseq2's own gamma-family GLM (``DefaultInference.dispersion_trend_gamma_glm``) and its
  outlier-trimming loop; when it does not converge, the pooled mean is used (``shared_mean``).
  Without another type to borrow from, the thin type is fitted alone and the record says so.

**Parallel**: the fits are independent, so :func:`pseudobulk_de_many` runs them in worker
processes (joblib/loky; ``n_jobs``, default the CPU count) — first the types with their own
trend, then the thin ones with the pooled trend. Every fit runs with one BLAS thread
(threadpoolctl) in the parent and in the workers alike, so the results are identical to a serial
run (tested).
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scipy import sparse

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError

__all__ = ["DISPERSION_FITS", "FIT_COLUMNS", "DeSpec", "pseudobulk", "pseudobulk_de", "pseudobulk_de_many"]

#: values of ``dispersion_fit`` (module docstring)
DISPERSION_FITS = ("parametric", "mean_fallback", "shared_parametric", "shared_mean")

#: columns of the fit table (one row per fitted cell type × contrast)
FIT_COLUMNS = ["cell_type", "tissue", "contrast", "n_samples", "n_genes", "residual_df", "thin", "dispersion_fit",
               "trend_a0", "trend_a1", "trend_mean", "n_trend_genes", "fit_warnings", "seconds"]

THIN_DF = 3
MIN_TREND_GENES = 200


def pseudobulk(adata: AnnData, *, cell_type: str = "cell_type", layer: str = "counts") -> AnnData:
    """Summed counts per sample × cell type: an AnnData (obs = sample keys + ``cell_type`` +
    ``n_cells``; X = summed counts, dense float)."""
    if layer not in adata.layers:
        raise OmicsInputError(f"pseudobulk needs raw counts in layers[{layer!r}]; the data were given "
                              "already normalised")
    keys = [k for k in SAMPLE_KEYS if k in adata.obs]
    pb = sc.get.aggregate(adata, by=["sample_id", cell_type], func="sum", layer=layer)
    X = pb.layers["sum"]
    pb.X = X.toarray() if sparse.issparse(X) else np.asarray(X)
    del pb.layers["sum"]
    n = adata.obs.groupby(["sample_id", cell_type], observed=True).size()
    o = pb.obs.copy()
    o["n_cells"] = [int(n.get((s, c), 0)) for s, c in zip(o["sample_id"].astype(str), o[cell_type].astype(str))]
    meta = adata.obs[keys].astype(str).drop_duplicates("sample_id").set_index("sample_id")
    for k in keys[1:]:
        o[k] = o["sample_id"].astype(str).map(meta[k])
    o = o.rename(columns={cell_type: "cell_type"})
    o["sample_id"] = o["sample_id"].astype(str)
    o["cell_type"] = o["cell_type"].astype(str)
    o.index = pd.Index(o["sample_id"] + "|" + o["cell_type"])
    pb.obs = o
    pb = pb[pb.obs["n_cells"].to_numpy() > 0].copy()
    return pb


@dataclass
class DeSpec:
    """One pseudobulk DE fit to run: :func:`pseudobulk_de`'s arguments for one cell type."""

    cell_type: str
    design: str = "paired"
    tissue: str | None = "tumour"
    pre: str = "baseline"
    post: str = "surgery"
    response: pd.Series | None = None
    timepoint: str = "baseline"
    min_cells: int = 10
    min_counts: int = 10
    min_samples_expressed: int | None = None
    min_per_group: int = 3


@dataclass
class _Task:
    counts: pd.DataFrame
    meta: pd.DataFrame
    formula: str
    contrast: list[str]
    label: str
    spec: DeSpec
    residual_df: int
    thin: str = ""                                   # why the data are thin ("" = not thin)
    shared: dict | None = None                       # the pooled trend for a thin type
    group: tuple = field(default_factory=tuple)      # fits that may share a trend


def _prepare(pb: AnnData, s: DeSpec) -> _Task:
    """Counts, design and contrast of one fit; raises :class:`OmicsInputError` when too few samples
    or genes remain (the skip reasons of the run)."""
    o = pb.obs
    sel = (o["cell_type"] == s.cell_type).to_numpy() & (o["n_cells"] >= s.min_cells).to_numpy()
    if s.tissue is not None:
        sel &= (o["tissue"] == s.tissue).to_numpy()
    sub = pb[sel]
    meta = sub.obs[["sample_id", "patient_id", "timepoint"]].copy()
    if s.design == "paired":
        meta = meta[meta["timepoint"].isin([s.pre, s.post])]
        has = meta.groupby("patient_id")["timepoint"].nunique()
        meta = meta[meta["patient_id"].isin(has.index[has == 2])]
        meta = meta.drop_duplicates(["patient_id", "timepoint"])
        meta["timepoint"] = pd.Categorical(meta["timepoint"], categories=[s.pre, s.post])
        meta["patient_id"] = meta["patient_id"].astype(str)
        formula, contrast = "~ patient_id + timepoint", ["timepoint", s.post, s.pre]
        n_small = meta["patient_id"].nunique()
        n_coef = n_small + 1
        label = f"{s.post} vs {s.pre} (~ patient_id + timepoint)"
    elif s.design == "response":
        if s.response is None:
            raise ValueError("design='response' needs response (boolean Series by patient_id)")
        meta = meta[meta["timepoint"] == s.timepoint].drop_duplicates("patient_id")
        r = s.response.dropna().astype(bool)
        meta = meta[meta["patient_id"].isin(r.index)]
        meta["response"] = np.where(r.reindex(meta["patient_id"]).to_numpy(), "responder", "non_responder")
        formula, contrast = "~ response", ["response", "responder", "non_responder"]
        n_small = int(meta["response"].value_counts().reindex(["responder", "non_responder"], fill_value=0).min())
        n_coef = 2
        label = f"responder vs non-responder at {s.timepoint} (~ response)"
    else:
        raise ValueError("design must be 'paired' or 'response'")
    if n_small < s.min_per_group:
        raise OmicsInputError(f"pseudobulk DE for {s.cell_type} ({s.tissue}, {s.design}) needs at least "
                              f"{s.min_per_group} patients per level with ≥ {s.min_cells} cells; found {n_small}")
    X = pd.DataFrame(np.rint(sub[meta.index.to_numpy()].X).astype(np.int64), index=meta["sample_id"].to_numpy(),
                     columns=sub.var_names)
    meta = meta.set_index("sample_id")
    k = s.min_samples_expressed if s.min_samples_expressed is not None else max(n_small, 2)
    X = X.loc[:, (X >= s.min_counts).sum(axis=0) >= k]
    if X.shape[1] == 0:
        raise OmicsInputError(f"pseudobulk DE for {s.cell_type}: no gene passes the expression filter")
    return _Task(counts=X, meta=meta, formula=formula, contrast=contrast, label=label, spec=s,
                 residual_df=len(meta) - n_coef, group=(s.tissue, s.design, label))


def _thin_reason(t: _Task, thin_df: int, min_trend_genes: int) -> str:
    why = []
    if t.residual_df <= thin_df:
        why.append(f"residual df {t.residual_df} ≤ {thin_df}")
    if t.counts.shape[1] < min_trend_genes:
        why.append(f"{t.counts.shape[1]} genes < {min_trend_genes}")
    return "; ".join(why)


def _trend_points(dds) -> pd.DataFrame:
    """Gene-wise dispersions and normalised means a trend is fitted on (pydeseq2's selection:
    non-zero genes with a finite 1/mean)."""
    v = dds.var.loc[dds.non_zero_genes, ["_normed_means", "genewise_dispersions"]]
    v = v[np.isfinite(1 / v["_normed_means"]) & np.isfinite(v["genewise_dispersions"])]
    return v.rename(columns={"_normed_means": "mean", "genewise_dispersions": "dispersion"}).reset_index(drop=True)


def _pooled_trend(points: pd.DataFrame, min_disp: float = 1e-8) -> dict:
    """The parametric trend a₀ + a₁/μ on pooled points with pydeseq2's gamma GLM and its loop
    (refit without genes whose dispersion is < 10⁻⁴ or ≥ 15 × the curve, until the coefficients
    settle); the trimmed mean of the dispersions above 10 × ``min_disp`` when it does not converge
    (pydeseq2's ``_fit_parametric_dispersion_trend`` / ``_fit_mean_dispersion_trend`` on the pooled
    points)."""
    from pydeseq2.default_inference import DefaultInference
    from scipy.stats import trim_mean

    inf = DefaultInference(n_cpus=1)
    cov = pd.Series(1 / points["mean"].to_numpy())
    tgt = pd.Series(points["dispersion"].to_numpy())
    old, coeffs = np.array([0.1, 0.1]), np.array([1.0, 1.0])
    ok = True
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        while (coeffs > 1e-10).all() and (np.log(np.abs(coeffs / old)) ** 2).sum() >= 1e-6:
            old = coeffs
            coeffs, pred, converged = inf.dispersion_trend_gamma_glm(cov, tgt)
            coeffs = np.asarray(coeffs, dtype=float)
            if not converged or (coeffs <= 1e-10).any():
                ok = False
                break
            ratio = tgt.to_numpy() / np.asarray(pred)
            keep = (ratio >= 1e-4) & (ratio < 15)
            cov, tgt = cov[keep].reset_index(drop=True), tgt[keep].reset_index(drop=True)
    if ok:
        return {"kind": "parametric", "a0": float(coeffs[0]), "a1": float(coeffs[1]), "n_genes": len(points)}
    d = points["dispersion"].to_numpy()
    return {"kind": "mean", "mean": float(trim_mean(d[d > 10 * min_disp], proportiontocut=0.001)),
            "n_genes": len(points)}


def _set_trend(dds, trend: dict) -> None:
    """Put a given trend on a DeseqDataSet in place of ``fit_dispersion_trend`` (what DESeq2's
    ``dispersionFunction(dds) <- f`` does)."""
    if trend["kind"] == "parametric":
        dds.uns["trend_coeffs"] = pd.Series([trend["a0"], trend["a1"]], index=["a0", "a1"])
        dds.uns["disp_function_type"] = "parametric"
    else:
        dds.uns["mean_disp"] = trend["mean"]
        dds.uns["disp_function_type"] = "mean"
    dds.var["fitted_dispersions"] = np.full(dds.n_vars, np.nan)
    nz = dds.var["non_zero"].to_numpy()
    dds.var.loc[nz, "fitted_dispersions"] = dds.disp_function(dds.var.loc[nz, "_normed_means"])


def _warning_text(caught) -> str:
    """Distinct warnings of a fit (library deprecation notices left out), with counts."""
    n: dict[str, int] = {}
    for w in caught:
        if issubclass(w.category, (DeprecationWarning, PendingDeprecationWarning, FutureWarning)):
            continue
        msg = " ".join(str(w.message).split())
        n[msg] = n.get(msg, 0) + 1
    return "; ".join(f"{m} (×{k})" if k > 1 else m for m, k in n.items())


def _fit(t: _Task) -> tuple[pd.DataFrame, dict, pd.DataFrame | None]:
    """One DESeq2 fit (worker function): results, the fit record, and the trend points of an
    own-trend fit (None for a shared one)."""
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats
    from threadpoolctl import threadpool_limits

    t0 = time.perf_counter()
    with threadpool_limits(limits=1), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        inf = DefaultInference(n_cpus=1)
        dds = DeseqDataSet(counts=t.counts, metadata=t.meta, design=t.formula, refit_cooks=True, inference=inf,
                           quiet=True)
        points = None
        if t.shared is None:
            dds.deseq2()
            fell_back = any("trend curve fitting did not converge" in str(w.message) for w in caught)
            kind = "mean_fallback" if dds.uns["disp_function_type"] == "mean" and fell_back else \
                dds.uns["disp_function_type"]
            points = _trend_points(dds)
        else:                       # DeseqDataSet.deseq2() with the trend replaced by the pooled one
            dds.fit_size_factors(fit_type=dds.size_factors_fit_type, control_genes=dds.control_genes)
            dds.fit_genewise_dispersions()
            _set_trend(dds, t.shared)
            dds.fit_dispersion_prior()
            dds.fit_MAP_dispersions()
            dds.fit_LFC()
            dds.calculate_cooks()
            if dds.refit_cooks:
                dds.refit()
            dds.cooks_outlier()
            kind = f"shared_{t.shared['kind']}"
        st = DeseqStats(dds, contrast=t.contrast, inference=inf, quiet=True)
        st.summary()
        res = st.results_df.copy()
    res.index.name = "gene"
    res = res.reset_index()
    s = t.spec
    res.insert(0, "cell_type", s.cell_type)
    res["tissue"], res["contrast"], res["n_samples"] = s.tissue, t.label, len(t.meta)
    res["dispersion_fit"] = kind
    res = res.sort_values("pvalue", na_position="last").reset_index(drop=True)
    coeffs = dds.uns.get("trend_coeffs") if dds.uns["disp_function_type"] == "parametric" else None
    note = _warning_text(caught)
    if t.thin:
        note = "; ".join(x for x in (f"thin ({t.thin})" + ("" if t.shared else ": no other cell type of this "
                                                            "contrast to share a trend with, fitted alone"), note) if x)
    rec = {"cell_type": s.cell_type, "tissue": s.tissue, "contrast": t.label, "n_samples": len(t.meta),
           "n_genes": int(t.counts.shape[1]), "residual_df": int(t.residual_df), "thin": bool(t.thin),
           "dispersion_fit": kind,
           "trend_a0": float(coeffs["a0"]) if coeffs is not None else np.nan,
           "trend_a1": float(coeffs["a1"]) if coeffs is not None else np.nan,
           "trend_mean": float(dds.uns["mean_disp"]) if dds.uns["disp_function_type"] == "mean" else np.nan,
           "n_trend_genes": int(t.shared["n_genes"]) if t.shared else int(len(points) if points is not None else 0),
           "fit_warnings": note, "seconds": round(time.perf_counter() - t0, 2)}
    return res, rec, points


def _run_all(tasks: list[_Task], n_jobs: int) -> list:
    if n_jobs <= 1 or len(tasks) <= 1:
        return [_fit(t) for t in tasks]
    from joblib import Parallel, delayed

    return Parallel(n_jobs=min(n_jobs, len(tasks)), backend="loky")(delayed(_fit)(t) for t in tasks)


def pseudobulk_de_many(pb: AnnData, specs: list[DeSpec], *, n_jobs: int | None = None, thin_df: int = THIN_DF,
                       min_trend_genes: int = MIN_TREND_GENES) -> tuple[list[pd.DataFrame | None], pd.DataFrame,
                                                                            list[OmicsInputError | None]]:
    """Run several pseudobulk DE fits (one per :class:`DeSpec`), in parallel, with the thin-data
    rule of the module docstring. Returns, in the order of ``specs``: the result tables (None where
    the fit was not possible), the fit table (:data:`FIT_COLUMNS`, one row per fit made) and the
    :class:`OmicsInputError` of each spec that could not be fitted (None where it was).

    ``n_jobs``: worker processes (default: the CPU count; 1 = in this process). Results do not
    depend on it."""
    n_jobs = int(n_jobs if n_jobs is not None else (os.cpu_count() or 1))
    tasks: dict[int, _Task] = {}
    errors: list[OmicsInputError | None] = []
    for i, s in enumerate(specs):
        try:
            task = _prepare(pb, s)
            task.thin = _thin_reason(task, thin_df, min_trend_genes)
            tasks[i] = task
            errors.append(None)
        except OmicsInputError as exc:
            errors.append(exc)
    own = [i for i, task in tasks.items() if not task.thin]
    out: dict[int, tuple] = dict(zip(own, _run_all([tasks[i] for i in own], n_jobs)))
    thin = [i for i, task in tasks.items() if task.thin]
    for i in thin:
        donors = [out[j][2] for j in own if tasks[j].group == tasks[i].group and out[j][2] is not None]
        if donors:
            tasks[i].shared = _pooled_trend(pd.concat(donors, ignore_index=True))
    out.update(zip(thin, _run_all([tasks[i] for i in thin], n_jobs)))
    results = [out[i][0] if i in out else None for i in range(len(specs))]
    fits = pd.DataFrame([out[i][1] for i in sorted(out)], columns=FIT_COLUMNS)
    return results, fits, errors


def pseudobulk_de(pb: AnnData, cell_type: str, *, design: str = "paired", tissue: str | None = "tumour",
                  pre: str = "baseline", post: str = "surgery", response: pd.Series | None = None,
                  timepoint: str = "baseline", min_cells: int = 10, min_counts: int = 10,
                  min_samples_expressed: int | None = None, min_per_group: int = 3,
                  shared_trend: dict | None = None) -> pd.DataFrame:
    """DESeq2 results for one cell type: ``gene, baseMean, log2FoldChange, lfcSE, stat, pvalue, padj``
    plus ``cell_type, tissue, contrast, n_samples, dispersion_fit``; the fit record (trend, warnings
    pydeseq2 raised) is in ``.attrs["fit"]``.

    design="paired": ``~ patient_id + timepoint``, contrast ``post`` vs ``pre``.
    design="response": ``~ response`` at ``timepoint``, ``response`` a boolean Series by patient_id
    (True = responder), contrast responder vs non-responder.
    ``shared_trend``: a trend to use instead of the type's own (``{"kind": "parametric", "a0", "a1"}``
    or ``{"kind": "mean", "mean"}``, with ``n_genes``); by itself a single fit uses its own trend —
    the thin-data sharing between cell types is :func:`pseudobulk_de_many`'s.
    Raises :class:`OmicsInputError` when fewer than ``min_per_group`` samples per level remain.
    """
    t = _prepare(pb, DeSpec(cell_type=cell_type, design=design, tissue=tissue, pre=pre, post=post, response=response,
                            timepoint=timepoint, min_cells=min_cells, min_counts=min_counts,
                            min_samples_expressed=min_samples_expressed, min_per_group=min_per_group))
    t.shared = shared_trend
    res, rec, _ = _fit(t)
    res.attrs["fit"] = rec
    return res
