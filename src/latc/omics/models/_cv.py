"""Nested cross-validation split by patient, with every data-dependent step inside the folds.

Why: with thousands of candidate features and ~100 patients, choosing features (or a penalty, or
an imputation median, or a scaling) on all patients and then cross-validating the last step gives
optimistic accuracy on pure noise (Ambroise & McLachlan, *PNAS* 2002;99:6562; Varma & Simon,
*BMC Bioinformatics* 2006;7:91). Samples of one patient (two tumour cores, baseline and
on-treatment) share the patient's biology, so a split by sample puts the same patient on both
sides. Here:

* the **outer** folds (``StratifiedGroupKFold`` with ``groups = patient_id``) give the held-out
  predictions that are evaluated; no row of a test patient is ever seen while fitting;
* within each outer training set, a fresh preprocessing (median imputation, standardisation), a
  **univariate filter** (top ``n_features`` by the ANOVA F / t statistic for a binary outcome, by
  the Cox score statistic for time to event) and a **penalised model** (L1 or elastic-net logistic
  regression; penalised Cox via scikit-survival ``CoxnetSurvivalAnalysis``) are fitted;
* the **inner** folds (again grouped by patient) tune the penalty: the value with the best mean
  inner AUC (Harrell's C) is chosen, ties going to the stronger penalty;
* **calibration** (binary outcome): the inner out-of-fold scores at the chosen penalty are pooled
  and a Platt logistic map ``P(y=1) = expit(a + b·score)`` is fitted on them; it converts the
  outer-test scores of the model refitted on the whole outer training set into probabilities.
  This is scikit-learn's ``CalibratedClassifierCV(method="sigmoid", ensemble=False)`` with the
  grouped inner folds, obtained without refitting (the penalised fit's own probabilities are
  shrunk towards the prevalence).

Columns named in ``keep`` (e.g. clinical covariates of a clinical + omics model) always pass the
univariate filter; they are penalised like every other column.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.preprocessing import StandardScaler
from sklearn.impute import SimpleImputer

from latc.omics._manifest import OmicsInputError

#: Default grid of inverse L1 penalties for the logistic model (scaled features).
DEFAULT_CS: tuple[float, ...] = tuple(np.logspace(-2, 1, 10))


@dataclass
class CVResult:
    """Outer-fold predictions and what each outer fold chose.

    ``predictions``: one row per input row — ``row`` (the input index), ``patient_id``, ``fold``,
    the outcome (``y``; or ``time``, ``event``), ``score`` (logistic decision value / Cox linear
    predictor, higher = more likely responder / higher risk) and, for a binary outcome, the
    calibrated ``probability``. ``patient_predictions``: the same averaged per patient (the unit
    of every evaluation). ``selection``: features × folds, the fitted coefficient on the
    standardised feature (0 = not selected). ``folds``: per outer fold, sizes, the chosen penalty,
    the number of selected features and the inner-CV score of that penalty.
    """

    predictions: pd.DataFrame
    patient_predictions: pd.DataFrame
    selection: pd.DataFrame
    folds: pd.DataFrame
    outcome: str
    settings: dict = field(default_factory=dict)

    @property
    def stability(self) -> pd.DataFrame:
        """Per feature: fraction of outer folds that selected it and its mean coefficient."""
        sel = self.selection
        out = pd.DataFrame({"selected_fraction": (sel != 0).mean(axis=1),
                            "mean_coefficient": sel.mean(axis=1)})
        return out.sort_values(["selected_fraction", "mean_coefficient"], ascending=[False, False],
                               key=lambda s: s.abs() if s.name == "mean_coefficient" else s)


# ----------------------------------------------------------------------------------------------
# input checks
# ----------------------------------------------------------------------------------------------
def _prepare(X: pd.DataFrame, groups, context: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if not isinstance(X, pd.DataFrame):
        raise OmicsInputError(f"{context}: features must be a DataFrame (rows = samples or patients)")
    g = np.asarray(X.index if groups is None else groups).astype(str)
    if len(g) != len(X):
        raise OmicsInputError(f"{context}: groups has {len(g)} entries for {len(X)} rows")
    if X.shape[1] == 0:
        raise OmicsInputError(f"{context}: no feature columns")
    try:
        A = np.array(X.to_numpy(dtype="float64", na_value=np.nan), copy=True)
    except (TypeError, ValueError):
        bad = [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c].dtype)
               and not pd.api.types.is_bool_dtype(X[c].dtype)]
        raise OmicsInputError(f"{context}: non-numeric feature column(s): {', '.join(map(str, bad[:5]))}") from None
    A[~np.isfinite(A)] = np.nan
    return A, g, [str(c) for c in X.columns]


def _binary(y, n: int, context: str) -> np.ndarray:
    v = pd.Series(np.asarray(y)).astype("float64") if not isinstance(y, pd.Series) else y.astype("float64")
    v = np.asarray(v, dtype="float64")
    if len(v) != n:
        raise OmicsInputError(f"{context}: outcome has {len(v)} values for {n} rows")
    ok = ~np.isnan(v)
    if not np.isin(v[ok], (0.0, 1.0)).all():
        raise OmicsInputError(f"{context}: the outcome must be binary 0/1 (found {sorted(set(v[ok]))[:5]})")
    return v


def _group_labels_constant(v: np.ndarray, g: np.ndarray, context: str) -> None:
    s = pd.Series(v).groupby(g).nunique()
    if (s > 1).any():
        raise OmicsInputError(f"{context}: patient {s.index[s > 1][0]} has rows with different outcomes")


def _check_folds(y: np.ndarray, g: np.ndarray, k: int, context: str) -> None:
    per = pd.Series(y).groupby(g).first()
    n_min = int(min((per == 1).sum(), (per == 0).sum()))
    if n_min < k:
        raise OmicsInputError(f"{context}: {n_min} patient(s) in the smaller outcome class; "
                              f"{k}-fold cross-validation needs at least {k}")


# ----------------------------------------------------------------------------------------------
# fold-internal steps
# ----------------------------------------------------------------------------------------------
class _Prep:
    """Median imputation + standardisation + univariate filter, fitted on training rows only."""

    def __init__(self, n_features: int, keep: np.ndarray):
        self.n_features, self.keep = n_features, keep

    def fit(self, A: np.ndarray, stat_fn) -> "_Prep":
        self.imp = SimpleImputer(strategy="median", keep_empty_features=True).fit(A)
        Z = self.imp.transform(A)
        self.sc = StandardScaler().fit(Z)
        Z = self.sc.transform(Z)
        stat = np.nan_to_num(np.abs(stat_fn(Z)), nan=0.0)
        stat[self.keep] = np.inf
        k = min(self.n_features + int(self.keep.sum()), A.shape[1])
        self.cols = np.sort(np.argsort(-stat, kind="stable")[:k])
        return self

    def transform(self, A: np.ndarray) -> np.ndarray:
        return self.sc.transform(self.imp.transform(A))[:, self.cols]


def _f_stat(y: np.ndarray):
    """ANOVA F (= t² for two groups) of each standardised column against a binary y."""
    def stat(Z: np.ndarray) -> np.ndarray:
        n1, n0 = (y == 1).sum(), (y == 0).sum()
        m1, m0 = Z[y == 1].mean(axis=0), Z[y == 0].mean(axis=0)
        ss_w = ((Z[y == 1] - m1) ** 2).sum(axis=0) + ((Z[y == 0] - m0) ** 2).sum(axis=0)
        ss_b = n1 * n0 / (n1 + n0) * (m1 - m0) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            return ss_b / (ss_w / (n1 + n0 - 2))
    return stat


def cox_score_z(Z: np.ndarray, time: np.ndarray, event: np.ndarray) -> np.ndarray:
    """Per-column Cox score-test z (β = 0, Breslow ties), vectorised over columns.

    U = Σ_events (x_i − x̄_R(t_i)), I = Σ_events var_R(t_i)(x) with R(t) the risk set {time ≥ t};
    z = U / √I. Used to rank features for the survival filter (Cox, *JRSS B* 1972).
    """
    order = np.argsort(-time, kind="stable")
    t, e, X = time[order], event[order].astype(bool), Z[order]
    s0 = np.arange(1, len(t) + 1, dtype=float)
    s1, s2 = np.cumsum(X, axis=0), np.cumsum(X * X, axis=0)
    # with ties every member of a tied block sees the whole block (risk set = time ≥ t)
    last = np.searchsorted(-t, -t, side="right") - 1
    s0, s1, s2 = s0[last], s1[last], s2[last]
    mean = s1[e] / s0[e, None]
    u = (X[e] - mean).sum(axis=0)
    info = (s2[e] / s0[e, None] - mean ** 2).sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(info > 1e-12, u / np.sqrt(info), 0.0)


def _auc(y: np.ndarray, s: np.ndarray) -> float:
    """Mann–Whitney AUC with ties counted ½."""
    from scipy.stats import rankdata
    n1, n0 = (y == 1).sum(), (y == 0).sum()
    if n1 == 0 or n0 == 0:
        return np.nan
    r = rankdata(s)
    return float((r[y == 1].sum() - n1 * (n1 + 1) / 2) / (n1 * n0))


def _logistic(C: float, l1_ratio: float, seed: int) -> LogisticRegression:
    if l1_ratio in (0.0, 1.0):
        return LogisticRegression(C=C, l1_ratio=l1_ratio, solver="liblinear", max_iter=1000, random_state=seed)
    return LogisticRegression(C=C, l1_ratio=l1_ratio, solver="saga", max_iter=5000, tol=1e-3, random_state=seed)


def _platt(score: np.ndarray, y: np.ndarray) -> LogisticRegression:
    return LogisticRegression(C=1e6, solver="lbfgs").fit(score.reshape(-1, 1), y.astype(int))


def _splits(y: np.ndarray, g: np.ndarray, k: int, seed: int):
    return list(StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed).split(np.zeros(len(y)), y, g))


def _patient_table(pred: pd.DataFrame, cols: Sequence[str]) -> pd.DataFrame:
    agg = pred.groupby("patient_id", sort=True).agg({c: "mean" for c in cols} | {"fold": "first"})
    agg["n_rows"] = pred.groupby("patient_id", sort=True).size()
    return agg.reset_index()


# ----------------------------------------------------------------------------------------------
# binary outcome
# ----------------------------------------------------------------------------------------------
def nested_cv(X: pd.DataFrame, y, *, groups=None, outer_folds: int = 5, inner_folds: int = 3,
              n_features: int = 50, l1_ratio: float = 1.0, Cs: Sequence[float] = DEFAULT_CS,
              keep: Sequence[str] = (), seed: int = 0) -> CVResult:
    """Nested, patient-grouped cross-validation of a penalised logistic model for a binary outcome.

    Parameters
    ----------
    X : rows = patients or samples, numeric feature columns (NaN allowed; imputed inside folds).
    y : 0/1 outcome per row (rows with a missing outcome are dropped); constant within a patient.
    groups : patient id per row; default ``X.index`` (a patient-level matrix).
    outer_folds, inner_folds : numbers of folds (``StratifiedGroupKFold``, shuffled with ``seed``).
    n_features : the univariate filter keeps this many columns (plus ``keep``) per training set.
    l1_ratio : 1 = L1 (lasso, liblinear), between 0 and 1 = elastic net (saga).
    Cs : grid of inverse penalty strengths tuned by the inner folds.
    keep : columns that always pass the filter.
    seed : seeds the fold assignment (the outer and inner splits).

    Raises
    ------
    OmicsInputError for non-numeric features, a non-binary outcome, an outcome that differs
    between rows of one patient, or fewer patients in a class than folds.
    """
    ctx = "nested_cv"
    A, g, names = _prepare(X, groups, ctx)
    v = _binary(y, len(A), ctx)
    ok = ~np.isnan(v)
    A, g, v, rows = A[ok], g[ok], v[ok].astype(int), np.asarray(X.index)[ok]
    _group_labels_constant(v, g, ctx)
    _check_folds(v, g, outer_folds, ctx)
    keep_mask = np.isin(names, list(keep))
    Cs = np.sort(np.asarray(Cs, dtype=float))
    score = np.full(len(v), np.nan)
    prob = np.full(len(v), np.nan)
    fold_of = np.full(len(v), -1)
    sel = np.zeros((len(names), outer_folds))
    fold_rows = []
    for f, (tr, te) in enumerate(_splits(v, g, outer_folds, seed)):
        inner = _splits(v[tr], g[tr], inner_folds, seed + 1 + f)
        oof = np.full((len(tr), len(Cs)), np.nan)
        inner_auc = np.full((len(inner), len(Cs)), np.nan)
        for i, (itr, ite) in enumerate(inner):
            a_tr, a_te, y_tr = A[tr][itr], A[tr][ite], v[tr][itr]
            prep = _Prep(n_features, keep_mask).fit(a_tr, _f_stat(y_tr))
            z_tr, z_te = prep.transform(a_tr), prep.transform(a_te)
            for j, C in enumerate(Cs):
                m = _logistic(C, l1_ratio, seed).fit(z_tr, y_tr)
                oof[ite, j] = m.decision_function(z_te)
                inner_auc[i, j] = _auc(v[tr][ite], oof[ite, j])
        mean_auc = np.nanmean(inner_auc, axis=0)
        best = int(np.nanargmax(mean_auc))               # first maximum = strongest penalty
        prep = _Prep(n_features, keep_mask).fit(A[tr], _f_stat(v[tr]))
        model = _logistic(Cs[best], l1_ratio, seed).fit(prep.transform(A[tr]), v[tr])
        s_te = model.decision_function(prep.transform(A[te]))
        cal = _platt(oof[:, best], v[tr])
        score[te], prob[te], fold_of[te] = s_te, cal.predict_proba(s_te.reshape(-1, 1))[:, 1], f
        sel[prep.cols, f] = model.coef_.ravel()
        fold_rows.append({"fold": f, "n_train_rows": len(tr), "n_test_rows": len(te),
                          "n_train_patients": len(np.unique(g[tr])), "n_test_patients": len(np.unique(g[te])),
                          "C": Cs[best], "n_selected": int((model.coef_ != 0).sum()),
                          "inner_auc": float(mean_auc[best]), "platt_slope": float(cal.coef_[0, 0]),
                          "platt_intercept": float(cal.intercept_[0])})
    pred = pd.DataFrame({"row": rows, "patient_id": g, "fold": fold_of, "y": v, "score": score,
                         "probability": prob})
    pp = _patient_table(pred, ["y", "score", "probability"])
    pp["y"] = pp["y"].astype(int)
    selection = pd.DataFrame(sel, index=pd.Index(names, name="feature"),
                             columns=[f"fold{f}" for f in range(outer_folds)])
    return CVResult(predictions=pred, patient_predictions=pp, selection=selection,
                    folds=pd.DataFrame(fold_rows), outcome="binary",
                    settings={"outer_folds": outer_folds, "inner_folds": inner_folds, "n_features": n_features,
                              "l1_ratio": l1_ratio, "Cs": list(map(float, Cs)), "keep": list(keep), "seed": seed,
                              "calibration": "Platt on pooled inner out-of-fold scores"})


# ----------------------------------------------------------------------------------------------
# time to event (RFS)
# ----------------------------------------------------------------------------------------------
def _survival(time, event, n: int, context: str) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(pd.to_numeric(pd.Series(np.asarray(time)), errors="coerce"), dtype=float)
    e = np.asarray(pd.to_numeric(pd.Series(np.asarray(event, dtype=object)), errors="coerce"), dtype=float)
    if len(t) != n or len(e) != n:
        raise OmicsInputError(f"{context}: time/event have {len(t)}/{len(e)} values for {n} rows")
    ok = ~np.isnan(t) & ~np.isnan(e)
    if not np.isin(e[ok], (0.0, 1.0)).all():
        raise OmicsInputError(f"{context}: event must be 0/1")
    if (t[ok] <= 0).any():
        raise OmicsInputError(f"{context}: times must be > 0 (found {t[ok].min()})")
    return t, e


def _harrell(t: np.ndarray, e: np.ndarray, r: np.ndarray) -> float:
    from sksurv.metrics import concordance_index_censored
    if e.sum() == 0 or np.ptp(r) == 0:
        return 0.5
    return float(concordance_index_censored(e.astype(bool), t, r)[0])


def nested_cv_cox(X: pd.DataFrame, time, event, *, groups=None, outer_folds: int = 5, inner_folds: int = 3,
                  n_features: int = 50, l1_ratio: float = 0.5, n_alphas: int = 20, alpha_min_ratio: float = 0.05,
                  keep: Sequence[str] = (), seed: int = 0) -> CVResult:
    """Nested, patient-grouped cross-validation of a penalised Cox model (RFS).

    The outer and inner folds are stratified by the event indicator and grouped by patient. In
    each outer training set the filter ranks columns by the Cox score-test z (:func:`cox_score_z`);
    scikit-survival ``CoxnetSurvivalAnalysis(l1_ratio=)`` fits the penalty path once on the outer
    training set, and the inner folds choose the ``alpha`` on that path with the best mean Harrell's
    C (ties → stronger penalty). ``score`` is the linear predictor (higher = higher risk).
    Arguments as :func:`nested_cv`; ``time``/``event`` per row (rows missing either are dropped).
    """
    from sksurv.linear_model import CoxnetSurvivalAnalysis
    from sksurv.util import Surv

    ctx = "nested_cv_cox"
    A, g, names = _prepare(X, groups, ctx)
    t, e = _survival(time, event, len(A), ctx)
    ok = ~np.isnan(t) & ~np.isnan(e)
    A, g, t, e, rows = A[ok], g[ok], t[ok], e[ok].astype(int), np.asarray(X.index)[ok]
    _group_labels_constant(t, g, ctx)
    _check_folds(e, g, outer_folds, ctx)
    keep_mask = np.isin(names, list(keep))
    score = np.full(len(t), np.nan)
    fold_of = np.full(len(t), -1)
    sel = np.zeros((len(names), outer_folds))
    fold_rows = []

    def coxnet(alphas=None):
        kw = {"alphas": alphas} if alphas is not None else {"n_alphas": n_alphas, "alpha_min_ratio": alpha_min_ratio}
        return CoxnetSurvivalAnalysis(l1_ratio=l1_ratio, max_iter=100000, **kw)

    def fit(model, Z, tt, ee):
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return model.fit(Z, Surv.from_arrays(ee.astype(bool), tt))

    for f, (tr, te) in enumerate(_splits(e, g, outer_folds, seed)):
        prep = _Prep(n_features, keep_mask).fit(A[tr], lambda Z, tt=t[tr], ee=e[tr]: cox_score_z(Z, tt, ee))
        path = fit(coxnet(), prep.transform(A[tr]), t[tr], e[tr]).alphas_
        inner = _splits(e[tr], g[tr], inner_folds, seed + 1 + f)
        cidx = np.full((len(inner), len(path)), np.nan)
        for i, (itr, ite) in enumerate(inner):
            a_tr, a_te = A[tr][itr], A[tr][ite]
            ip = _Prep(n_features, keep_mask).fit(a_tr, lambda Z, tt=t[tr][itr], ee=e[tr][itr]: cox_score_z(Z, tt, ee))
            try:
                m = fit(coxnet(path), ip.transform(a_tr), t[tr][itr], e[tr][itr])
            except ArithmeticError:
                continue
            z_te = ip.transform(a_te)
            for j, a in enumerate(m.alphas_):
                cidx[i, j] = _harrell(t[tr][ite], e[tr][ite], m.predict(z_te, alpha=a))
        mean_c = np.nanmean(cidx, axis=0)
        best = int(np.nanargmax(mean_c))                 # alphas_ descend: first max = strongest
        model = fit(coxnet(path), prep.transform(A[tr]), t[tr], e[tr])
        score[te] = model.predict(prep.transform(A[te]), alpha=path[best])
        fold_of[te] = f
        coef = model.coef_[:, best]
        sel[prep.cols, f] = coef
        fold_rows.append({"fold": f, "n_train_rows": len(tr), "n_test_rows": len(te),
                          "n_train_patients": len(np.unique(g[tr])), "n_test_patients": len(np.unique(g[te])),
                          "alpha": float(path[best]), "n_selected": int((coef != 0).sum()),
                          "inner_c": float(mean_c[best])})
    pred = pd.DataFrame({"row": rows, "patient_id": g, "fold": fold_of, "time": t, "event": e, "score": score})
    pp = _patient_table(pred, ["time", "event", "score"])
    pp["event"] = pp["event"].astype(int)
    selection = pd.DataFrame(sel, index=pd.Index(names, name="feature"),
                             columns=[f"fold{f}" for f in range(outer_folds)])
    return CVResult(predictions=pred, patient_predictions=pp, selection=selection,
                    folds=pd.DataFrame(fold_rows), outcome="survival",
                    settings={"outer_folds": outer_folds, "inner_folds": inner_folds, "n_features": n_features,
                              "l1_ratio": l1_ratio, "n_alphas": n_alphas, "alpha_min_ratio": alpha_min_ratio,
                              "keep": list(keep), "seed": seed})
