"""Cell-type composition per sample and differential abundance at the sample level.

Cells are not replicates: every test here uses one value per sample (Squair et al., *Nat Commun*
2021;12:5692), pairs pre/post samples by patient, and respects that proportions are compositional
(they sum to one, so one population expanding makes every other one shrink on the proportion scale).

**Method — CLR-transformed proportions with paired / two-group t-tests, BH-FDR.**
For each sample, counts per cell type ``n_t`` (plus a pseudocount of 0.5, the Jeffreys-type
zero replacement of Aitchison / Martín-Fernández 2003) are transformed to centred log-ratios
``clr_t = log(n_t + 0.5) − mean_t' log(n_t' + 0.5)`` over the types observed in that tissue
(Aitchison 1986, *The Statistical Analysis of Compositional Data*; Gloor et al., *Front Microbiol*
2017;8:2224). The CLR is scale-free (library size cancels) and removes the unit-sum constraint, so
a standard linear model applies; its effect is a change *relative to the geometric mean of all
types* (a CLR increase of one type is not an absolute increase, and the planted expansion of one
type appears as small CLR decreases of the others — read the effect sizes that way).

* ``paired`` (pre vs post): per patient, ``d = clr_post − clr_pre``; one-sample t-test of ``d``
  (the paired t-test, identical to a linear mixed model with a random patient intercept when every
  patient has both samples); Wilcoxon signed-rank p as a distribution-free check.
* ``groups`` (responder vs non-responder): Welch t-test of the CLR at one timepoint, or of the
  paired change ``d`` (``timepoint="change"``), i.e. the response × time interaction.

P-values are adjusted over cell types with Benjamini–Hochberg (``q``). This is the logic of
propeller (Phipson et al., *Bioinformatics* 2022;38:4720: transformed proportions + linear model,
paired design) with the CLR instead of logit/arcsine and without limma's variance moderation (a
port of limma's eBayes is not available in Python; with tens of samples the moderation matters
little).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from anndata import AnnData
from scipy import stats

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError
from latc.stats import p_adjust

__all__ = ["composition", "clr", "differential_abundance", "bh"]

PSEUDOCOUNT = 0.5


def bh(p: pd.Series | np.ndarray) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (NaN stays NaN; :func:`latc.stats.p_adjust`)."""
    return np.asarray(p_adjust(np.asarray(p, dtype=float), method="BH"))


def composition(adata: AnnData, *, cell_type: str = "cell_type") -> pd.DataFrame:
    """Long table: one row per sample × cell type with ``n_cells``, ``n_sample`` (the sample's
    *assigned* cells), ``proportion`` (= n_cells / n_sample) and ``n_unassigned`` (the sample's
    cells labelled ``unassigned`` by :func:`latc.omics.sc.annotate`), plus the sample keys; every
    type of the annotation appears, with 0 where absent.

    Unassigned cells are not a cell type: they are left out of the denominators and of the
    differential-abundance tests (a cell that fits no modelled type would otherwise dilute every
    proportion and enter the CLR as a pseudo-type whose size depends on the marker panel), and
    reported per sample in ``n_unassigned`` so a sample whose share of unassigned cells changes
    (tumour cells of a type outside the panel, a damaged library) stays visible.
    """
    from latc.omics.sc._annotate import UNASSIGNED

    obs = adata.obs
    keys = [k for k in SAMPLE_KEYS if k in obs]
    samples = obs[keys].astype(str).drop_duplicates("sample_id").set_index("sample_id")
    tab = pd.crosstab(obs["sample_id"].astype(str), obs[cell_type].astype(str))
    if isinstance(obs[cell_type].dtype, pd.CategoricalDtype):
        cats = [c for c in obs[cell_type].cat.categories]
        tab = tab.reindex(columns=cats, fill_value=0)
    n_un = tab.pop(UNASSIGNED) if UNASSIGNED in tab.columns else pd.Series(0, index=tab.index)
    long = tab.stack().rename("n_cells").reset_index()
    long.columns = ["sample_id", "cell_type", "n_cells"]
    long["n_sample"] = long.groupby("sample_id")["n_cells"].transform("sum")
    long["proportion"] = long["n_cells"] / long["n_sample"].where(long["n_sample"] > 0)
    long["n_unassigned"] = long["sample_id"].map(n_un).fillna(0).astype(int)
    long = long.merge(samples.reset_index(), on="sample_id", how="left")
    return long[keys + ["cell_type", "n_cells", "n_sample", "proportion", "n_unassigned"]]


def clr(counts: pd.DataFrame, pseudocount: float = PSEUDOCOUNT) -> pd.DataFrame:
    """Centred log-ratio of a samples × types count matrix (rows: samples)."""
    lg = np.log(counts.to_numpy(dtype=float) + pseudocount)
    return pd.DataFrame(lg - lg.mean(axis=1, keepdims=True), index=counts.index, columns=counts.columns)


def _wide(comp: pd.DataFrame, tissue: str | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    c = comp if tissue is None else comp[comp["tissue"] == tissue]
    if c.empty:
        raise OmicsInputError(f"no composition rows for tissue {tissue!r}")
    counts = c.pivot_table(index="sample_id", columns="cell_type", values="n_cells", aggfunc="sum", fill_value=0)
    counts = counts.loc[:, counts.sum(axis=0) > 0]
    meta = c.drop_duplicates("sample_id").set_index("sample_id").loc[counts.index]
    return counts, meta


def _summary(d: pd.DataFrame, test: str) -> pd.DataFrame:
    d["q"] = bh(d["p"])
    d["test"] = test
    return d.sort_values("p").reset_index(drop=True)


def differential_abundance(comp: pd.DataFrame, *, design: str = "paired", tissue: str | None = "tumour",
                           pre: str = "baseline", post: str = "surgery", group: pd.Series | None = None,
                           timepoint: str = "baseline", min_samples: int = 3) -> pd.DataFrame:
    """Differential abundance of every cell type (one row per type), CLR scale, BH over types.

    design="paired": ``post`` vs ``pre`` within patient (samples of ``tissue``); columns
    ``cell_type, n_patients, mean_prop_pre, mean_prop_post, clr_change, ci_low, ci_high, t, p,
    p_wilcoxon, q``.

    design="groups": ``group`` (Series indexed by ``patient_id``, True = responder) compared at
    ``timepoint`` (or ``"change"`` = post − pre); columns ``cell_type, n_true, n_false,
    clr_true, clr_false, clr_difference, t, p, p_mannwhitney, q``.
    """
    counts, meta = _wide(comp, tissue)
    z = clr(counts)
    types = list(z.columns)
    if design == "paired" or timepoint == "change":
        pid = meta["patient_id"]
        tp = meta["timepoint"]
        a = z[tp.to_numpy() == pre].set_axis(pid[tp == pre].to_numpy())
        b = z[tp.to_numpy() == post].set_axis(pid[tp == post].to_numpy())
        a = a[~a.index.duplicated()]
        b = b[~b.index.duplicated()]
        both = a.index.intersection(b.index)
        delta = b.loc[both] - a.loc[both]
        props = counts.div(counts.sum(axis=1), axis=0)
    if design == "paired":
        n = len(both)
        if n < min_samples:
            raise OmicsInputError(f"paired differential abundance ({tissue}, {pre} → {post}) needs at least "
                                  f"{min_samples} patients with both samples; found {n}")
        mean = delta.mean()
        se = delta.std(ddof=1) / np.sqrt(n)
        t = mean / se
        p = 2 * stats.t.sf(np.abs(t), df=n - 1)
        tcrit = stats.t.ppf(0.975, df=n - 1)
        pw = [stats.wilcoxon(delta[c]).pvalue if (delta[c] != 0).any() else 1.0 for c in types]
        pre_ids = meta.index[(tp == pre).to_numpy() & pid.isin(both).to_numpy()]
        post_ids = meta.index[(tp == post).to_numpy() & pid.isin(both).to_numpy()]
        out = pd.DataFrame({
            "cell_type": types, "n_patients": n,
            "mean_prop_pre": props.loc[pre_ids].mean().to_numpy(), "mean_prop_post": props.loc[post_ids].mean().to_numpy(),
            "clr_change": mean.to_numpy(), "ci_low": (mean - tcrit * se).to_numpy(), "ci_high": (mean + tcrit * se).to_numpy(),
            "t": t.to_numpy(), "p": np.asarray(p), "p_wilcoxon": pw,
        })
        out["tissue"], out["contrast"] = tissue, f"{post} vs {pre} (paired by patient)"
        return _summary(out, "paired t on CLR")
    if design != "groups":
        raise ValueError("design must be 'paired' or 'groups'")
    if group is None:
        raise ValueError("design='groups' needs group (Series indexed by patient_id)")
    g = group.dropna().astype(bool)
    if timepoint == "change":
        values = delta
    else:
        sel = (meta["timepoint"] == timepoint).to_numpy()
        values = z[sel].set_axis(meta["patient_id"][sel].to_numpy())
        values = values[~values.index.duplicated()]
    values = values[values.index.isin(g.index)]
    lab = g.reindex(values.index).to_numpy()
    x, y = values[lab], values[~lab]
    if len(x) < min_samples or len(y) < min_samples:
        raise OmicsInputError(f"responder comparison ({tissue}, {timepoint}) needs at least {min_samples} "
                              f"patients per group; found {len(x)} and {len(y)}")
    t, p = stats.ttest_ind(x, y, equal_var=False)
    pm = [stats.mannwhitneyu(x[c], y[c]).pvalue for c in types]
    out = pd.DataFrame({"cell_type": types, "n_true": len(x), "n_false": len(y),
                        "clr_true": x.mean().to_numpy(), "clr_false": y.mean().to_numpy(),
                        "clr_difference": (x.mean() - y.mean()).to_numpy(),
                        "t": np.asarray(t), "p": np.asarray(p), "p_mannwhitney": pm})
    out["tissue"], out["contrast"] = tissue, f"responder vs non-responder at {timepoint}"
    return _summary(out, "Welch t on CLR")
