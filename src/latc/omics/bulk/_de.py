"""Differential expression of bulk RNA-seq with pydeseq2 (DESeq2's model: Love, Huber & Anders,
*Genome Biol* 2014;15:550; pydeseq2: Muzellec et al., *Bioinformatics* 2023;39:btad547).

Two designs the study needs:

* **responder vs non-responder** among samples of one timepoint/tissue: ``~ [covariates +] response``;
* **pre vs post treatment, paired by patient**: ``~ patient + timepoint`` on patients sampled at
  both timepoints (each patient is its own control; DESeq2 vignette, "paired samples").

Results: one row per gene with the MLE log2 fold change, its SE, Wald statistic, p-value and
``padj`` — Benjamini–Hochberg over the genes kept by DESeq2's independent filtering (as DESeq2's
``results()``; genes filtered out or flagged by Cook's distance have ``padj`` NaN) — plus the
apeGLM-shrunken log2 fold change (Zhu, Ibrahim & Love 2019) for ranking and plotting.
"""

from __future__ import annotations

import contextlib
import io
import warnings

import numpy as np
import pandas as pd

from latc.omics._manifest import OmicsInputError

RESULT_COLUMNS = ["gene", "base_mean", "log2_fold_change", "lfc_se", "stat", "pvalue", "padj",
                  "log2_fold_change_shrunk", "lfc_se_shrunk"]


def _counts_frame(adata) -> pd.DataFrame:
    X = adata.layers["counts"] if "counts" in adata.layers else adata.X
    X = X.toarray() if hasattr(X, "toarray") else np.asarray(X)
    return pd.DataFrame(X.astype(np.int64), index=adata.obs_names.astype(str), columns=adata.var_names.astype(str))


def filter_low_counts(counts: pd.DataFrame, *, min_count: int = 10, min_samples: int = 3) -> pd.DataFrame:
    """Keep genes with at least ``min_count`` reads in at least ``min_samples`` samples (a common
    pre-filter; DESeq2's independent filtering does the rest)."""
    keep = (counts >= min_count).sum(axis=0) >= min_samples
    return counts.loc[:, keep]


def deseq2(counts: pd.DataFrame, metadata: pd.DataFrame, design: str, contrast: list[str], *,
           shrink: bool = True, alpha: float = 0.05, n_cpus: int = 1, refit_cooks: bool = True) -> pd.DataFrame:
    """Run pydeseq2 (Wald test of ``contrast = [factor, level, reference]``) and return the tidy
    result table (:data:`RESULT_COLUMNS`, sorted by p-value)."""
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    factor, level, ref = contrast
    md = metadata.copy()
    for c in md.columns:
        md[c] = md[c].astype(str)
    md[factor] = pd.Categorical(md[factor], categories=[ref] + sorted(set(md[factor]) - {ref}))
    inference = DefaultInference(n_cpus=n_cpus)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        dds = DeseqDataSet(counts=counts, metadata=md, design=design, refit_cooks=refit_cooks,
                           inference=inference, quiet=True)
        dds.deseq2()
        stats = DeseqStats(dds, contrast=[factor, level, ref], alpha=alpha, inference=inference, quiet=True)
        stats.summary()
        res = stats.results_df.copy()
        if shrink:
            coeff = next((c for c in dds.varm["LFC"].columns if c.startswith(f"{factor}[") and c.endswith(f".{level}]")), None)
            if coeff is not None:
                stats.lfc_shrink(coeff=coeff)
                res["log2_fold_change_shrunk"] = stats.results_df["log2FoldChange"]
                res["lfc_se_shrunk"] = stats.results_df["lfcSE"]
    res = res.rename(columns={"baseMean": "base_mean", "log2FoldChange": "log2_fold_change", "lfcSE": "lfc_se"})
    for c in ("log2_fold_change_shrunk", "lfc_se_shrunk"):
        if c not in res:
            res[c] = np.nan
    res.insert(0, "gene", res.index.astype(str))
    return res[RESULT_COLUMNS].sort_values("pvalue", na_position="last").reset_index(drop=True)


def de_response(adata, response: pd.Series | str, *, responder: str = "responder",
                non_responder: str = "non_responder", covariates: tuple[str, ...] = (), min_count: int = 10,
                shrink: bool = True, n_cpus: int = 1) -> pd.DataFrame:
    """Responder vs non-responder DE (``~ covariates + response``; positive log2FC = higher in
    responders). ``response`` is an ``obs`` column or a Series indexed by ``patient_id`` (or
    ``sample_id``) with values ``responder`` / ``non_responder`` (booleans and 1/0 are mapped);
    samples without a response are left out and counted in ``attrs["n_excluded"]``."""
    obs = adata.obs
    if isinstance(response, str):
        if response not in obs:
            raise OmicsInputError(f"response column {response!r} is not in the sample metadata")
        resp = obs[response]
    else:
        key = "sample_id" if response.index.isin(obs["sample_id"]).any() else "patient_id"
        resp = obs[key].map(response)
    resp = resp.map(lambda v: _response_label(v, responder, non_responder))
    keep = resp.notna().to_numpy()
    n = pd.Series(resp[keep]).value_counts()
    if n.get(responder, 0) < 2 or n.get(non_responder, 0) < 2:
        raise OmicsInputError(f"responder vs non-responder DE needs ≥ 2 samples per group (have "
                              f"{n.get(responder, 0)} responders, {n.get(non_responder, 0)} non-responders)")
    counts = _counts_frame(adata)[keep]
    md = pd.DataFrame({"response": resp[keep].to_numpy()}, index=counts.index)
    for c in covariates:
        md[c] = obs.loc[keep, c].to_numpy()
    counts = filter_low_counts(counts, min_count=min_count, min_samples=min(n.min(), 3))
    design = "~" + " + ".join([*covariates, "response"])
    out = deseq2(counts, md, design, ["response", responder, non_responder], shrink=shrink, n_cpus=n_cpus)
    out.attrs.update(n_responders=int(n[responder]), n_non_responders=int(n[non_responder]),
                     n_excluded=int((~keep).sum()), design=design)
    return out


def _response_label(v, responder: str, non_responder: str):
    if v is None or (isinstance(v, float) and np.isnan(v)) or v is pd.NA:
        return None
    s = str(v).strip().lower()
    if s in {responder, "1", "true", "yes", "1.0"}:
        return responder
    if s in {non_responder, "0", "false", "no", "0.0"}:
        return non_responder
    return None


def paired_samples(obs: pd.DataFrame, pre: str, post: str) -> pd.DataFrame:
    """Rows of ``obs`` for patients sampled at both ``pre`` and ``post`` (one sample each; when a
    patient has several samples at a timepoint the first by sample_id is kept)."""
    o = obs[obs["timepoint"].isin([pre, post])].sort_values("sample_id")
    o = o.drop_duplicates(["patient_id", "timepoint"])
    both = o.groupby("patient_id")["timepoint"].nunique() == 2
    return o[o["patient_id"].isin(both[both].index)]


def de_paired(adata, *, pre: str = "baseline", post: str = "surgery", min_count: int = 10,
              shrink: bool = True, n_cpus: int = 1) -> pd.DataFrame:
    """Pre vs post treatment DE paired by patient: ``~ patient + timepoint`` (positive log2FC =
    higher after treatment), on patients with a sample at both timepoints."""
    pairs = paired_samples(adata.obs, pre, post)
    n_pat = pairs["patient_id"].nunique()
    if n_pat < 3:
        raise OmicsInputError(f"paired DE {pre} → {post} needs ≥ 3 patients sampled at both timepoints (have {n_pat})")
    counts = _counts_frame(adata).loc[pairs["sample_id"].astype(str)]
    md = pd.DataFrame({"patient": pairs["patient_id"].astype(str).to_numpy(),
                       "timepoint": pairs["timepoint"].astype(str).to_numpy()}, index=counts.index)
    counts = filter_low_counts(counts, min_count=min_count, min_samples=3)
    out = deseq2(counts, md, "~patient + timepoint", ["timepoint", post, pre], shrink=shrink, n_cpus=n_cpus)
    out.attrs.update(n_patients=int(n_pat), design="~patient + timepoint")
    return out
