"""Imputations in worker processes, and how many of them (issue #17 item 2).

* The m imputations (and their fits) run in ``n_jobs`` processes; each data set draws from its own
  stream of ``SeedSequence(seed)``, so every result is bit-identical for any ``n_jobs`` and a pilot
  can be extended (imputation i is the same in every run).
* von Hippel's two-stage quadratic rule (Sociol Methods Res 2020;49(3):699–718,
  doi:10.1177/0049124117747303): worked numbers from the R package howManyImputations 0.2.5
  (josherrickson/howManyImputations, R/how_many_imputations.R: ``fmiu <- plogis(qlogis(fmi) +
  z*sqrt(2/model$m)); ceiling(1 + 1/2*(fmiu/cv)^2)``), evaluated in R 4 (no mice needed for the
  formula itself):

      hmi <- function(fmi, m, cv = .05, alpha = .05) {
        z <- qnorm(1 - alpha/2); u <- plogis(qlogis(fmi) + z*sqrt(2/m))
        l <- plogis(qlogis(fmi) - z*sqrt(2/m)); c(l, u, ceiling(1 + 1/2*(u/cv)^2)) }
      options(digits = 17); hmi(0.3, 20); hmi(0.5, 5); hmi(0.05, 20); hmi(0.3, 20, cv = .01)
      hmi(0.02, 5); hmi(0.72, 5); hmi(0.3, 20, alpha = 1e-5)
* The sensitivity analysis records its choice (``imputation_choice``) and never uses fewer
  imputations than requested without saying so.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from latc.analysis._sensitivity import imputation_count
from latc.stats import StatsInputError, cox, how_many_imputations, impute, impute_fit, pool

# (fmi, pilot m, cv, alpha) → (lower, upper, M) as printed by R (module docstring)
R_HMI = [
    ((0.3, 20, 0.05, 0.05), (0.18738488214872509, 0.44336834212704451, 41)),
    ((0.5, 5, 0.05, 0.05), (0.22450734897956873, 0.77549265102043119, 122)),
    ((0.05, 20, 0.05, 0.05), (0.027538806606381427, 0.089102421913053828, 3)),
    ((0.3, 20, 0.01, 0.05), (0.18738488214872509, 0.44336834212704451, 984)),
    ((0.02, 5, 0.05, 0.05), (0.0058735198009016703, 0.0658516832347187109, 2)),
    ((0.72, 5, 0.05, 0.05), (0.42674880234243767, 0.89880817597114704, 163)),
    ((0.3, 20, 0.05, 1e-5), (0.095856938906006869, 0.634027705430870281, 82)),
]


@pytest.mark.parametrize(("args", "expected"), R_HMI)
def test_how_many_imputations_agrees_with_r_howmanyimputations(args, expected):
    fmi, m, cv, alpha = args
    r = how_many_imputations(fmi, m, cv=cv, alpha=alpha)
    np.testing.assert_allclose([r.fmi_lower, r.fmi_upper], expected[:2], rtol=1e-12)
    assert r.m_required == expected[2]
    assert (r.pilot_m, r.fmi, r.cv, r.confidence) == (m, fmi, cv, pytest.approx(1 - alpha))


def test_how_many_imputations_quadratic_rule_and_largest_fmi():
    # the quadratic rule without the CI's widening (von Hippel 2020): M = 1 + ½(FMI/CV)²; FMI 0.49,
    # CV 0.05 → 1 + ½·9.8² = 49.02 → 50. A pilot so large that the CI is negligible gives just that
    assert how_many_imputations(0.49, 10**12).m_required == 50
    # several estimates: the largest FMI decides, as the R package (max(model$pooled$fmi))
    assert how_many_imputations([0.05, 0.3, 0.1], 20).m_required == 41
    # more pilot imputations → narrower CI → never more imputations required
    ms = [how_many_imputations(0.3, k).m_required for k in (5, 10, 20, 50, 200)]
    assert ms == sorted(ms, reverse=True)
    for bad in (dict(fmi=np.nan, pilot_m=20), dict(fmi=0.3, pilot_m=1), dict(fmi=[], pilot_m=5)):
        with pytest.raises(StatsInputError):
            how_many_imputations(**bad)
    with pytest.raises(StatsInputError):
        how_many_imputations(0.3, 20, cv=0)


def _survival_data(n=1200, seed=3):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    g = rng.integers(0, 2, n)
    t = rng.exponential(1 / np.exp(0.5 * x + 0.3 * g))
    e = (rng.uniform(size=n) < 0.7).astype(float)
    df = pd.DataFrame({"time": t, "event": e, "x": x, "g": pd.Categorical(np.where(g == 1, "b", "a")),
                       "k": pd.Categorical(rng.choice(["p", "q", "r"], n))})
    df.loc[rng.uniform(size=n) < 0.3, "x"] = np.nan
    df.loc[rng.uniform(size=n) < 0.2, "g"] = np.nan
    df.loc[rng.uniform(size=n) < 0.15, "k"] = np.nan
    return df


def _fit(d):
    return cox(d, "time", "event", ["x", "g", "k"])


KW = dict(seed=5, maxit=3, survival=("time", "event"))


def test_imputed_data_sets_are_bit_identical_for_any_n_jobs():
    df = _survival_data()
    one = impute(df, m=4, n_jobs=1, **KW)
    two = impute(df, m=4, n_jobs=2, **KW)
    for a, b in zip(one.datasets, two.datasets, strict=True):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pd.testing.assert_frame_equal(one.chain_means, two.chain_means, check_exact=True)
    # fitting in workers gives the same fits too
    p1 = pool(one.fit(_fit, n_jobs=1))
    p2 = pool(two.fit(_fit, n_jobs=2))
    pd.testing.assert_frame_equal(p1, p2, check_exact=True)


def test_impute_fit_pooled_result_is_bit_identical_for_any_n_jobs_and_equals_impute_then_fit():
    df = _survival_data()
    r1 = impute_fit(df, _fit, m=5, n_jobs=1, **KW)
    r2 = impute_fit(df, _fit, m=5, n_jobs=2, **KW)
    p1, p2 = pool(r1.fits), pool(r2.fits)
    pd.testing.assert_frame_equal(p1, p2, check_exact=True)       # to the last digit
    pd.testing.assert_frame_equal(r1.chain_means, r2.chain_means, check_exact=True)
    # the same imputations as impute(...) then .fit(...): same pooled numbers
    p3 = pool(impute(df, m=5, n_jobs=1, **KW).fit(_fit))
    pd.testing.assert_frame_equal(p1, p3, check_exact=True)


def test_imputation_i_does_not_depend_on_m_so_a_pilot_can_be_extended():
    df = _survival_data()
    short, long = impute(df, m=2, n_jobs=1, **KW), impute(df, m=3, n_jobs=1, **KW)
    for a, b in zip(short.datasets, long.datasets[:2]):
        pd.testing.assert_frame_equal(a, b, check_exact=True)
    pilot = impute_fit(df, _fit, m=3, n_jobs=1, **KW)
    more = impute_fit(df, _fit, m=2, start=4, n_jobs=2, **KW)
    full = impute_fit(df, _fit, m=5, n_jobs=1, **KW)
    both = pilot + more
    assert both.m == 5
    pd.testing.assert_frame_equal(pool(both.fits), pool(full.fits), check_exact=True)
    with pytest.raises(StatsInputError):
        pilot + impute_fit(df, _fit, m=1, start=5, n_jobs=1, **KW)     # a gap: imputation 4 missing
    with pytest.raises(StatsInputError):
        impute_fit(df, _fit, m=2, start=0, **KW)


def _options(**kw):
    base = dict(seed=7, imputation_iterations=2, n_jobs=1, conf_level=0.95, imputations=2, imputation_rule="auto",
                imputation_cv=0.05, imputation_alpha=0.05, imputation_large_n=50_000, imputation_pilot=5)
    return SimpleNamespace(**{**base, **kw})


def _mi(o, df=None):
    df = _survival_data(n=800) if df is None else df
    return imputation_count(df, _fit, o, term="x", survival=("time", "event"))


def test_auto_rule_adds_imputations_when_the_requested_m_is_too_few_and_records_why():
    fits, pooled, choice = _mi(_options(imputations=2))
    need = how_many_imputations(choice["fmi"], 2)
    assert choice["pilot_m"] == 2 and choice["m_required"] == need.m_required > 2
    assert fits.m == choice["m"] == need.m_required and pooled["m"].iloc[0] == fits.m
    assert choice["requested_m"] == 2 and choice["fewer_than_requested"] is False and not choice["large_data"]
    assert "are a minimum" in choice["reason"] and "added" in choice["reason"]
    assert choice["fmi_lower"] < choice["fmi"] < choice["fmi_upper"] and choice["cv"] == 0.05
    json.dumps(choice)                                           # plain values: goes to results.json as is


def test_auto_rule_keeps_the_requested_m_when_it_suffices():
    fits, _, choice = _mi(_options(imputations=40, imputation_cv=0.5))
    assert choice["m_required"] < 40 and fits.m == choice["m"] == 40
    assert "all used" in choice["reason"] and choice["fewer_than_requested"] is False


def test_auto_rule_on_large_data_uses_the_rules_m_and_says_it_is_fewer():
    # "large" lowered to the test's size: pilot of 3, the rule (CV 0.5) satisfied by the pilot
    fits, _, choice = _mi(_options(imputations=20, imputation_large_n=500, imputation_pilot=3, imputation_cv=0.5))
    assert choice["large_data"] and choice["pilot_m"] == 3 and choice["m_required"] <= 3
    assert fits.m == choice["m"] == 3 and choice["fewer_than_requested"] is True
    assert "instead of the requested 20" in choice["reason"] and "large data" in choice["reason"]
    # the rule asks for more than the pilot: the pilot is extended with the next streams
    fits2, pooled2, choice2 = _mi(_options(imputations=20, imputation_large_n=500, imputation_pilot=3))
    assert choice2["m"] == choice2["m_required"] > 3 and fits2.m == choice2["m"]
    full = impute_fit(_survival_data(n=800), _fit, m=fits2.m, seed=7, maxit=2, survival=("time", "event"), n_jobs=1)
    pd.testing.assert_frame_equal(pooled2, pool(full.fits), check_exact=True)


def test_fixed_rule_uses_exactly_m_and_bad_rule_is_refused():
    fits, _, choice = _mi(_options(imputations=3, imputation_rule="fixed"))
    assert fits.m == choice["m"] == 3 and choice["rule"] == "fixed"
    with pytest.raises(StatsInputError, match="imputation_rule"):
        _mi(_options(imputation_rule="sometimes"))


def test_sensitivity_section_records_the_choice_and_results_json_ignores_n_jobs(tmp_path):
    from latc.analysis import AnalysisOptions, run_analysis, write_results
    from latc.derive.datasets import derive_datasets
    from latc.synth import synthesize

    s = synthesize(n_patients=400, n_centers=3, seed=11)
    elig = pd.DataFrame({"patient_id": s.latent["patient_id"].astype("str"), "eligible": s.latent["eligible"].astype(bool)})
    ds = derive_datasets(s.tables, s.truth["data_cut"], eligibility=elig)
    docs = []
    for jobs in (1, 2):
        o = AnalysisOptions(imputations=2, imputation_iterations=2, n_jobs=jobs)
        res = run_analysis(ds, o, sections=["comparative", "sensitivity"])
        path = write_results(res, tmp_path / f"j{jobs}")
        docs.append(json.loads(path.read_text()))
        t = res.sections["sensitivity"].tables["hazard_ratios"]
        choice = t.parameters["imputation_choice"]
        assert choice["rule"].startswith("auto") and choice["requested_m"] == 2 and choice["pilot_m"] == 2
        assert t.parameters["imputations_used"] == choice["m"] >= 2 and t.parameters["imputations"] == 2
        row = t.data[t.data["analysis"].str.startswith("multiple imputation")].iloc[0]
        assert row["analysis"] == f"multiple imputation (m = {choice['m']}) of BRAF/TERT, pooled"
        assert "n_jobs" not in res.parameters
    # results.json, apart from timings, is the same for 1 and 2 workers
    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k not in ("seconds", "written", "created")}
        if isinstance(d, list):
            return [strip(v) for v in d]
        return d
    hr = [next(s for s in d["sections"] if (s.get("name") if isinstance(s, dict) else s) == "sensitivity")
          if isinstance(d["sections"], list) else d["sections"]["sensitivity"] for d in docs]
    assert strip(hr[0]) == strip(hr[1])
    assert json.dumps(strip(docs[0]), sort_keys=True, default=str) == json.dumps(strip(docs[1]), sort_keys=True, default=str)


def test_report_methods_say_how_many_imputations_were_used_and_why():
    """The report's methods paragraph gave the requested m even when von Hippel's rule used another."""
    from latc.report._methods import _imputation_text

    class Inputs:
        def __init__(self, par):
            self.par = par

        def table_info(self, section, name):
            return {"parameters": self.par} if (section, name) == ("sensitivity", "hazard_ratios") else None

    assert _imputation_text(Inputs({"imputations_used": 20}), {"imputations": 20}) == "m = 20"
    assert _imputation_text(Inputs({}), {"imputations": 20}) == "m = 20"            # older results.json
    text = _imputation_text(Inputs({"imputations_used": 5, "imputation_choice": {"reason": "large data: the rule's m"}}),
                            {"imputations": 20})
    assert text == "m = 5 (asked for 20; large data: the rule's m)"
