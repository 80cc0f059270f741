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
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import scanpy as sc
from anndata import AnnData
from scipy import sparse

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError

__all__ = ["pseudobulk", "pseudobulk_de"]


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


def _run_deseq(counts: pd.DataFrame, meta: pd.DataFrame, design: str, contrast: list[str]) -> pd.DataFrame:
    from pydeseq2.dds import DeseqDataSet
    from pydeseq2.default_inference import DefaultInference
    from pydeseq2.ds import DeseqStats

    inf = DefaultInference(n_cpus=1)
    dds = DeseqDataSet(counts=counts, metadata=meta, design=design, refit_cooks=True, inference=inf, quiet=True)
    dds.deseq2()
    st = DeseqStats(dds, contrast=contrast, inference=inf, quiet=True)
    st.summary()
    res = st.results_df.copy()
    res.index.name = "gene"
    return res.reset_index()


def pseudobulk_de(pb: AnnData, cell_type: str, *, design: str = "paired", tissue: str | None = "tumour",
                  pre: str = "baseline", post: str = "surgery", response: pd.Series | None = None,
                  timepoint: str = "baseline", min_cells: int = 10, min_counts: int = 10,
                  min_samples_expressed: int | None = None, min_per_group: int = 3) -> pd.DataFrame:
    """DESeq2 results for one cell type: ``gene, baseMean, log2FoldChange, lfcSE, stat, pvalue, padj``
    plus ``cell_type, tissue, contrast, n_samples``.

    design="paired": ``~ patient_id + timepoint``, contrast ``post`` vs ``pre``.
    design="response": ``~ response`` at ``timepoint``, ``response`` a boolean Series by patient_id
    (True = responder), contrast responder vs non-responder.
    Raises :class:`OmicsInputError` when fewer than ``min_per_group`` samples per level remain.
    """
    o = pb.obs
    sel = (o["cell_type"] == cell_type).to_numpy() & (o["n_cells"] >= min_cells).to_numpy()
    if tissue is not None:
        sel &= (o["tissue"] == tissue).to_numpy()
    sub = pb[sel]
    meta = sub.obs[["sample_id", "patient_id", "timepoint"]].copy()
    if design == "paired":
        meta = meta[meta["timepoint"].isin([pre, post])]
        has = meta.groupby("patient_id")["timepoint"].nunique()
        meta = meta[meta["patient_id"].isin(has.index[has == 2])]
        meta = meta.drop_duplicates(["patient_id", "timepoint"])
        meta["timepoint"] = pd.Categorical(meta["timepoint"], categories=[pre, post])
        meta["patient_id"] = meta["patient_id"].astype(str)
        formula, contrast = "~ patient_id + timepoint", ["timepoint", post, pre]
        n_small = meta["patient_id"].nunique()
        label = f"{post} vs {pre} (~ patient_id + timepoint)"
    elif design == "response":
        if response is None:
            raise ValueError("design='response' needs response (boolean Series by patient_id)")
        meta = meta[meta["timepoint"] == timepoint].drop_duplicates("patient_id")
        r = response.dropna().astype(bool)
        meta = meta[meta["patient_id"].isin(r.index)]
        meta["response"] = np.where(r.reindex(meta["patient_id"]).to_numpy(), "responder", "non_responder")
        formula, contrast = "~ response", ["response", "responder", "non_responder"]
        n_small = int(meta["response"].value_counts().reindex(["responder", "non_responder"], fill_value=0).min())
        label = f"responder vs non-responder at {timepoint} (~ response)"
    else:
        raise ValueError("design must be 'paired' or 'response'")
    if n_small < min_per_group:
        raise OmicsInputError(f"pseudobulk DE for {cell_type} ({tissue}, {design}) needs at least {min_per_group} "
                              f"patients per level with ≥ {min_cells} cells; found {n_small}")
    X = pd.DataFrame(np.rint(sub[meta.index.to_numpy()].X).astype(np.int64), index=meta["sample_id"].to_numpy(),
                     columns=sub.var_names)
    meta = meta.set_index("sample_id")
    k = min_samples_expressed if min_samples_expressed is not None else max(n_small, 2)
    X = X.loc[:, (X >= min_counts).sum(axis=0) >= k]
    if X.shape[1] == 0:
        raise OmicsInputError(f"pseudobulk DE for {cell_type}: no gene passes the expression filter")
    res = _run_deseq(X, meta, formula, contrast)
    res.insert(0, "cell_type", cell_type)
    res["tissue"], res["contrast"], res["n_samples"] = tissue, label, len(meta)
    return res.sort_values("pvalue", na_position="last").reset_index(drop=True)
