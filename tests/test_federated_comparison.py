"""The federated comparison equals pooled `latc analyze` (comparative section) on the synthetic
8-center cohort, with each site holding only its own `latc derive` output.

Sites answer through :class:`latc.federated.LocalChannel` (every request and reply as JSON text, as
an engine carries them). Checked: the adjusted, IPTW (ATE, the primary estimate) and overlap (ATO)
hazard ratios for recurrence, OS and EFS within 1e-8 of `run_analysis`; Kaplan–Meier curves and the
log-rank test by cohort; a site's small cell withholds a table with the site and cell named; a
stopped site is a FederatedSiteError naming it; each site's release log lists exactly what it sent.
"""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pandas as pd
import pytest

from latc.analysis import run_analysis
from latc.federated import DisclosurePolicy, FederatedSiteError, LocalChannel, SiteRuntime, derived_by_site
from latc.federated._comparison import run_comparison, site_comparison_frame
from latc.federated._synthetic import synthetic_derived

ATOL = dict(rtol=0, atol=1e-8)
#: the sites' documented opt-ins (docs/federated.md): the IPTW curves' per-time weighted sums, and
#: cumulative incidence with fewer than 3 deaths without recurrence per cohort at a small site, and
#: balance rows of rare categories (fewer than 3 MTC patients of a cohort at a site)
#: and the unadjusted model's WebDISCO per-time risk-set sums (one patient leaving a site's risk set)
OPT_IN = DisclosurePolicy(min_cell_by_analysis={"km_weighted": 1, "cif": 1, "balance": 1, "cox_webdisco": 1})


@pytest.fixture(scope="module")
def cohort():
    ds = synthetic_derived(800, 8, 1)
    return ds, {s: site_comparison_frame(d) for s, d in derived_by_site(ds.tables()).items()}


@pytest.fixture(scope="module")
def pooled(cohort):
    return run_analysis(cohort[0], sections=["comparative"])


@pytest.fixture(scope="module")
def federated(cohort, tmp_path_factory):
    logs = tmp_path_factory.mktemp("release_logs")
    channel = LocalChannel({s: SiteRuntime(s, f, policy=OPT_IN, release_log=logs / f"{s}.jsonl")
                            for s, f in cohort[1].items()})
    return run_comparison(channel), channel, logs


def test_every_site_holds_only_its_center(cohort):
    _, frames = cohort
    assert len(frames) == 8
    for s, f in frames.items():
        assert set(f["center_id"]) == {s}


def test_hazard_ratios_equal_pooled_analysis(federated, pooled):
    fed = federated[0].tables["comparative/hazard_ratios"]
    ref = pooled.table("comparative", "hazard_ratios")
    m = fed.merge(ref, on=["endpoint", "analysis"], suffixes=("", "_pooled"))
    assert len(m) == 12 and set(m["analysis"]) == {"naive", "adjusted", "iptw_ate", "overlap_ato"}
    for c in ("hr", "lower", "upper", "p", "log_hr", "se"):
        np.testing.assert_allclose(m[c].astype(float), m[f"{c}_pooled"].astype(float), **ATOL)
    for c in ("n", "events", "covariates", "se_type", "weights", "strata", "estimand"):
        assert m[c].astype(str).tolist() == m[f"{c}_pooled"].astype(str).tolist(), c
    prim = federated[0].primary()
    ref_prim = pooled.primary()
    assert (prim["endpoint"], prim["analysis"]) == (ref_prim.endpoint, ref_prim.analysis)
    assert prim["hr"] == pytest.approx(ref_prim.estimate, abs=1e-8)


def test_models_are_fitted_in_lockstep(federated):
    """The twelve Cox models share their Newton rounds (``_lockstep``): the run takes far fewer rounds
    than the models' steps one after the other, and every site's release log lists each model's
    steps as parts of the batch envelopes it sent."""
    fed, channel, logs = federated
    recs = [json.loads(x) for x in (logs / f"{channel.sites()[0]}.jsonl").read_text().splitlines()]
    batches = [r for r in recs if r["step"] == "batch"]
    parts = [p for r in batches for p in r["parts"]]
    steps = sum(p["kind"] in ("cox_step", "webdisco_step") for p in parts)
    assert steps >= 12 * 3                                      # every model took ≥ 3 Newton steps …
    assert len(batches) < steps / 4                              # … in a few shared rounds
    assert fed.rounds < 45
    assert {p["analysis"] for p in parts} == {"cox_stratified", "cox_webdisco"}


def test_dropped_confounders_follow_the_pooled_rules(federated):
    params = federated[0].parameters
    assert params["dropped"] == {"tert_not_tested": "identical to braf_not_tested in the analysed patients"}
    assert params["ps_covariates"][-1] == "center"


def test_km_curves_and_logrank_equal_pooled_or_say_why_not(federated, pooled):
    fed, _, _ = federated
    ref = pooled.table("comparative", "km_curves")
    ref = ref[ref["weighting"].eq("unweighted")]
    got = fed.tables["comparative/km_curves"]
    got = got[got["weighting"].eq("unweighted")]
    for ep in ("recurrence", "overall_survival"):
        if ep not in set(got["endpoint"]):
            # withheld by a site's cell rule: the reason names the site, the analysis and the cell
            reason = fed.not_computed[f"comparative/km_curves {ep} unweighted"]
            assert "site 'C" in reason and "analysis 'km'" in reason and "minimum cell size 3" in reason
            continue
        a = got[got["endpoint"].eq(ep)].reset_index(drop=True)
        b = ref[ref["endpoint"].eq(ep)].reset_index(drop=True)
        assert len(a) == len(b) > 0
        for c in ("time", "n_risk", "n_event", "survival", "std_err", "lower", "upper"):
            np.testing.assert_allclose(a[c].astype(float), b[c].astype(float), **ATOL, equal_nan=True)
        lr = fed.tables["comparative/logrank"]
        lr_ref = pooled.table("comparative", "logrank")
        np.testing.assert_allclose(lr.loc[lr["endpoint"].eq(ep), "chisq"].to_numpy(float),
                                   lr_ref.loc[lr_ref["endpoint"].eq(ep), "chisq"].to_numpy(float), **ATOL)
    assert "recurrence" in set(got["endpoint"])      # the primary endpoint's curves are computed


def test_iptw_km_with_robust_variance_equals_pooled(federated, pooled):
    got = federated[0].tables["comparative/km_curves"]
    got = got[got["weighting"].eq("iptw_ate") & got["endpoint"].eq("recurrence")].reset_index(drop=True)
    ref = pooled.table("comparative", "km_curves")
    ref = ref[ref["weighting"].eq("iptw_ate") & ref["endpoint"].eq("recurrence")].reset_index(drop=True)
    assert len(got) == len(ref) > 100
    assert got["group"].tolist() == ref["group"].astype(str).tolist()
    for c in ("time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"):
        np.testing.assert_allclose(got[c].astype(float), ref[c].astype(float), rtol=0, atol=1e-10, equal_nan=True)


def test_cumulative_incidence_and_gray_equal_pooled(federated, cohort):
    ref = run_analysis(cohort[0], sections=["competing"])
    for name in ("cif_curves", "gray_test"):
        got, want = federated[0].tables[f"competing/{name}"], ref.table("competing", name)
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
        for c in got.columns:
            if got[c].dtype.kind in "fi":
                np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=0, atol=1e-12,
                                           equal_nan=True)
            else:
                assert got[c].astype(str).tolist() == want[c].astype(str).tolist(), c
    assert set(federated[0].tables["competing/gray_test"]["strata"]) == {"none", "center"}


def test_balance_and_effective_sample_size_equal_pooled(federated, pooled):
    for name in ("balance", "effective_sample_size"):
        got, want = federated[0].tables[f"comparative/{name}"], pooled.table("comparative", name)
        if name == "balance":
            want = want[want["sample"].ne("ps_matched")].reset_index(drop=True)
        assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
        for c in got.columns:
            if got[c].dtype.kind not in "fi":
                assert got[c].astype(str).tolist() == want[c].astype(str).tolist(), c
                continue
            a, b = got[c].to_numpy(float), want[c].to_numpy(float)
            if c.startswith("ks_"):     # KS of a continuous covariate needs the pooled ECDF: left empty
                cont = got["type"].eq("Contin.").to_numpy()
                assert np.isnan(a[cont]).all()
                a, b = a[~cont], b[~cont]
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-11, equal_nan=True)


def test_default_policy_withholds_what_identifies_a_patient(cohort):
    fed = run_comparison(LocalChannel({s: SiteRuntime(s, f) for s, f in cohort[1].items()}))
    reason = fed.not_computed["comparative/km_curves recurrence iptw_ate"]
    assert "analysis 'km_weighted'" in reason and "patients at one time" in reason
    assert "iptw_ate" not in set(fed.tables["comparative/km_curves"]["weighting"])
    assert "events of cause 2" in fed.not_computed["competing"] and "competing/cif_curves" not in fed.tables


def test_what_cannot_be_exact_is_listed(federated):
    nc = federated[0].not_computed
    assert "comparative/matching" in nc and "across sites" in nc["comparative/matching"]
    assert "sensitivity" in nc


def test_release_logs_list_exactly_what_each_site_sent(federated):
    fed, channel, logs = federated
    for s, rt in channel.runtimes.items():
        lines = (logs / f"{s}.jsonl").read_text(encoding="utf-8").splitlines()
        assert len(lines) == channel.messages[s] == len(rt.sent) == fed.rounds
        recs = [json.loads(x) for x in lines]
        assert sum(r["n_bytes"] for r in recs) == channel.bytes_sent[s]
        assert [r["round"] for r in recs] == list(range(1, fed.rounds + 1))
        # the site keeps the exact text of each message: its hash is the logged one
        kept = [json.loads(x) for x in rt.sent_texts.read_text(encoding="utf-8").splitlines()]
        assert [k["sha256"] for k in kept] == [r["sha256"] for r in recs]
        assert all(hashlib.sha256(k["text"].encode("utf-8")).hexdigest() == k["sha256"] for k in kept)
    # the hash is that of the exact text a site sends
    rt = channel.runtimes["C01"]
    from latc.federated._protocol import Request
    text = rt.handle(Request("hello", {}, 999).to_json())
    assert rt.sent[-1]["sha256"] == hashlib.sha256(text.encode("utf-8")).hexdigest()


def test_a_stopped_site_is_named_and_nothing_is_reported(cohort):
    channel = LocalChannel({s: SiteRuntime(s, f) for s, f in cohort[1].items()})
    channel.stopped.add("C05")
    with pytest.raises(FederatedSiteError, match="site 'C05': did not answer"):
        run_comparison(channel)


def test_centers_pooled_across_sites_refuse_the_stratified_models(cohort):
    ds, _ = cohort
    frames = {s: site_comparison_frame(d, min_center_size=1000) for s, d in derived_by_site(ds.tables()).items()}
    fed = run_comparison(LocalChannel({s: SiteRuntime(s, f) for s, f in frames.items()}))
    assert "comparative/hazard_ratios" not in fed.tables
    assert "pooled into one stratum" in fed.not_computed["comparative/hazard_ratios stratified"]
    # the unstratified model does not depend on the strata, but the default cell rule (3) withholds
    # its per-time risk-set sums: named, not approximated
    reason = fed.not_computed["comparative/hazard_ratios recurrence naive"]
    assert "analysis 'cox_webdisco'" in reason and "minimum cell size 3" in reason
    fed = run_comparison(LocalChannel({s: SiteRuntime(s, f, policy=OPT_IN) for s, f in frames.items()}))
    hr = fed.tables["comparative/hazard_ratios"]
    assert hr["analysis"].tolist() == ["naive"] * 3 and hr["strata"].eq("").all()


class _StopsAfter(LocalChannel):
    """A local channel whose site ``site`` stops answering after ``rounds`` rounds (a killed site)."""

    def __init__(self, runtimes, site: str, rounds: int) -> None:
        super().__init__(runtimes)
        self.site, self.limit, self.n = site, rounds, 0

    def ask(self, requests):
        self.n += 1
        if self.n > self.limit:
            self.stopped.add(self.site)
        return super().ask(requests)


def test_a_run_resumes_from_its_journal_after_a_site_dropped_out(cohort, federated, tmp_path):
    from latc.federated._journal import JournalChannel, JournalMismatch

    def runtimes():
        return {s: SiteRuntime(s, f, policy=OPT_IN, release_log=tmp_path / f"{s}.jsonl") for s, f in cohort[1].items()}

    journal = tmp_path / "journal.jsonl"
    first = JournalChannel(_StopsAfter(runtimes(), "C03", 30), journal)
    with pytest.raises(FederatedSiteError, match="site 'C03'"):
        run_comparison(first)
    assert first.live == 30 and len(journal.read_text().splitlines()) == 30
    again = JournalChannel(LocalChannel(runtimes()), journal)        # the site is back
    fed = run_comparison(again)
    assert again.replayed == 29 and again.live == fed.rounds - 29     # the weights round is asked again
    ref = federated[0]
    for key, table in ref.tables.items():
        pd.testing.assert_frame_equal(fed.tables[key], table)         # the uninterrupted run's result
    # a site answered every round once, except the weights round and the round that failed (asked again)
    c01 = [json.loads(x)["step"] for x in (tmp_path / "C01.jsonl").read_text().splitlines()]
    assert len(c01) == fed.rounds + 2 and c01.count("weights") == 2
    # another run (unstabilized weights: another request at the weights round) refuses the journal
    with pytest.raises(JournalMismatch, match=r"round \d+ of the journal was another request"):
        run_comparison(JournalChannel(LocalChannel(runtimes()), journal), stabilize=False)


def test_coarsened_times_equal_the_pooled_analysis_of_the_same_coarsened_times(cohort, federated):
    """A site option (``coarsen_months``, the issue's "event times coarsened to a grid"): every site
    rounds its times up to whole months before computing; the result is exactly the pooled analysis
    of the coarsened times — and differs from the analysis of the original times."""
    from dataclasses import replace

    from latc.federated._comparison import coarsen_derived, site_runtime

    ds, _ = cohort
    policy = replace(OPT_IN, coarsen_months=1.0)
    channel = LocalChannel({s: site_runtime(s, d, policy=policy) for s, d in derived_by_site(ds.tables()).items()})
    fed = run_comparison(channel)
    ref = run_analysis(coarsen_derived(ds, 1.0), sections=["comparative"])
    got = fed.tables["comparative/hazard_ratios"]
    m = got.merge(ref.table("comparative", "hazard_ratios"), on=["endpoint", "analysis"], suffixes=("", "_pooled"))
    assert len(m) == 12
    for c in ("hr", "lower", "upper", "p", "se"):
        np.testing.assert_allclose(m[c].astype(float), m[f"{c}_pooled"].astype(float), **ATOL)
    km = fed.tables["comparative/km_curves"]
    assert (km["time"] == np.ceil(km["time"])).all()            # whole months only left the sites
    orig = federated[0].tables["comparative/hazard_ratios"].set_index(["endpoint", "analysis"])["hr"]
    assert not np.allclose(got.set_index(["endpoint", "analysis"])["hr"].reindex(orig.index), orig, rtol=0, atol=1e-6)
