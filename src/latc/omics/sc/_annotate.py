"""Marker-based cell-type annotation with an ``unassigned`` outcome, per-cell confidence and a
cluster-level label.

Score of cell *c* for type *t* (the shipped table ``resources/immune_markers.csv``; sources in
``resources/README.md``)::

    score[c, t] = Σ_g w[g, t] · z[c, g] / Σ_g |w[g, t]|,    z[c, g] = (x[c, g] − mean_g) / sd_g

over the markers *g* of *t* present in the data, with ``x`` the log-normalised expression and
``w = +1`` (marker) or ``−1`` (a gene whose absence separates *t* from a close type). This is the
scaled-expression average behind Seurat's ``AddModuleScore`` / scanpy's ``score_genes`` without the
random control set (deterministic, and computed on the sparse matrix without densifying it).

The z-scores are relative to the data set: they rank types well in a mixed sample but cannot say
that a cell is *none* of the modelled types (an oligodendrocyte or a tumour cell still has a best
score), and in a sample of one lineage (sorted T cells) every type's score is near zero. Hence
rules on top of the argmax, with thresholds calibrated on the synthetic scRNA-seq and scanpy's
pbmc68k_reduced (:data:`ANNOTATION_THRESHOLDS`; docs/omics/single_cell.md, "Annotation"):

1. **Panel coverage.** A type is scored only when ≥ ``min_coverage`` (0.5) of its positive markers
   and ≥ ``min_markers`` (2) of them are in the data; otherwise it is *refused* (listed with its
   coverage in ``uns["latc_sc"]["types_refused"]``) — a type is not called from 2 of its 9 markers.
2. **Marker detection** (per cell, so independent of the sample's composition): a type is a
   candidate for a cell only when ≥ ``min_detection`` (0.5) of its present positive markers are
   detected (> 0) in that cell. No candidate → ``unassigned`` (``annotation_status =
   "no_marker_evidence"``).
3. **Lineage margin** (per cell): the call is the candidate with the highest score; when a
   candidate of *another lineage* scores within ``min_margin`` (0.10 z units) of it, the cell is
   ``unassigned`` (``"ambiguous_lineage"``). Close types of one lineage (CD8 effector / memory) are
   not held to a margin: their uncertainty shows in the confidence.
4. **Cluster label**: the most common assigned call of the Leiden cluster (cluster labels smooth
   single-cell dropout, Luecken & Theis 2019), ``unassigned`` when ≥ ``cluster_unassigned`` (0.5)
   of its cells are unassigned (``annotation_cluster_status = "mostly_unassigned_cells"``) or when
   fewer than ``min_core_fraction`` (0.4) of its cells detect a *core* marker of the label's lineage
   (``"no_lineage_core_marker"``). Core markers (column ``core`` of the table) are the markers
   restricted to the lineage (CD3D/CD3E for T cells, MS4A1/CD79A/… for B cells, CD14/FCN1/CSF1R,
   C1QA/C1QB/CD163, HLA class II … for myeloid cells, TG/TPO/TSHR for thyrocytes); genes also made
   by other cells (CST3, LYZ, VCAN, S100A8/9, CD68, LAMP3, NCAM1, MRC1) are markers but not core.
   This catches a population that expresses a few of a type's markers but none of its lineage's
   defining ones (glioma cells with VCAN, LYZ and CST3 read as monocytes / dendritic cells). A
   table without a ``core`` column treats every positive marker as core.

``obs`` columns: ``cell_type_cell`` (the per-cell call, ``unassigned`` included),
``annotation_status`` (``assigned`` / ``no_marker_evidence`` / ``ambiguous_lineage``),
``annotation_detection`` (share of the call's markers detected in the cell; for a cell without a
candidate, the highest share over the types), ``annotation_margin`` (score of the call minus the
best candidate of another lineage; ``inf`` when no other lineage is a candidate, NaN when
unassigned for lack of a candidate), ``annotation_confidence`` (share of ``n_boot`` marker
resamplings — each type's present markers drawn with replacement, seeded — that give the same
per-cell label, ``unassigned`` included: 1 = the call does not depend on which markers were
measured), ``cell_type_cluster`` and ``annotation_cluster_status`` (rule 4; with a cluster
column), ``cell_type`` (the label used downstream: the cluster label unless ``level="cell"``,
which skips rule 4) and ``lineage`` (``unassigned`` for unassigned cells).
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import sparse

__all__ = ["UNASSIGNED", "ANNOTATION_THRESHOLDS", "load_markers", "marker_coverage", "score_cell_types", "annotate"]

#: the label of a cell (or cluster) that no modelled type fits
UNASSIGNED = "unassigned"

#: defaults of :func:`annotate`, calibrated on the synthetic scRNA-seq and scanpy's pbmc68k_reduced
#: (docs/omics/single_cell.md, "Annotation: calibration"); held-out checks in
#: tests/test_omics_sc_unassigned.py
ANNOTATION_THRESHOLDS: dict[str, float] = {
    "min_detection": 0.5,        # share of a type's present markers detected in the cell
    "min_margin": 0.10,          # z-score margin over the best candidate of another lineage
    "min_coverage": 0.5,         # share of a type's markers present in the data (else refused)
    "min_markers": 2,            # and at least this many
    "cluster_unassigned": 0.5,   # a cluster with this share of unassigned cells is unassigned
    "min_core_fraction": 0.4,    # share of a cluster's cells detecting a core marker of its lineage
}


@lru_cache(maxsize=1)
def _shipped_markers() -> pd.DataFrame:
    with resources.files("latc.omics.resources").joinpath("immune_markers.csv").open("r", encoding="utf-8") as f:
        return pd.read_csv(f)


def load_markers() -> pd.DataFrame:
    """The shipped marker table (``cell_type, lineage, gene, weight, source``)."""
    return _shipped_markers().copy()


def _gene_stats(X) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    if sparse.issparse(X):
        mean = np.asarray(X.mean(axis=0)).ravel()
        sq = np.asarray(X.multiply(X).mean(axis=0)).ravel()
    else:
        X = np.asarray(X, dtype=np.float64)
        mean, sq = X.mean(axis=0), (X * X).mean(axis=0)
    var = np.maximum(sq - mean**2, 0) * n / max(n - 1, 1)
    return mean, np.sqrt(var)


def marker_coverage(var_names, markers: pd.DataFrame | None = None, *,
                    min_coverage: float = ANNOTATION_THRESHOLDS["min_coverage"],
                    min_markers: int = int(ANNOTATION_THRESHOLDS["min_markers"])) -> pd.DataFrame:
    """Per type of the marker table: ``n_markers`` (positive markers), ``n_present`` (of them in
    ``var_names``), ``coverage`` and ``scored`` (False = refused: fewer than ``min_markers`` present
    or a coverage below ``min_coverage``). Index: cell type, in table order."""
    m = load_markers() if markers is None else markers
    types = list(dict.fromkeys(m["cell_type"]))
    pos = _core_column(m[m["weight"] > 0])
    present = pd.Index(var_names)
    n = pos.groupby("cell_type").size().reindex(types, fill_value=0)
    k = pos[pos["gene"].isin(present)].groupby("cell_type").size().reindex(types, fill_value=0)
    kc = pos[pos["gene"].isin(present) & (pos["core"] > 0)].groupby("cell_type").size().reindex(types, fill_value=0)
    cov = (k / n.where(n > 0)).fillna(0.0)
    out = pd.DataFrame({"n_markers": n.astype(int), "n_present": k.astype(int), "coverage": cov,
                        "n_core_present": kc.astype(int)})
    out["scored"] = (out["n_present"] >= min_markers) & (out["coverage"] >= min_coverage - 1e-12)
    out.index.name = "cell_type"
    return out


def _core_column(pos: pd.DataFrame) -> pd.DataFrame:
    """Positive markers with a ``core`` flag; a table without the column treats every positive
    marker as core (the core rule then asks for one detected marker)."""
    if "core" not in pos:
        return pos.assign(core=1)
    return pos.assign(core=pd.to_numeric(pos["core"], errors="coerce").fillna(0).astype(int))


class _Panel:
    """The marker genes of the data as matrices: log-expression ``X`` and detection ``B`` (cells ×
    marker genes, CSR), gene means/SDs, and the positive / negative weight matrices (genes × types)."""

    def __init__(self, adata: AnnData, m: pd.DataFrame, types: list[str], layer: str | None) -> None:
        m = m[m["gene"].isin(adata.var_names) & m["cell_type"].isin(types)]
        self.types = types
        self.genes = list(dict.fromkeys(m["gene"]))
        sub = adata[:, self.genes]
        X = sub.layers[layer] if layer else sub.X
        self.X = X.tocsr().astype(np.float64) if sparse.issparse(X) else np.asarray(X, dtype=np.float64)
        self.B = (sparse.csr_matrix(self.X) > 0).astype(np.float64)
        self.mean, sd = _gene_stats(self.X)
        sd[sd == 0] = np.inf  # a constant gene carries no information
        self.inv_sd = 1.0 / sd
        W = m.pivot_table(index="gene", columns="cell_type", values="weight", aggfunc="sum", fill_value=0)
        W = W.reindex(index=self.genes, columns=types, fill_value=0).to_numpy(dtype=np.float64)
        self.Wpos, self.Wneg = np.where(W > 0, W, 0.0), np.where(W < 0, W, 0.0)
        core = _core_column(m[m["weight"] > 0])
        core = core[core["core"] > 0]
        C = pd.crosstab(core["gene"], core["cell_type"]).reindex(index=self.genes, columns=types, fill_value=0)
        self.Wcore = (C.to_numpy() > 0).astype(np.float64)

    def core_detected(self) -> np.ndarray:
        """Cells × types: whether at least one core marker of the type is detected."""
        return np.asarray(self.B @ self.Wcore) > 0

    def scores(self, Wpos: np.ndarray) -> np.ndarray:
        W = Wpos + self.Wneg
        norm = np.abs(W).sum(axis=0)
        Ws = np.divide(W, norm, out=np.zeros_like(W), where=norm > 0) * self.inv_sd[:, None]
        return np.asarray(self.X @ Ws) - (self.mean @ Ws)[None, :]

    def detection(self, Wpos: np.ndarray) -> np.ndarray:
        npos = Wpos.sum(axis=0)
        return np.divide(np.asarray(self.B @ Wpos), npos, out=np.zeros((self.B.shape[0], len(npos))), where=npos > 0)


def score_cell_types(adata: AnnData, markers: pd.DataFrame | None = None, *, layer: str | None = None,
                     min_markers: int = int(ANNOTATION_THRESHOLDS["min_markers"]),
                     min_coverage: float = ANNOTATION_THRESHOLDS["min_coverage"]) -> pd.DataFrame:
    """Per-cell marker scores: a cells × cell types DataFrame (index = ``obs_names``).

    Types refused by :func:`marker_coverage` (fewer than ``min_markers`` positive markers in the
    data, or less than ``min_coverage`` of them) get NaN.
    """
    m = load_markers() if markers is None else markers
    types = list(dict.fromkeys(m["cell_type"]))
    cov = marker_coverage(adata.var_names, m, min_coverage=min_coverage, min_markers=min_markers)
    p = _Panel(adata, m, types, layer)
    s = p.scores(p.Wpos)
    s[:, ~cov["scored"].reindex(types).to_numpy()] = np.nan
    return pd.DataFrame(s, index=adata.obs_names, columns=types)


def _decide(S: np.ndarray, D: np.ndarray, lineage: np.ndarray, min_detection: float, min_margin: float):
    """The per-cell rule on scores ``S`` and detection shares ``D`` (cells × scored types): best
    type index (−1 = unassigned), status code (0 assigned, 1 no candidate, 2 ambiguous lineage),
    margin."""
    cand = D >= min_detection
    v = np.where(cand, S, -np.inf)
    best = v.argmax(axis=1)
    rows = np.arange(len(v))
    top = v[rows, best]
    other = np.where(lineage[None, :] != lineage[best][:, None], v, -np.inf).max(axis=1)
    none = ~cand.any(axis=1)
    with np.errstate(invalid="ignore"):        # −inf − (−inf) for cells without a candidate: NaN below
        margin = top - other                   # inf when no other lineage is a candidate
    amb = ~none & (margin < min_margin)
    status = np.where(none, 1, np.where(amb, 2, 0))
    margin = np.where(none, np.nan, margin)
    return np.where(status == 0, best, -1), status, margin


STATUS = np.array(["assigned", "no_marker_evidence", "ambiguous_lineage"])
CLUSTER_STATUS = ("assigned", "mostly_unassigned_cells", "no_lineage_core_marker")


def _cluster_labels(clusters: np.ndarray, call: np.ndarray, core: np.ndarray, lineage: np.ndarray, types: list[str],
                    cluster_unassigned: float, min_core_fraction: float):
    """Cluster label = the most common assigned call, unless ≥ ``cluster_unassigned`` of the
    cluster's cells are unassigned, or fewer than ``min_core_fraction`` of its cells detect a core
    marker of the label's lineage (any scored type of that lineage). Returns the label and status per
    cluster, one note per unassigned cluster and the cluster purity (share of cells whose own call
    is their cluster's label)."""
    major: dict[str, str] = {}
    status: dict[str, str] = {}
    notes: list[str] = []
    hit = 0
    for k in pd.unique(clusters):
        idx = np.flatnonzero(clusters == k)
        c = pd.Series(call[idx])
        n_un = int((c == UNASSIGNED).sum())
        assigned = c[c != UNASSIGNED].value_counts()
        label, st = UNASSIGNED, "mostly_unassigned_cells"
        if n_un / len(idx) < cluster_unassigned and len(assigned):
            label, st = str(assigned.idxmax()), "assigned"
            lin = lineage[types.index(label)]
            share = float(core[np.ix_(idx, np.flatnonzero(lineage == lin))].any(axis=1).mean())
            if share < min_core_fraction:
                notes.append(f"cluster {k} ({len(idx)} cells): {label} by majority, but only {share:.0%} of its cells "
                             f"detect a core {lin} marker")
                label, st = UNASSIGNED, "no_lineage_core_marker"
        else:
            notes.append(f"cluster {k} ({len(idx)} cells): {n_un / len(idx):.0%} of its cells unassigned")
        major[str(k)], status[str(k)] = label, st
        hit += int((c == label).sum())
    return major, status, notes, hit / max(len(clusters), 1)


def annotate(adata: AnnData, markers: pd.DataFrame | None = None, *, cluster_key: str = "leiden",
             level: str = "cluster", layer: str | None = None,
             min_detection: float = ANNOTATION_THRESHOLDS["min_detection"],
             min_margin: float = ANNOTATION_THRESHOLDS["min_margin"],
             min_coverage: float = ANNOTATION_THRESHOLDS["min_coverage"],
             min_markers: int = int(ANNOTATION_THRESHOLDS["min_markers"]),
             cluster_unassigned: float = ANNOTATION_THRESHOLDS["cluster_unassigned"],
             min_core_fraction: float = ANNOTATION_THRESHOLDS["min_core_fraction"],
             n_boot: int = 20, seed: int = 0) -> AnnData:
    """Annotate in place (returns ``adata``; the rules in the module docstring).

    Adds ``obsm["cell_type_scores"]`` (DataFrame; refused types NaN) and ``obs`` columns
    ``cell_type_cell, annotation_status, annotation_detection, annotation_margin,
    annotation_confidence, cell_type_cluster, cell_type, lineage`` (categories: the table's types,
    then ``unassigned``). ``uns["latc_sc"]``: ``types_unscorable`` (every type not scored),
    ``types_refused`` (``"type (k/n markers)"`` for types refused for low panel coverage),
    ``annotation`` (thresholds, counts of unassigned cells and clusters), ``cluster_purity``,
    ``annotation_level``. ``n_boot = 0`` skips the confidence (NaN).
    """
    if level not in ("cluster", "cell"):
        raise ValueError("level must be 'cluster' or 'cell'")
    m = load_markers() if markers is None else markers
    types = list(dict.fromkeys(m["cell_type"]))
    cov = marker_coverage(adata.var_names, m, min_coverage=min_coverage, min_markers=min_markers)
    ok = [t for t in types if cov.loc[t, "scored"]]
    if not ok:
        from latc.omics._manifest import OmicsInputError
        raise OmicsInputError("no cell type of the marker table has enough of its marker genes in the data "
                              f"(≥ {min_markers} and ≥ {min_coverage:.0%} of its markers): "
                              + "; ".join(f"{t} {cov.loc[t, 'n_present']}/{cov.loc[t, 'n_markers']}" for t in types))
    lineage_of = m.drop_duplicates("cell_type").set_index("cell_type")["lineage"].astype(str)
    p = _Panel(adata, m, ok, layer)
    lin = lineage_of.reindex(ok).to_numpy()
    S, D = p.scores(p.Wpos), p.detection(p.Wpos)
    best, status, margin = _decide(S, D, lin, min_detection, min_margin)
    names = np.array(ok + [UNASSIGNED], dtype=object)
    call = names[np.where(best >= 0, best, len(ok))]
    rows = np.arange(adata.n_obs)
    cand_best = np.where(D >= min_detection, S, -np.inf).argmax(axis=1)
    detection = np.where(status == 1, D.max(axis=1), D[rows, cand_best])

    confidence = np.full(adata.n_obs, np.nan)
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        same = np.zeros(adata.n_obs)
        for _ in range(n_boot):
            Wb = np.zeros_like(p.Wpos)
            for j in range(len(ok)):          # each type's present markers drawn with replacement
                idx = np.flatnonzero(p.Wpos[:, j] > 0)
                Wb[:, j] = np.bincount(rng.choice(idx, size=len(idx), replace=True), minlength=len(p.genes))
            b, _, _ = _decide(p.scores(Wb), p.detection(Wb), lin, min_detection, min_margin)
            same += b == best
        confidence = same / n_boot

    scores = pd.DataFrame(np.nan, index=adata.obs_names, columns=types)
    scores[ok] = S
    cats = types + [UNASSIGNED]
    adata.obsm["cell_type_scores"] = scores
    adata.obs["cell_type_cell"] = pd.Categorical(call, categories=cats)
    adata.obs["annotation_status"] = pd.Categorical(STATUS[status], categories=list(STATUS))
    adata.obs["annotation_detection"] = detection
    adata.obs["annotation_margin"] = margin
    adata.obs["annotation_confidence"] = confidence
    info = adata.uns.setdefault("latc_sc", {})
    cluster_notes: list[str] = []
    if cluster_key in adata.obs:
        clusters = adata.obs[cluster_key].astype(str).to_numpy()
        core = p.core_detected()
        major, cstatus, cluster_notes, purity = _cluster_labels(clusters, call, core, lin, ok, cluster_unassigned,
                                                                min_core_fraction)
        # plain dicts: pandas 3.1 maps a categorical column through a categorical Series *by position*
        # when both have as many categories (one cluster per cell type), scrambling the labels
        adata.obs["cell_type_cluster"] = pd.Categorical(pd.Series(clusters).map(major).to_numpy(), categories=cats)
        adata.obs["annotation_cluster_status"] = pd.Categorical(pd.Series(clusters).map(cstatus).to_numpy(),
                                                                categories=list(CLUSTER_STATUS))
        info["cluster_purity"] = purity
    else:
        adata.obs["cell_type_cluster"] = adata.obs["cell_type_cell"]
    adata.obs["cell_type"] = adata.obs["cell_type_cluster" if level == "cluster" else "cell_type_cell"]
    lineage = adata.obs["cell_type"].astype(str).map({**lineage_of.to_dict(), UNASSIGNED: UNASSIGNED})
    adata.obs["lineage"] = pd.Categorical(lineage, categories=list(dict.fromkeys(lineage_of)) + [UNASSIGNED])
    info["types_unscorable"] = [t for t in types if t not in ok]
    info["types_refused"] = [f"{t} ({cov.loc[t, 'n_present']}/{cov.loc[t, 'n_markers']} markers, "
                             f"{cov.loc[t, 'n_core_present']} core, in the data)"
                             for t in types if t not in ok and cov.loc[t, "n_present"] > 0]
    info["annotation_level"] = level
    info["annotation"] = {
        "min_detection": float(min_detection), "min_margin": float(min_margin), "min_coverage": float(min_coverage),
        "min_markers": int(min_markers), "cluster_unassigned": float(cluster_unassigned), "n_boot": int(n_boot),
        "seed": int(seed), "n_cells": int(adata.n_obs), "n_unassigned_cells": int((status > 0).sum()),
        "n_no_marker_evidence": int((status == 1).sum()), "n_ambiguous_lineage": int((status == 2).sum()),
        "min_core_fraction": float(min_core_fraction),
        "n_unassigned_clusters": len(cluster_notes), "clusters_unassigned": "; ".join(cluster_notes),
        "n_unassigned_final": int((adata.obs["cell_type"] == UNASSIGNED).sum()),
        "calibration": "docs/omics/single_cell.md (Annotation: calibration)",
    }
    return adata
