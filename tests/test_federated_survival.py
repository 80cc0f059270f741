"""Federated Kaplan–Meier and log-rank equal latc.stats on the pooled rows (pooled time grid, and a
coarsened grid against the pooled analysis of the coarsened times)."""

from __future__ import annotations

import numpy as np
import pytest

from latc import federated as F
from latc import stats
from latc.federated._synthetic import demo_frame, synthetic_derived

ATOL = dict(rtol=0, atol=1e-8)
COLS = ["time", "n_risk", "n_event", "n_censor", "survival", "std_err", "lower", "upper"]


@pytest.fixture(scope="module")
def data():
    pooled = demo_frame(synthetic_derived(800, 8, 1).subject)
    return pooled, F.split_by_site(pooled)


def _km(sites, time, event, group, coarsen=None, policy=F.DisclosurePolicy()):
    times = [F.transport(F.site_km_times(d, time, event, site=s, coarsen=coarsen, policy=policy))
             for s, d in sites.items()]
    grid = F.combine_time_grid(times)
    counts = [F.transport(F.site_km_counts(d, time, event, group, grid, site=s, coarsen=coarsen, policy=policy))
              for s, d in sites.items()]
    return grid, counts


def _same_km(fed, ref):
    assert fed.groups == [str(g) for g in ref.groups]
    assert fed.table.shape == ref.table.shape
    assert fed.table["group"].tolist() == ref.table["group"].astype(str).tolist()
    np.testing.assert_allclose(fed.table[COLS].to_numpy(float), ref.table[COLS].to_numpy(float), **ATOL)
    mc = ["n", "events", "median", "lower", "upper"]
    np.testing.assert_allclose(fed.medians[mc].to_numpy(float), ref.medians[mc].to_numpy(float), **ATOL)
    t = [0, 6, 12, 24, 36, 48, 60, 84]
    np.testing.assert_allclose(fed.risk_table(t)[["n_risk", "n_event_cumulative"]].to_numpy(float),
                               ref.risk_table(t)[["n_risk", "n_event_cumulative"]].to_numpy(float), **ATOL)
    np.testing.assert_allclose(fed.at(t)[["survival", "std_err", "lower", "upper"]].to_numpy(float),
                               ref.at(t)[["survival", "std_err", "lower", "upper"]].to_numpy(float), **ATOL)


def test_grid_is_the_pooled_distinct_times(data):
    pooled, sites = data
    grid, _ = _km(sites, "rfs_time", "rfs_event", "cohort")
    np.testing.assert_array_equal(grid, np.unique(pooled["rfs_time"]))


@pytest.mark.parametrize("conf_type", ["log", "log-log", "plain"])
def test_km_by_cohort_equals_pooled(data, conf_type):
    pooled, sites = data
    grid, counts = _km(sites, "rfs_time", "rfs_event", "cohort")
    fed = F.combine_km(counts, grid, conf_type=conf_type)
    ref = stats.kaplan_meier(pooled, "rfs_time", "rfs_event", "cohort", conf_type=conf_type)
    _same_km(fed, ref)


def test_km_overall_os_equals_pooled(data):
    pooled, sites = data
    grid, counts = _km(sites, "os_time", "os_event", None)
    _same_km(F.combine_km(counts, grid), stats.kaplan_meier(pooled, "os_time", "os_event"))


def test_km_on_a_coarsened_grid_equals_pooled_coarsened(data):
    pooled, sites = data
    grid, counts = _km(sites, "rfs_time", "rfs_event", "cohort", coarsen=1.0)
    assert len(grid) < pooled["rfs_time"].nunique() and np.allclose(grid, np.round(grid))
    coarse = pooled.assign(rfs_time=F.coarsen_times(pooled["rfs_time"].to_numpy(), 1.0))
    _same_km(F.combine_km(counts, grid), stats.kaplan_meier(coarse, "rfs_time", "rfs_event", "cohort"))
    lr = F.combine_logrank(counts)
    ref = stats.logrank(coarse, "rfs_time", "rfs_event", "cohort")
    np.testing.assert_allclose(lr.table[["observed", "expected"]], ref.table[["observed", "expected"]], **ATOL)
    np.testing.assert_allclose([lr.statistic, lr.p], [ref.statistic, ref.p], **ATOL)


@pytest.mark.parametrize("by_site", [False, True])
def test_logrank_equals_survdiff(data, by_site):
    pooled, sites = data
    _, counts = _km(sites, "rfs_time", "rfs_event", "cohort")
    fed = F.combine_logrank(counts, stratify_by_site=by_site)
    ref = stats.logrank(pooled, "rfs_time", "rfs_event", "cohort", strata="center_id" if by_site else None)
    assert isinstance(fed, stats.TestResult) and fed.df == ref.df
    f, r = fed.to_frame(), ref.to_frame()  # the per-group rows with chisq, df and p, as the analysis writes them
    assert f["group"].tolist() == r["group"].astype(str).tolist()
    assert (f["n"].to_numpy() == r["n"].to_numpy()).all()
    np.testing.assert_allclose(f[["observed", "expected", "oe2_e", "oe2_v", "chisq", "p"]].to_numpy(float),
                               r[["observed", "expected", "oe2_e", "oe2_v", "chisq", "p"]].to_numpy(float), **ATOL)


def test_small_event_cells_are_suppressed(data):
    _, sites = data
    # OS by cohort: some centers have 1–2 deaths in a cohort
    _, counts = _km(sites, "os_time", "os_event", "cohort")
    bad = [m for m in counts if m.suppressed]
    assert bad and all("n_event" not in m.payload for m in bad)
    with pytest.raises(F.FederatedDisclosureError) as err:
        F.combine_km(counts, [0.0])
    assert repr(bad[0].site) in str(err.value) and "'km'" in str(err.value) and "events | cohort=" in str(err.value)
    with pytest.raises(F.FederatedDisclosureError):
        F.combine_logrank(counts)


def test_times_off_the_grid_are_refused(data):
    _, sites = data
    with pytest.raises(F.FederatedInputError, match="not on the announced grid"):
        F.site_km_counts(sites["C01"], "rfs_time", "rfs_event", "cohort", [0.0, 1.0], site="C01")
