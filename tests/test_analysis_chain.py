"""The whole chain on the synthetic cohort: synthesize → derive → analysis plan → truth recovered.

The generator (docs/synthetic.md, ``truth.json``) plants confounding by indication (sicker patients
get neoadjuvant therapy) and a protective neoadjuvant effect on recurrence/progression: conditional
HR 0.70 (Cox on the confounders with center strata), marginal HR ≈ 0.75 (ATE) / ≈ 0.76 (ATT). The
analysis must recover them — adjusted Cox for the conditional HR, IPTW for the ATE, matching for
the ATT, each 95 % CI covering the truth — while the naive unadjusted HR is biased to harm (its CI
lies above 1, excluding the truth). Expected values are read from ``truth.json``, never computed by
latc.analysis.
"""

from __future__ import annotations

import pandas as pd
import pytest

from latc.analysis import AnalysisOptions, run_analysis
from latc.derive.datasets import derive_datasets
from latc.synth import synthesize

SECTIONS = ["comparative", "competing", "sensitivity", "subgroups"]


def _chain(n: int, seed: int, sections=SECTIONS):
    s = synthesize(n_patients=n, n_centers=8, seed=seed)
    # eligibility as validation would give it (the generator's screen failures)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)
    res = run_analysis(ds, AnalysisOptions(imputations=3, imputation_iterations=3), sections=sections)
    return s.truth, res


def _recurrence(res) -> pd.DataFrame:
    hr = res.table("comparative", "hazard_ratios")
    return hr[hr["endpoint"] == "recurrence"].set_index("analysis")


def _check_truth(truth: dict, rec: pd.DataFrame) -> None:
    eff = truth["effects"]["recurrence"]
    def covers(analysis: str, value: float) -> None:
        r = rec.loc[analysis]
        assert r["lower"] < value < r["upper"], f"{analysis}: CI {r['lower']:.3f}-{r['upper']:.3f} misses {value:.3f}"
    covers("adjusted", eff["conditional_hr"])
    covers("iptw_ate", eff["marginal_hr_ate"])
    covers("ps_matched", eff["marginal_hr_att"])
    _check_naive_biased(truth, rec)


def _check_naive_biased(truth: dict, rec: pd.DataFrame) -> None:
    eff = truth["effects"]["recurrence"]
    naive = rec.loc["naive"]
    # confounding by indication: the crude HR points to harm and its CI excludes every true HR
    assert naive["hr"] > 1 and naive["lower"] > max(eff["marginal_hr_ate"], eff["marginal_hr_att"], eff["conditional_hr"])


@pytest.fixture(scope="module")
def chain():
    return _chain(2000, 1)


def test_adjusted_matched_weighted_hrs_recover_truth_naive_is_biased(chain):
    truth, res = chain
    _check_truth(truth, _recurrence(res))


def test_weighted_estimates_use_robust_se_and_center_strata(chain):
    _, res = chain
    rec = _recurrence(res)
    for a in ("iptw_ate", "overlap_ato", "ps_matched"):
        assert rec.loc[a, "se_type"] == "robust (sandwich)"
        assert rec.loc[a, "strata"] == "center"
    assert rec.loc["ps_matched", "cluster"] == "subclass"
    assert rec.loc["naive", "se_type"] == "model-based" and rec.loc["naive", "strata"] == ""
    # matched analysis uses fewer patients than the whole comparison (caliper), weighting all of them
    assert rec.loc["ps_matched", "n"] < rec.loc["iptw_ate", "n"] == rec.loc["naive", "n"]


def test_balance_improves_after_weighting_and_matching(chain):
    _, res = chain
    love = res.table("comparative", "love_plot")
    for adj in ("iptw_ate", "overlap_ato", "ps_matched"):
        d = love[love["adjustment"] == adj]
        before = d[d["sample"] == "Unadjusted"]["abs_smd"].max()
        after = d[d["sample"] == "Adjusted"]["abs_smd"].max()
        assert before > 0.2 and after < before / 2, (adj, before, after)
    # overlap weights balance the PS-model covariates exactly (Li, Morgan & Zaslavsky 2018)
    ato = love[(love["adjustment"] == "overlap_ato") & (love["sample"] == "Adjusted")]
    assert ato["abs_smd"].max() < 1e-6


def test_competing_and_sensitivity_agree_in_direction_with_truth(chain):
    truth, res = chain
    fg = res.table("competing", "fine_gray").set_index("model")
    assert fg.loc["unadjusted", "shr"] > 1 > fg.loc["adjusted", "upper"]
    sens = res.table("sensitivity", "hazard_ratios").set_index("analysis")
    mi = sens[sens.index.str.startswith("multiple imputation")].iloc[0]
    assert mi["lower"] < truth["effects"]["recurrence"]["conditional_hr"] < mi["upper"]
    cc = sens.loc["complete case (BRAF and TERT tested)"]
    assert cc["n"] < mi["n"]
    ev = res.table("comparative", "evalues")
    primary = ev[ev["primary"]].iloc[0]
    assert primary["analysis"] == "iptw_ate" and primary["evalue_point"] > 1


#: seeds of the coverage study and the fewest covering CIs a nominal 95 % procedure allows: with
#: 40 seeds, P(Binomial(40, 0.95) <= 33) = 0.34 %, so fewer than 34 would indicate under-coverage
COVERAGE_SEEDS = range(1, 41)
MIN_COVERED = 34


def test_truth_recovered_over_seeds():
    """A coverage study: 40 seeds of 2,000 patients, each CI checked against truth.json.

    Measured (docs/analysis_plan.md, "Recovery of the synthetic truth", 2026-12-04): adjusted 39/40,
    IPTW 37/40, matched 38/40; the naive HR above 1 with a CI excluding every truth in 40/40. The oracle
    estimator (true propensity, latent event times) misses on the same seeds (4 and 6; the adjusted CI misses seed 4 too), so the
    misses are sampling variation of the synthetic cohort, not of the analysis.
    """
    covered = {"adjusted": 0, "iptw_ate": 0, "ps_matched": 0}
    for seed in COVERAGE_SEEDS:
        truth, res = _chain(2000, seed, sections=["comparative"])
        rec = _recurrence(res)
        eff = truth["effects"]["recurrence"]
        _check_naive_biased(truth, rec)
        for a, v in (("adjusted", eff["conditional_hr"]), ("iptw_ate", eff["marginal_hr_ate"]),
                     ("ps_matched", eff["marginal_hr_att"])):
            covered[a] += int(rec.loc[a, "lower"] < v < rec.loc[a, "upper"])
    assert min(covered.values()) >= MIN_COVERED, covered
