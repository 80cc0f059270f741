"""Federated response, surgical-outcome and adverse-event rates equal pooled `latc analyze`.

The synthetic 8-center cohort (``synthetic_derived(800, 8, 1)``) is split by center; each site holds
only its own `latc derive` output (``site_runtime``) and answers through a :class:`LocalChannel`
(every request and reply as JSON text). Checked: every rate table of the ``response``, ``surgery``
and ``safety`` sections equals `run_analysis`'s — labels, counts and row order exactly, numbers
within 1e-12 (exact Clopper–Pearson intervals depend on the summed counts only); a site with a cell
of 2 patients withholds the table, named with the site and the cell, and the table is listed as not
computed; each site's release log lists the rate messages; no message carries a patient id.

The sites here opt in to cells below 3 (``min_cell_by_analysis={"response_rates": 1}``): with about
100 patients per site, every table has a cell of 1–2 patients at some site (a rare regimen, grade
≥ 3 of a rare AE term, 30-day deaths), so DataSHIELD's default ``nfilter.tab = 3`` withholds them all
(docs/federated.md). The disclosure test uses the default rule at one site.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from latc.analysis import run_analysis
from latc.federated import DisclosurePolicy, LocalChannel, Message, derived_by_site
from latc.federated._comparison import FederatedComparison, _Rounds, site_runtime
from latc.federated._rates import RATE_TABLES, STEP, rate_tables, site_rate_counts
from latc.federated._results import KEYS, compare_results, federated_results

#: the sites' documented opt-in (module docstring)
OPT_IN = DisclosurePolicy(min_cell_by_analysis={"response_rates": 1})


@pytest.fixture(scope="module")
def cohort():
    from latc.federated._synthetic import synthetic_derived

    ds = synthetic_derived(800, 8, 1)
    return ds, derived_by_site(ds.tables())


@pytest.fixture(scope="module")
def pooled(cohort):
    return run_analysis(cohort[0], sections=["response", "surgery", "safety"])


@pytest.fixture(scope="module")
def runtimes(cohort):
    """One runtime per site (opted in, no release log) for the tests that ask sites directly."""
    return {s: site_runtime(s, d, policy=OPT_IN) for s, d in cohort[1].items()}


def _run(runtimes):
    tables: dict[str, pd.DataFrame] = {}
    not_computed: dict[str, str] = {}
    r = _Rounds(LocalChannel(runtimes))
    rate_tables(r, tables, not_computed, 0.95)
    return tables, not_computed, r


@pytest.fixture(scope="module")
def federated(cohort, tmp_path_factory):
    logs = tmp_path_factory.mktemp("release_logs")
    rts = {s: site_runtime(s, d, policy=OPT_IN, release_log=logs / f"{s}.jsonl") for s, d in cohort[1].items()}
    return (*_run(rts), rts, logs)


@pytest.mark.parametrize("key", RATE_TABLES)
def test_rate_table_equals_pooled_analysis(federated, pooled, key):
    tables, not_computed = federated[0], federated[1]
    assert key not in not_computed
    sec, name = key.split("/")
    got, want = tables[key], pooled.table(sec, name)
    assert list(got.columns) == list(want.columns) and len(got) == len(want) > 0
    for c in want.columns:
        if want[c].dtype.kind == "f":
            np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=0, atol=1e-12,
                                       equal_nan=True, err_msg=f"{key}.{c}")
        else:                       # labels and counts, row by row (the row order included)
            assert got[c].astype(str).tolist() == want[c].astype(str).tolist(), f"{key}.{c}"
            assert got[c].dtype == want[c].dtype, f"{key}.{c}"


def test_rate_tables_conform_to_declared_schemas(federated):
    from latc.analysis import check_table

    for key in RATE_TABLES:
        check_table(*key.split("/"), federated[0][key])


def test_federated_results_compare_equal(federated, pooled):
    """``federated_results`` / ``compare_results`` know the tables (sections, titles, key columns)."""
    tables, not_computed, r, _, _ = federated
    fed = FederatedComparison(tables=dict(tables), not_computed=dict(not_computed), rounds=r.n,
                              parameters={"sites": r.sites})
    res = federated_results(fed)
    summary, rows = compare_results(res, pooled)
    for key in RATE_TABLES:
        s = summary["tables"][key]
        assert s["only_federated"] == s["only_pooled"] == 0, key
        assert s["rows_compared"] == len(tables[key]) and s["max_abs_diff"] <= 1e-12, key
        assert set(KEYS[key]) <= set(tables[key].columns)
        sec = res.sections[key.split("/")[0]]
        assert "(federated)" in sec.title


def _site_with_a_cell_of_two(runtimes) -> tuple[str, str]:
    """A (site, table) where the site's counts have a cell of exactly 2 patients (from the site's
    own opted-in answer, asked without recording it)."""
    for key in ("response/pathological_response", "surgery/outcomes", *RATE_TABLES):
        for site, rt in runtimes.items():
            msg = site_rate_counts(rt, key)
            counts = [c for row in msg.payload.get("counts", []) for c in (row[0], row[1] - row[0], row[1])]
            if 2 in counts:
                return site, key
    raise AssertionError("no cell of 2 patients")


def test_small_cell_withholds_the_table_naming_site_and_cell(cohort, runtimes, federated):
    site, key = _site_with_a_cell_of_two(runtimes)
    strict = site_runtime(site, cohort[1][site])                 # DataSHIELD's nfilter.tab = 3 at that site
    tables, not_computed, _ = _run({**runtimes, site: strict})
    assert key not in tables
    reason = not_computed[key]
    assert f"site {site!r}" in reason and "analysis 'response_rates'" in reason
    assert f"cell '{key}: " in reason and "minimum cell size 3" in reason
    for other in set(RATE_TABLES) - set(not_computed):          # what the site does release is still exact
        pd.testing.assert_frame_equal(tables[other], federated[0][other])
    # the withheld message carries no count: an empty payload besides the table's name
    msg = Message.from_json(site_rate_counts(strict, key).to_json())
    assert msg.payload == {"table": key} and msg.suppressed
    assert all(set(x) == {"analysis", "cell", "reason"} for x in msg.suppressed)


def test_release_log_lists_the_rate_messages(federated):
    _, _, _, rts, logs = federated
    for site, rt in rts.items():
        lines = [json.loads(x) for x in (logs / f"{site}.jsonl").read_text(encoding="utf-8").splitlines()]
        # the eight tables' requests travel in one round (a batch envelope): one message sent, its
        # parts listed with their own hashes
        batches = [x for x in lines if x["step"] == "batch" and any(p["kind"] == STEP for p in x["parts"])]
        assert len(batches) == 1
        rates = batches[0]["parts"]
        assert len(rates) == len(RATE_TABLES)
        assert {(x["analysis"], x["kind"]) for x in rates} == {("response_rates", STEP)}
        assert not any(x["suppressed"] for x in rates)
        sent = [x for x in rt.sent if x["step"] == "batch" and x["round"] == batches[0]["round"]]
        assert [x["sha256"] for x in sent[0]["parts"]] == [x["sha256"] for x in rates]
        assert batches[0]["site"] == site


def test_no_message_names_a_patient(cohort, runtimes):
    for site, rt in runtimes.items():
        ids = set(cohort[1][site]["subject"]["patient_id"].astype(str))
        for key in RATE_TABLES:
            text = site_rate_counts(rt, key).to_json()
            assert not any(i in text for i in ids), (site, key)


def test_a_90_percent_level_is_honoured_on_both_sides(cohort, runtimes):
    """`latc analyze --conf-level 0.9` gives 90 % Clopper–Pearson intervals in every rate table (the
    pooled sections used to record the level but compute 95 %), and the federated tables agree."""
    from latc.analysis import AnalysisOptions

    ref = run_analysis(cohort[0], AnalysisOptions(conf_level=0.9), sections=["response", "surgery", "safety"])
    at95 = run_analysis(cohort[0], sections=["surgery"]).table("surgery", "outcomes")
    tables: dict[str, pd.DataFrame] = {}
    rate_tables(_Rounds(LocalChannel(runtimes)), tables, {}, 0.9)
    for key in RATE_TABLES:
        sec, name = key.split("/")
        want, got = ref.table(sec, name), tables[key]
        for c in [c for c in want.columns if want[c].dtype.kind == "f"]:
            np.testing.assert_allclose(got[c].to_numpy(float), want[c].to_numpy(float), rtol=0, atol=1e-12,
                                       equal_nan=True, err_msg=f"{key} {c}")
    narrow = ref.table("surgery", "outcomes")
    ok = at95["n"].to_numpy() > 0
    assert (narrow["lower"].to_numpy()[ok] >= at95["lower"].to_numpy()[ok]).all()
    assert (narrow["upper"].to_numpy()[ok] - narrow["lower"].to_numpy()[ok]
            < at95["upper"].to_numpy()[ok] - at95["lower"].to_numpy()[ok]).all()
