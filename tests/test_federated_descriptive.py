"""Federated counts, response rates, Table 1 moments and grid quantiles equal latc.stats on the pooled
rows (synthetic 8-center cohort, one site per center); disclosure control and message plumbing."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latc import federated as F
from latc import stats
from latc.federated._synthetic import demo_frame, synthetic_derived

ATOL = dict(rtol=0, atol=1e-8)


@pytest.fixture(scope="module")
def data():
    pooled = demo_frame(synthetic_derived(800, 8, 1).subject)
    return pooled, F.split_by_site(pooled)


def _send(fn, sites, *args, **kw):
    return [F.transport(fn(df, *args, site=s, **kw)) for s, df in sites.items()]


def test_eight_sites_each_with_its_own_rows(data):
    pooled, sites = data
    assert len(sites) == 8 and sum(len(d) for d in sites.values()) == len(pooled)
    for s, d in sites.items():
        assert set(d["center_id"]) == {s}


def test_counts_by_cohort_equal_table_one(data):
    pooled, sites = data
    ref = stats.table_one(pooled, "cohort", ["sex", "ecog", "histology_group"], numbers=True)
    pol = F.DisclosurePolicy(min_cell=1)     # ecog 2 / rare histology: 1–2 patients at some sites
    worst = 0.0
    for v in ("sex", "ecog", "histology_group"):
        fed = F.combine_counts(_send(F.site_counts, sites, v, "cohort", policy=pol))
        r = ref[ref["variable"] == v]
        m = fed.merge(r, left_on=["group", "level"], right_on=["group", "level"], suffixes=("", "_ref"))
        assert len(m) == len(r) == len(fed)
        np.testing.assert_allclose(m["n"], m["n_ref"], **ATOL)
        np.testing.assert_allclose(m["percent"], m["percent_ref"], **ATOL)
        worst = max(worst, float(np.abs(m["percent"] - m["percent_ref"]).max()))
    assert worst < 1e-8


def test_response_rates_clopper_pearson_equal_pooled(data):
    pooled, sites = data
    outcomes = ["objective_response", "disease_control", "r0_resection", "major_complication"]
    fed = F.combine_response_rates(_send(F.site_response_rates, sites, outcomes, "cohort",
                                         policy=F.DisclosurePolicy(min_cell=1)))
    ref = stats.response_rates(pooled, outcomes, by="cohort")
    assert list(fed.columns) == list(ref.columns)
    labels = ["outcome", "cohort", "method", "note"]
    assert fed[labels].astype(str).values.tolist() == ref[labels].astype(str).values.tolist()
    for c in ("responders", "n", "not_evaluable"):
        assert (fed[c].to_numpy() == ref[c].to_numpy()).all()
    for c in ("rate", "lower", "upper"):
        np.testing.assert_allclose(fed[c], ref[c], **ATOL)


def test_response_rates_with_default_policy_where_cells_allow(data):
    pooled, sites = data
    msgs = _send(F.site_response_rates, sites, "r0_resection", None)
    fed = F.combine_response_rates(msgs)
    ref = stats.response_rates(pooled, "r0_resection")
    np.testing.assert_allclose(fed[["rate", "lower", "upper"]], ref[["rate", "lower", "upper"]], **ATOL)


def test_table_one_mean_sd_from_sums(data):
    pooled, sites = data
    ref = stats.table_one(pooled, "cohort", ["age", "n_invaded", "os_time"], numbers=True)
    fed = F.combine_moments(_send(F.site_moments, sites, ["age", "n_invaded", "os_time"], "cohort"))
    m = fed.merge(ref, on=["variable", "group"], suffixes=("", "_ref"))
    assert len(m) == 6
    np.testing.assert_allclose(m["n"], m["n_ref"], **ATOL)
    np.testing.assert_allclose(m["mean"], m["mean_ref"], **ATOL)
    np.testing.assert_allclose(m["sd"], m["sd_ref"], **ATOL)


def test_quantiles_exact_on_a_grid_holding_every_value(data):
    pooled, sites = data
    grid = np.arange(pooled["age"].min(), pooled["age"].max() + 1)          # ages are whole years
    pol = F.DisclosurePolicy(min_cell_by_analysis={"quantiles": 1})
    fed = F.combine_quantiles(_send(F.site_histogram, sites, "age", grid, "cohort", policy=pol))
    ref = stats.table_one(pooled, "cohort", ["age"], nonnormal=["age"], numbers=True)
    ref = ref[ref["variable"] == "age"].set_index("group")
    for _, row in fed.iterrows():
        r = ref.loc[row["group"]]
        np.testing.assert_allclose([row["q0.25"], row["q0.5"], row["q0.75"]], [r["q1"], r["median"], r["q3"]], **ATOL)
    # a fine grid has cells of 1–2 patients: the default policy suppresses it
    with pytest.raises(F.FederatedDisclosureError, match="quantiles"):
        F.combine_quantiles(_send(F.site_histogram, sites, "age", grid, "cohort"))


def test_quantiles_off_grid_are_those_of_the_binned_values(data):
    pooled, sites = data
    grid = np.arange(0.0, 100.0, 1.0)
    pol = F.DisclosurePolicy(min_cell_by_analysis={"quantiles": 1})
    fed = F.combine_quantiles(_send(F.site_histogram, sites, "os_time", grid, None, policy=pol), probs=(0.5,))
    binned = np.floor(pooled["os_time"].to_numpy())
    np.testing.assert_allclose(fed["q0.5"].iloc[0], np.quantile(binned, 0.5), **ATOL)


def _two_in_a_cell(sites) -> pd.DataFrame:
    for s, d in sites.items():
        e2 = d[d["ecog"] == "2"]
        if len(e2) >= 2:
            return pd.concat([d[d["ecog"] != "2"], e2.iloc[:2]])
    raise AssertionError("no site with two ECOG 2 patients")


def test_small_cell_is_suppressed_and_combine_names_it(data):
    _, sites = data
    small = _two_in_a_cell(sites)
    site = small["center_id"].iloc[0]
    msg = F.site_counts(small, "ecog", None, site=site)
    assert msg.suppressed and msg.payload == {"variable": "ecog", "by": None}
    assert "2" not in json.dumps(msg.payload)                # the count is not sent
    others = [F.site_counts(d[d["ecog"] != "2"], "ecog", None, site=s) for s, d in sites.items() if s != site]
    with pytest.raises(F.FederatedDisclosureError) as err:
        F.combine_counts([F.transport(msg)] + others)
    text = str(err.value)
    assert repr(site) in text and "'counts'" in text and "ecog=2" in text
    # response rates: 2 responders in a group
    r = small.assign(resp=np.r_[np.zeros(len(small) - 2), [1.0, 1.0]])
    m = F.site_response_rates(r, "resp", None, site=site)
    assert any("resp responders" in x["cell"] for x in m.suppressed)
    with pytest.raises(F.FederatedDisclosureError, match="resp responders"):
        F.combine_response_rates([m])


def test_site_refuses_other_sites_rows_and_unlisted_analyses(data):
    pooled, sites = data
    with pytest.raises(F.FederatedInputError, match="rows of site"):
        F.site_moments(pooled, ["age"], "cohort", site="C01")
    narrow = F.DisclosurePolicy(allowed=frozenset({"counts"}))
    with pytest.raises(F.FederatedDisclosureError, match="allow-list"):
        F.site_moments(sites["C01"], ["age"], "cohort", site="C01", policy=narrow)


def test_messages_round_trip_json_and_release_record(data):
    _, sites = data
    d = sites["C03"]
    msgs = [F.site_counts(d, "sex", "cohort", site="C03"),
            F.site_response_rates(d, "r0_resection", "cohort", site="C03", policy=F.DisclosurePolicy(min_cell=1)),
            F.site_moments(d, ["age"], "cohort", site="C03"),
            F.site_histogram(d, "age", np.arange(0, 100, 10.0), "cohort", site="C03")]
    for m in msgs:
        text = m.to_json()
        back = F.Message.from_json(text)
        assert back.to_dict() == m.to_dict() and back.to_json() == text
        rec = F.release_record(m)
        assert set(rec) >= {"analysis", "when_utc", "sha256", "n_bytes"}
        assert rec["analysis"] == m.analysis and rec["when_utc"].endswith("Z")
        assert rec["n_bytes"] == len(text.encode()) and len(rec["sha256"]) == 64
        assert F.release_record(back)["sha256"] == rec["sha256"]
    with pytest.raises(TypeError):
        F.Message("counts", "C03", "x", {"row": object()})
