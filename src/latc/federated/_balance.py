"""IPTW / overlap weights at the sites and the weighted balance table (SMDs), federated.

* Weights: each site computes its patients' weights from its own propensity scores
  (:func:`latc.federated.site_propensity` with the GLORE β̂) by WeightIt's formulas, exactly as
  :func:`latc.stats.weights` does (ATE 1/e, 1/(1 − e); ATT; ATO 1 − e, e). Stabilisation needs the
  pooled treated proportion, which the coordinator announces (``p_treated``). Quantile trimming and
  truncation need pooled quantiles of the PS/weights: not built (exact only on a shared grid).
* Balance (cobalt ``bal.tab`` conventions of :func:`latc.stats.balance`): per covariate row and
  treatment group each site sends n, Σx, Σx², Σw, Σw², Σwx, Σwx²; means, SDs, SMDs (unadjusted SD
  denominator), weighted variance ratios (Σw(x − m)²/(Σw − Σw²/Σw)) and Kish ESS follow exactly.
  The KS statistic of a continuous covariate needs the pooled weighted ECDF and is reported NaN
  (for a binary covariate it is |difference in proportions|, exact).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ._disclosure import DisclosurePolicy, FederatedInputError, check_messages
from ._messages import Message
from ._site import as_text, site_rows

__all__ = ["site_weights", "balance_rows", "site_balance", "combine_balance"]

_DEFAULT = DisclosurePolicy()
_DENOM_DEFAULT = {"ATT": "treated", "ATC": "control", "ATE": "pooled", "ATO": "pooled"}


def site_weights(df: pd.DataFrame, treatment: str, ps: np.ndarray, estimand: str = "ATE",
                 p_treated: float | None = None) -> np.ndarray:
    """The site's own weights (they stay at the site). ``p_treated``: pooled treated proportion,
    given → stabilised weights (WeightIt ``stabilize = TRUE``)."""
    t = pd.to_numeric(df[treatment]).to_numpy(dtype=float) == 1
    e = np.asarray(ps, dtype=float)
    estimand = estimand.upper()
    if estimand == "ATE":
        w = np.where(t, 1 / e, 1 / (1 - e))
    elif estimand == "ATT":
        w = np.where(t, 1.0, e / (1 - e))
    elif estimand == "ATO":
        w = np.where(t, 1 - e, e)
    else:
        raise FederatedInputError(f"weights: estimand must be ATE, ATT or ATO, not {estimand!r}")
    if p_treated is not None:
        w = w * np.where(t, p_treated, 1 - p_treated)
    return w


def balance_rows(levels_messages: Sequence[Message]) -> list[tuple[str, str, str, object]]:
    """cobalt's split of the covariates into rows, from the ``design_levels`` messages:
    [(row name, covariate, "Binary"/"Contin.", value making x = 1 or None)]."""
    msgs = check_messages(levels_messages, "design_levels")
    rows = []
    for c in msgs[0].payload["covariates"]:
        if msgs[0].payload["kinds"][c] == "numeric":
            two = [m.payload["two_values"][c] for m in msgs]
            u = sorted(set().union(*two)) if all(v is not None for v in two) else None
            if u is not None and len(u) == 2:
                rows.append((c, c, "Binary", float(u[1])))
            else:
                rows.append((c, c, "Contin.", None))
            continue
        present = set().union(*(m.payload["levels"][c] for m in msgs))
        declared = [m.payload["categories"][c] for m in msgs]
        if all(d is not None and d == declared[0] for d in declared):
            levels = [x for x in declared[0] if x in present]
        else:
            levels = sorted(present)
        use = levels[1:] if len(levels) == 2 else levels
        rows.extend((f"{c}_{lev}", c, "Binary", lev) for lev in use)
    return rows


def site_balance(df: pd.DataFrame, treatment: str, rows: Sequence, weights: np.ndarray | None, *, site: str,
                 policy: DisclosurePolicy = _DEFAULT) -> Message:
    """Per balance row and group (control, treated): n, Σx, Σx², Σw, Σw², Σwx, Σwx².
    Payload: rows, sums[row][group][7]. Cells: patients per group; for binary rows the patients
    with x = 1 and x = 0 per group."""
    covs = sorted({r[1] for r in rows})
    site_rows(df, site, policy, "balance", [treatment, *covs])
    t = pd.to_numeric(df[treatment]).to_numpy(dtype=float) == 1
    w = np.ones(len(df)) if weights is None else np.asarray(weights, dtype=float)
    cells = {"control patients": int((~t).sum()), "treated patients": int(t.sum())}
    sums = []
    for name, cov, kind, val in rows:
        s = df[cov]
        if kind == "Binary":
            if val is not None and not isinstance(val, str) and pd.api.types.is_numeric_dtype(s):
                x = (pd.to_numeric(s).to_numpy(dtype=float) == val).astype(float)
            else:
                x = (as_text(s) == val).astype(float)
        else:
            x = pd.to_numeric(s).to_numpy(dtype=float)
        per = []
        for gname, g in (("control", ~t), ("treated", t)):
            xg, wg = x[g], w[g]
            per.append([float(g.sum()), xg.sum(), (xg * xg).sum(), wg.sum(), (wg * wg).sum(),
                        (wg * xg).sum(), (wg * xg * xg).sum()])
            if kind == "Binary":
                cells[f"{name}=1 | {gname}"] = float(xg.sum())
                cells[f"{name}=0 | {gname}"] = float(g.sum() - xg.sum())
        sums.append(per)
    bad = policy.small_cells("balance", cells)
    if bad:
        return Message("balance", site, "balance_sums", {"rows": [r[0] for r in rows]}, bad)
    return Message("balance", site, "balance_sums", {"rows": [r[0] for r in rows], "sums": sums,
                                                     "weighted": weights is not None})


def _pooled_sums(messages: Sequence[Message]) -> tuple[np.ndarray, bool]:
    """The sites' balance sums added up (row × group × 7) and whether they are weighted."""
    msgs = check_messages(messages, "balance")
    S = np.sum([np.asarray(m.payload["sums"], dtype=float) for m in msgs], axis=0)
    return S, any(m.payload["weighted"] for m in msgs)


def combine_effective_sample_size(messages: Sequence[Message]) -> pd.DataFrame:
    """:func:`latc.stats.effective_sample_size` from the same ``balance_sums`` messages: rows All
    (n) and, for weighted sums, Adjusted (Kish (Σw)²/Σw²); columns control, treated."""
    S, weighted = _pooled_sums(messages)
    obs = {"All": [S[0][0][0], S[0][1][0]]}
    if weighted:
        obs["Adjusted"] = [S[0][g][3] ** 2 / S[0][g][4] for g in (0, 1)]
    return pd.DataFrame.from_dict(obs, orient="index", columns=["control", "treated"])


def combine_balance(messages: Sequence[Message], rows: Sequence, estimand: str = "ATE",
                    binary: str = "raw") -> pd.DataFrame:
    """The :func:`latc.stats.balance` table (ks of continuous rows NaN); the sample sizes are
    :func:`combine_effective_sample_size`."""
    S, weighted = _pooled_sums(messages)
    denom = _DENOM_DEFAULT[estimand.upper()]
    recs = []
    for i, (name, _, kind, _) in enumerate(rows):
        is_bin = kind == "Binary"
        (n0, s0, q0, *_), (n1, s1, q1, *_) = S[i]
        m1u, m0u = s1 / n1, s0 / n0
        v1 = m1u * (1 - m1u) if is_bin else (q1 - s1 * s1 / n1) / (n1 - 1)
        v0 = m0u * (1 - m0u) if is_bin else (q0 - s0 * s0 / n0) / (n0 - 1)
        sd = {"treated": np.sqrt(v1), "control": np.sqrt(v0), "pooled": np.sqrt((v1 + v0) / 2)}[denom]
        std = not is_bin or binary == "std"
        rec = {"variable": name, "type": kind,
               "diff_measure": "standardized mean difference" if std else "raw difference in proportions"}
        samples = [("un", 0)] + ([("adj", 1)] if weighted else [])
        for tag, wt in samples:
            stats_g = []
            for gi in (1, 0):
                n, sx, sxx, sw, sww, swx, swxx = S[i][gi]
                if wt == 0:
                    sw, sww, swx, swxx = n, n, sx, sxx
                m = swx / sw
                var = (swxx - swx * swx / sw) / (sw - sww / sw)
                stats_g.append((m, var))
            (m1, vt), (m0, vc) = stats_g
            rec[f"mean_treated_{tag}"] = m1
            rec[f"mean_control_{tag}"] = m0
            rec[f"diff_{tag}"] = (m1 - m0) / sd if std else m1 - m0
            rec[f"variance_ratio_{tag}"] = np.nan if is_bin else (vt / vc if vc > 0 else np.inf)
            rec[f"ks_{tag}"] = abs(m1 - m0) if is_bin else np.nan
        recs.append(rec)
    out = pd.DataFrame.from_records(recs).set_index("variable")
    out.attrs["method"] = (f"cobalt bal.tab conventions (federated sums): estimand {estimand}, SD denominator "
                           f"{denom}, binary {binary}; KS of continuous covariates not computed")
    return out
