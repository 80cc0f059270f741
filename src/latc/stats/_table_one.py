"""Descriptive "Table 1" by group, as R ``tableone`` (``CreateTableOne`` / ``svyCreateTableOne``,
``print(..., smd = TRUE)``), tableone 0.13 conventions:

* n per group; categorical variables: n (%) per level, percentages of the non-missing values;
  continuous: mean (SD), or median [Q1, Q3] (R ``quantile`` type 7) for ``nonnormal`` variables;
  missing counts per variable and group;
* tests (unweighted): categorical → ``chisq.test`` (Yates' continuity correction for 2 × 2 tables,
  R's default) or ``fisher.test`` for the variables in ``exact`` (exact enumeration; tables with
  two groups or two levels only); continuous → one-way ANOVA
  (``oneway.test(var.equal = TRUE)``); nonnormal → Kruskal–Wallis (``kruskal.test``);
* SMD (absolute; with more than two groups the mean of all pairwise SMDs, as tableone prints):
  continuous and two-level variables use the pooled-SD SMD of :func:`latc.stats.balance`
  (SD² = (s₁² + s₀²)/2, p(1 − p) for a binary); a categorical variable with more than two levels
  uses the multivariate SMD of Yang & Dalton (SAS Global Forum 2012, paper 335):
  √((p̂₁ − p̂₀)ᵀ S⁻¹ (p̂₁ − p̂₀)), p̂ the level proportions without the first level and
  S = (S₁ + S₀)/2 with Sₖ = diag(p̂ₖ) − p̂ₖp̂ₖᵀ (generalised inverse);
* with ``weights`` (e.g. IPTW) the summaries are survey-weighted as ``svyCreateTableOne`` on
  ``svydesign(ids = ~1, weights = ~w)``: weighted n, weighted % (``svytable``), ``svymean``,
  SD = √``svyvar`` (= n/(n − 1) · Σw(x − x̄)²/Σw, n the group's size including patients missing
  the variable, as ``svyby(~x, ~group, design, svyvar, na.rm = TRUE)`` computes it), weighted quantiles (``svyquantile``,
  ``qrule = "math"``: the smallest x whose weighted ECDF reaches the probability); the weighted SMD
  uses those weighted means and variances (tableone's ``svyStdDiff``; note that cobalt and
  :func:`latc.stats.balance` keep the *unweighted* SD in the denominator instead). Design-based
  tests (Rao–Scott, ``svyglm``) are not computed: p is NA for a weighted table.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from latc._compat import positional_deprecated

from ._balance import balance
from ._errors import StatsInputError
from ._propensity import _levels

__all__ = ["table_one"]


def _is_categorical(s: pd.Series) -> bool:
    return (s.dtype == bool or isinstance(s.dtype, (pd.CategoricalDtype, pd.BooleanDtype))
            or not pd.api.types.is_numeric_dtype(s))


def _wquantile(x: np.ndarray, w: np.ndarray, probs) -> list[float]:
    """survey ``svyquantile(qrule = "math")``: smallest x with weighted ECDF ≥ p."""
    o = np.argsort(x, kind="stable")
    xs, cw = x[o], np.cumsum(w[o]) / w.sum()
    return [float(xs[min(np.searchsorted(cw, p - 1e-12 * cw[-1]), len(xs) - 1)]) for p in probs]


def _svyvar(x: np.ndarray, w: np.ndarray, n: int) -> float:
    """survey ``svyvar``: n/(n − 1) Σw(x − x̄)²/Σw. Within ``svyby(..., na.rm = TRUE)`` n counts
    every patient of the group with a positive weight, including those missing this variable."""
    if n < 2:
        return np.nan
    m = np.sum(w * x) / w.sum()
    return float(np.sum(w * (x - m) ** 2) / w.sum() * n / (n - 1))


def _yang_dalton(props: np.ndarray) -> float:
    """Mean over group pairs of the multivariate SMD; props: groups × levels (rows sum to 1)."""
    P = props[:, 1:] if props.shape[1] > 1 else props
    vals = []
    for i in range(len(P)):
        for j in range(i + 1, len(P)):
            cov = [np.diag(p) - np.outer(p, p) for p in (P[i], P[j])]
            S = (cov[0] + cov[1]) / 2
            d = P[i] - P[j]
            if np.all(S == 0):
                vals.append(0.0 if np.all(d == 0) else np.nan)
            else:
                vals.append(float(np.sqrt(max(d @ np.linalg.pinv(S) @ d, 0.0))))
    return float(np.mean(vals)) if vals else np.nan


def _pairwise_smd_unweighted(x: pd.Series, g: pd.Series, groups: list) -> float:
    """Mean |SMD| over group pairs via :func:`balance` (pooled SD, binary standardized)."""
    vals = []
    for i in range(len(groups)):
        for j in range(i + 1, len(groups)):
            keep = g.isin([groups[i], groups[j]]).to_numpy() & x.notna().to_numpy()
            frame = pd.DataFrame({"_grp": (g[keep] == groups[i]).to_numpy(), "_x": x[keep].to_numpy()})
            if frame["_grp"].nunique() < 2:
                vals.append(np.nan)
                continue
            if frame["_x"].nunique() < 2:
                vals.append(0.0)          # one constant across both groups: tableone defines 0
                continue
            tab = balance(frame, "_grp", ["_x"], estimand="ATE", binary="std")
            vals.append(abs(float(tab["diff_un"].iloc[0])))
    return float(np.mean(vals)) if vals else np.nan


_FISHER_MAX_TABLES = 5_000_000


def _fisher_exact(tab: np.ndarray) -> float:
    """Two-sided Fisher exact p for a 2 × c (or r × 2) table, as R ``fisher.test``: the sum of the
    probabilities of all tables with the observed margins that are not more probable than the
    observed one (R's relative tolerance 1e-7). Full enumeration of the first row (vectorised)."""
    from scipy.special import gammaln

    if tab.shape == (2, 2):
        return float(stats.fisher_exact(tab).pvalue)
    if tab.shape[0] != 2:
        tab = tab.T
    if tab.shape[0] != 2:
        raise StatsInputError("table_one: Fisher's exact test is available for tables with two groups or "
                              f"two levels; this one is {tab.shape[0]} x {tab.shape[1]} — use chi-squared")
    cols = tab.sum(axis=0)
    r1 = int(tab[0].sum())
    lchoose = lambda n, k: gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)  # noqa: E731
    part = np.zeros(1, dtype=np.int64)
    logp = np.zeros(1)
    for j, c in enumerate(cols):
        x = np.arange(int(c) + 1)
        part = (part[:, None] + x[None, :]).ravel()
        logp = (logp[:, None] + lchoose(c, x)[None, :]).ravel()
        rest = int(cols[j + 1:].sum())
        keep = (part <= r1) & (part + rest >= r1)
        part, logp = part[keep], logp[keep]
        if len(part) > _FISHER_MAX_TABLES:
            raise StatsInputError("table_one: too many tables for an exact Fisher test; use chi-squared")
    logp = logp - lchoose(cols.sum(), r1)
    obs = float(np.sum(lchoose(cols, tab[0])) - lchoose(cols.sum(), r1))
    return float(min(1.0, np.exp(logp[logp <= obs + np.log1p(1e-7)]).sum()))


def _fmt_num(v: float, digits: int) -> str:
    return "NA" if not np.isfinite(v) else f"{v:.{digits}f}"


def _checked_variables(df: pd.DataFrame, group: str, variables: Sequence[str], weights: str | None,
                       categorical: Sequence[str] | None, nonnormal: Sequence[str] | None,
                       exact: Sequence[str] | None) -> tuple[list[str], set[str], set[str], set[str]]:
    """The row variables as a list and the categorical, nonnormal and exact sets, after checking
    that every named column exists and the options name row variables only."""
    if not isinstance(df, pd.DataFrame):
        raise StatsInputError(f"table_one: expected a pandas DataFrame, got {type(df).__name__}")
    if isinstance(variables, str):
        variables = [variables]
    variables = list(variables)
    categorical_set = set(categorical or [])
    nonnormal_set = set(nonnormal or [])
    exact_set = set(exact or [])
    need = [group, *variables] + ([weights] if weights else [])
    absent = [c for c in need if c not in df.columns]
    if absent:
        raise StatsInputError(f"table_one: column(s) {absent} not found in the data")
    if not variables:
        raise StatsInputError("table_one: give at least one variable")
    if group in variables:
        raise StatsInputError(f"table_one: the group column '{group}' cannot also be a row variable")
    stray = (categorical_set | nonnormal_set | exact_set) - set(variables)
    if stray:
        raise StatsInputError(f"table_one: {sorted(stray)} are not among the variables")
    return variables, categorical_set, nonnormal_set, exact_set


def _case_weights(data: pd.DataFrame, weights: str | None) -> np.ndarray:
    """The weight of every row: the ``weights`` column (finite, non-negative), else 1."""
    if not weights:
        return np.ones(len(data))
    w_all = pd.to_numeric(data[weights], errors="coerce").to_numpy(float)
    if not np.isfinite(w_all).all() or (w_all < 0).any():
        raise StatsInputError(f"table_one: weights column '{weights}' must be finite, non-negative "
                              "and recorded for every patient")
    return w_all


def _categorical_test(counts: np.ndarray, exact: bool) -> tuple[float, str]:
    """p and test name for a groups × levels count table: chi-squared (Yates for 2 × 2) or, for an
    ``exact`` variable, Fisher's exact test; levels and groups never observed are left out."""
    tab = counts[:, counts.sum(axis=0) > 0].astype(np.int64)
    tab = tab[tab.sum(axis=1) > 0]
    if tab.shape[0] < 2 or tab.shape[1] < 2:
        return np.nan, "not computed (a single level or group observed)"
    if exact:
        return _fisher_exact(tab), "Fisher's exact test"
    p = float(stats.chi2_contingency(tab, correction=True).pvalue)
    return p, "chi-squared" + (" (Yates' correction)" if tab.shape == (2, 2) else "")


def _continuous_test(samples: list[np.ndarray], nonnormal: bool) -> tuple[float, str]:
    """p and test name for the per-group samples of a continuous variable (at least two groups
    observed): Kruskal–Wallis for a ``nonnormal`` variable, else one-way ANOVA."""
    if nonnormal:
        if len(np.unique(np.concatenate(samples))) > 1:
            return float(stats.kruskal(*samples).pvalue), "Kruskal-Wallis"
    elif all(len(a) > 0 for a in samples) and sum(len(a) for a in samples) > len(samples):
        return float(stats.f_oneway(*samples).pvalue), "one-way ANOVA (equal variances)"
    return np.nan, ""


def _weighted_pairwise_smd(moments: list[tuple[float, float]]) -> float:
    """Mean over group pairs of |m₁ − m₀| / √((s₁² + s₀²)/2) from the groups' weighted (mean, SD)
    (tableone's ``svyStdDiff``); 0 for two identical constant groups."""
    pairs = []
    for i in range(len(moments)):
        for j in range(i + 1, len(moments)):
            (m1, s1), (m0, s0) = moments[i], moments[j]
            denom = np.sqrt((s1 ** 2 + s0 ** 2) / 2)
            pairs.append(0.0 if m1 == m0 and denom == 0 else abs(m1 - m0) / denom)
    return float(np.mean(pairs))


def _method_note(weighted: bool) -> str:
    """``attrs["method"]``: the conventions used."""
    return ("tableone conventions: % of non-missing; mean (SD) / median [IQR] (type 7 quantiles); "
            + ("survey-weighted summaries (svydesign(ids = ~1, weights)), weighted SMD with weighted SDs, "
               "no p-values; " if weighted else
               "chi-squared (Yates for 2x2) / Fisher exact, one-way ANOVA, Kruskal-Wallis; ")
            + "SMD: pooled SD (balance), Yang-Dalton multivariate for >2 levels, mean of pairwise SMDs for >2 groups")


class _TableBuilder:
    """The rows of one table (formatted records and the long-format numbers), built variable by
    variable over the groups of ``data``."""

    def __init__(self, data: pd.DataFrame, group: str, weights: str | None, *, nonnormal: set[str],
                 exact: set[str], tests: bool, digits: int, cat_digits: int):
        self.data, self.weights = data, weights
        self.nonnormal, self.exact, self.tests = nonnormal, exact, tests
        self.digits, self.cat_digits = digits, cat_digits
        self.groups = _levels(data[group])
        self.g = data[group]
        self.w_all = _case_weights(data, weights)
        self.gmask = {k: (self.g == k).to_numpy() for k in self.groups}
        self.records: list[dict] = []
        self.long_rows: list[dict] = []

    def add(self, variable, level, statistic, cells, p=np.nan, test="", smd=np.nan, smd_w=np.nan,
            missing=np.nan) -> None:
        """One formatted row: a cell per group, then p, test, SMD(s) and the missing count."""
        rec = {"variable": variable, "level": level, "statistic": statistic}
        rec.update({str(k): cells[k] for k in self.groups})
        rec.update({"p": p, "test": test, "smd": smd})
        if self.weights:
            rec["smd_weighted"] = smd_w
        rec["missing"] = missing
        self.records.append(rec)

    def add_n(self) -> None:
        """The first row: n per group (weighted n with weights)."""
        w_all, gmask = self.w_all, self.gmask
        self.add("n", "", "n", {k: (_fmt_num(w_all[gmask[k]].sum(), self.cat_digits) if self.weights
                                    else str(int(gmask[k].sum()))) for k in self.groups})
        for k in self.groups:
            self.long_rows.append({"variable": "n", "level": "", "group": k, "n": float(w_all[gmask[k]].sum())})

    def add_variable(self, v: str, categorical: bool) -> None:
        """The row(s) of variable ``v``: one per level for a categorical one, else one."""
        s = self.data[v]
        miss = s.isna().to_numpy()
        n_missing = int(miss.sum())
        if miss.all():
            self.add(v, "", "all missing", {k: "" for k in self.groups}, test="", missing=n_missing)
            return
        is_cat = categorical or _is_categorical(s)
        if v in self.nonnormal and is_cat:
            raise StatsInputError(f"table_one: '{v}' is categorical; it cannot be nonnormal")
        if is_cat:
            self._add_categorical(v, s, miss, n_missing)
        else:
            self._add_continuous(v, s, miss, n_missing)

    # -- categorical: n (%) per level -------------------------------------------------------------
    def _categorical_smds(self, s: pd.Series, levels: list, props: np.ndarray, ok: list[int]) -> tuple[float, float]:
        """(unweighted, weighted) SMD of a categorical variable: pooled-SD SMD of the second level
        for two levels, Yang & Dalton's multivariate SMD for more; the weighted one from the
        weighted proportions (NaN without weights)."""
        groups, gmask = self.groups, self.gmask
        smd_u = np.nan
        if len(groups) > 1:
            if self.weights:
                ucounts = np.array([[(gmask[k] & (s == lev).to_numpy()).sum() for lev in levels] for k in groups])
                uprops = ucounts[ok] / ucounts[ok].sum(axis=1, keepdims=True)
            else:
                uprops = props[ok]
            if len(levels) == 2:
                smd_u = _pairwise_smd_unweighted((s == levels[1]).astype(float).where(s.notna()), self.g, groups)
            else:
                smd_u = _yang_dalton(uprops) if len(ok) > 1 else np.nan
        smd_w = _yang_dalton(props[ok]) if self.weights and len(ok) > 1 else np.nan
        return smd_u, smd_w

    def _add_categorical(self, v: str, s: pd.Series, miss: np.ndarray, n_missing: int) -> None:
        groups, gmask, w_all = self.groups, self.gmask, self.w_all
        levels = _levels(s.dropna())
        counts = np.array([[w_all[gmask[k] & (s == lev).to_numpy()].sum() for lev in levels] for k in groups])
        tot = counts.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            props = counts / tot
        p, test = np.nan, ""
        if self.tests and not self.weights and len(groups) > 1:
            p, test = _categorical_test(counts, v in self.exact)
        ok = [i for i in range(len(groups)) if tot[i, 0] > 0]
        smd_u, smd_w = self._categorical_smds(s, levels, props, ok)
        for j, lev in enumerate(levels):
            cells = {}
            for i, k in enumerate(groups):
                c = counts[i, j]
                cnt = _fmt_num(c, self.cat_digits) if self.weights else str(int(c))
                cells[k] = f"{cnt} ({_fmt_num(100 * props[i, j], self.cat_digits)})"
                self.long_rows.append({"variable": v, "level": str(lev), "group": k, "n": float(c),
                                       "percent": float(100 * props[i, j]),
                                       "missing": float(w_all[gmask[k] & miss].sum())})
            first = j == 0
            self.add(v, str(lev), "n (%)", cells, p if first else np.nan, test if first else "",
                     smd_u if first else np.nan, smd_w if first else np.nan, n_missing if first else np.nan)

    # -- continuous: mean (SD) or median [IQR] ----------------------------------------------------
    def _summary(self, k, x: np.ndarray, miss: np.ndarray) -> tuple[float, float, float, float, float, np.ndarray, np.ndarray]:
        """Group ``k``'s mean, SD, median, Q1, Q3 (survey-weighted with weights), its values and weights."""
        sel = self.gmask[k] & ~miss
        xs, ws = x[sel], self.w_all[sel]
        if len(xs) == 0 or ws.sum() == 0:
            mean = sd = med = q1 = q3 = np.nan
        elif self.weights:
            mean = float(np.sum(ws * xs) / ws.sum())
            sd = float(np.sqrt(_svyvar(xs, ws, int((self.w_all[self.gmask[k]] > 0).sum()))))
            q1, med, q3 = _wquantile(xs, ws, (0.25, 0.5, 0.75))
        else:
            mean = float(xs.mean())
            sd = float(xs.std(ddof=1)) if len(xs) > 1 else np.nan
            q1, med, q3 = (float(q) for q in np.quantile(xs, [0.25, 0.5, 0.75]))
        return mean, sd, med, q1, q3, xs, ws

    def _add_continuous(self, v: str, s: pd.Series, miss: np.ndarray, n_missing: int) -> None:
        groups, digits = self.groups, self.digits
        try:
            x = pd.to_numeric(s).to_numpy(float)
        except (TypeError, ValueError):
            raise StatsInputError(f"table_one: '{v}' is not numeric; list it in categorical") from None
        nonnormal = v in self.nonnormal
        cells, moments, values = {}, {}, {}
        for k in groups:
            mean, sd, med, q1, q3, values[k], ws = self._summary(k, x, miss)
            moments[k] = (mean, sd)
            self.long_rows.append({"variable": v, "level": "", "group": k, "n": float(ws.sum()), "mean": mean, "sd": sd,
                                   "median": med, "q1": q1, "q3": q3,
                                   "missing": float(self.w_all[self.gmask[k] & miss].sum())})
            if nonnormal:
                cells[k] = f"{_fmt_num(med, digits)} [{_fmt_num(q1, digits)}, {_fmt_num(q3, digits)}]"
            else:
                cells[k] = f"{_fmt_num(mean, digits)} ({_fmt_num(sd, digits)})"
        p, test = np.nan, ""
        samples = [values[k] for k in groups if len(values[k]) > 0]
        if self.tests and not self.weights and len(samples) > 1:
            p, test = _continuous_test(samples, nonnormal)
        smd_u = _pairwise_smd_unweighted(pd.Series(x, index=s.index), self.g, groups) if len(groups) > 1 else np.nan
        smd_w = np.nan
        if self.weights and len(groups) > 1:
            smd_w = _weighted_pairwise_smd([moments[k] for k in groups])
        self.add(v, "", "median [IQR]" if nonnormal else "mean (SD)", cells, p, test, smd_u, smd_w, n_missing)


@positional_deprecated
def table_one(df: pd.DataFrame, group: str, variables: Sequence[str], *, weights: str | None = None,
              categorical: Sequence[str] | None = None, nonnormal: Sequence[str] | None = None,
              tests: bool = True, exact: Sequence[str] | None = None, digits: int = 2, cat_digits: int = 1,
              numbers: bool = False) -> pd.DataFrame:
    """Descriptive table by group (see the module notes for the conventions and R equivalents).

    Parameters
    ----------
    group : the grouping column (e.g. cohort); rows with a missing group are left out.
    variables : the rows of the table, in order.
    weights : optional case-weight column → survey-weighted summaries and weighted SMD.
    categorical : numeric columns to treat as categorical (strings, booleans and pandas
        categoricals are categorical anyway).
    nonnormal : continuous variables summarised by median [IQR] and tested by Kruskal–Wallis.
    tests : compute p-values (unweighted tables only).
    exact : categorical variables tested with Fisher's exact test instead of chi-squared.

    Returns
    -------
    DataFrame with columns variable, level, statistic, one formatted column per group, p, test,
    smd (unweighted), smd_weighted (with weights), missing (count over all groups, on the
    variable's first row); ``attrs["method"]`` the conventions used. With ``numbers=True``, the
    numbers behind the cells instead (long format: variable, level, group, n, percent, mean, sd,
    median, q1, q3, missing) — until December 2026 in ``attrs["numbers"]`` (a DataFrame in
    ``attrs`` breaks pandas' concat and comparison of such tables).
    """
    variables, categorical_set, nonnormal_set, exact_set = _checked_variables(
        df, group, variables, weights, categorical, nonnormal, exact)
    data = df.loc[df[group].notna()]
    if len(data) == 0:
        raise StatsInputError(f"table_one: the group column '{group}' is missing in every row")
    table = _TableBuilder(data, group, weights, nonnormal=nonnormal_set, exact=exact_set, tests=tests,
                          digits=digits, cat_digits=cat_digits)
    table.add_n()
    for v in variables:
        table.add_variable(v, v in categorical_set)
    out = pd.DataFrame.from_records(table.long_rows if numbers else table.records)
    out.attrs["method"] = _method_note(bool(weights))
    return out
