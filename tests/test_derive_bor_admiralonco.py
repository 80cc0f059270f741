"""Best overall response against pharmaverse admiralonco's published unit tests (the golden values).

R with admiralonco is not installed here, so the expected values are the ones written in
admiralonco's own testthat files (github.com/pharmaverse/admiralonco, tests/testthat/):

* ``test-derive_param_bor.R``            — Test 1 (three sub-cases) and Test 2 (source_pd)
* ``test-derive_param_confirmed_bor.R``  — Tests 1, 2, 3 and 4
* ``test-derive_param_confirmed_resp.R`` — Tests 1, 2 and 3
* ``test-check_crpr.R``                  — Test 3 (get_crpr_dataset)

Their inputs (ADSL: USUBJID, TRTSDT; ADRS: USUBJID, ADT, AVALC with PARAMCD == "OVR") are in
``tests/data/recist/admiralonco_adsl.csv`` / ``admiralonco_adrs.csv`` with our column names
(``patient_id, reference_date`` / ``patient_id, assessment_date, overall_response``).
admiralonco's ``ref_start_window`` is our ``sd_min_days``, ``ref_confirm`` our ``confirm_days``,
``max_nr_ne`` our ``max_ne_between``; ``source_pd = NULL`` is ``stop_at_first_pd=False`` and a
``source_pd`` date table is ``pd_dates``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from latc.derive.bor import (
    ResponseDataError,
    best_overall_response,
    confirmed_best_overall_response,
    confirmed_response,
    cr_followed_by_pr,
)

DATA = Path(__file__).parent / "data" / "recist"


@pytest.fixture()
def adsl() -> pd.DataFrame:
    return pd.read_csv(DATA / "admiralonco_adsl.csv", dtype=str)


@pytest.fixture()
def adrs() -> pd.DataFrame:
    return pd.read_csv(DATA / "admiralonco_adrs.csv", dtype=str)


#: the PD parameter of the confirmed-BOR/confirmed-response tests: PARAMCD == "PD", USUBJID 9, 2020-02-16
PD_PARAM = pd.DataFrame({"patient_id": ["9"], "pd_date": pd.to_datetime(["2020-02-16"])})


def _as_dict(df: pd.DataFrame, value: str) -> dict[str, tuple[str, str | None]]:
    date = df[f"{value}_date"].dt.strftime("%Y-%m-%d").astype(object).where(df[f"{value}_date"].notna(), None)
    return dict(zip(df["patient_id"], zip(df[value], date)))


# --------------------------------------------------------------------------------------------
# derive_param_bor (test-derive_param_bor.R). Its ADSL has subjects 1-8 and its ADRS no subject 9.


@pytest.fixture()
def bor_adsl(adsl):
    return adsl.loc[adsl["patient_id"] != "9"]


@pytest.fixture()
def bor_adrs(adrs):
    return adrs.loc[adrs["patient_id"] != "9"].reset_index(drop=True)


#: expected_01 of test-derive_param_bor.R
EXPECTED_BOR_01 = {
    "1": ("CR", "2020-02-01"),
    "2": ("CR", "2020-03-13"),
    "3": ("CR", "2019-11-12"),
    "4": ("PR", "2020-01-01"),
    "5": ("PR", "2020-01-01"),
    "6": ("CR", "2020-02-16"),
    "7": ("CR", "2020-02-16"),
    "8": ("MISSING", None),
}


def test_bor_test1_no_source_pd(bor_adrs, bor_adsl):
    """test-derive_param_bor.R, Test 1 "No source_pd", actual_01 vs expected_01 (ref_start_window = 28)."""
    got = best_overall_response(bor_adrs, bor_adsl, sd_min_days=28, stop_at_first_pd=False)
    assert _as_dict(got, "best_overall_response") == EXPECTED_BOR_01


def test_bor_test1_cr_pr_before_reference_window_still_count(bor_adrs, bor_adsl):
    """test-derive_param_bor.R, Test 1, actual_02: subject 7's records moved before TRTSDT + 28
    (2020-01-01 PR, 01-02 CR, 01-03 NE): CR and PR still count → CR on 2020-01-02."""
    adrs_01 = bor_adrs.copy()
    seven = adrs_01.index[adrs_01["patient_id"] == "7"]
    adrs_01.loc[seven, "assessment_date"] = ["2020-01-01", "2020-01-02", "2020-01-03"]
    got = _as_dict(best_overall_response(adrs_01, bor_adsl, sd_min_days=28, stop_at_first_pd=False), "best_overall_response")
    assert got == {**EXPECTED_BOR_01, "7": ("CR", "2020-01-02")}


def test_bor_test1_sd_before_reference_window_is_ne(bor_adrs, bor_adsl):
    """test-derive_param_bor.R, Test 1, actual_03: subject 7 only SD before TRTSDT + 28 → NE at the
    first record (2020-01-01)."""
    adrs_02 = bor_adrs.copy()
    seven = adrs_02.index[adrs_02["patient_id"] == "7"]
    adrs_02.loc[seven, "assessment_date"] = ["2020-01-01", "2020-01-02", "2020-01-03"]
    adrs_02.loc[seven, "overall_response"] = "SD"
    got = _as_dict(best_overall_response(adrs_02, bor_adsl, sd_min_days=28, stop_at_first_pd=False), "best_overall_response")
    assert got == {**EXPECTED_BOR_01, "7": ("NE", "2020-01-01")}


def test_bor_test2_with_source_pd(bor_adrs, bor_adsl):
    """test-derive_param_bor.R, Test 2 "With source_pd": PD dates 9 → 2020-02-16, 2 → 2020-03-01,
    6 → 2020-02-05.  Subject 2 becomes PR (2020-02-01), subject 6 MISSING (all records after PD)."""
    pd_records = pd.DataFrame({"patient_id": ["9", "2", "6"], "pd_date": pd.to_datetime(["2020-02-16", "2020-03-01", "2020-02-05"])})
    got = _as_dict(best_overall_response(bor_adrs, bor_adsl, sd_min_days=28, pd_dates=pd_records), "best_overall_response")
    assert got == {**EXPECTED_BOR_01, "2": ("PR", "2020-02-01"), "6": ("MISSING", None)}


# --------------------------------------------------------------------------------------------
# derive_param_confirmed_bor (test-derive_param_confirmed_bor.R)

EXPECTED_CBOR_1 = {
    "1": ("CR", "2020-02-01"),
    "2": ("SD", "2020-02-01"),
    "3": ("SD", "2020-01-01"),
    "4": ("SD", "2020-03-01"),
    "5": ("NON-CR/NON-PD", "2020-05-15"),
    "6": ("SD", "2020-03-30"),
    "7": ("NE", "2020-02-06"),
    "8": ("MISSING", None),
    "9": ("PD", "2020-02-16"),
}


def test_confirmed_bor_test1_default(adrs, adsl):
    """test-derive_param_confirmed_bor.R, Test 1 "default confirmed BOR": source_pd = PD parameter,
    ref_start_window = 28, ref_confirm = 28 (max_nr_ne = 1, accept_sd = FALSE by default)."""
    got = confirmed_best_overall_response(adrs, adsl, confirm_days=28, sd_min_days=28, pd_dates=PD_PARAM)
    assert _as_dict(got, "confirmed_best_overall_response") == EXPECTED_CBOR_1


def test_confirmed_bor_test1_first_pd_from_the_responses_gives_the_same(adrs, adsl):
    """Our default cut (first PD among the responses) equals Test 1's PD parameter here."""
    got = confirmed_best_overall_response(adrs, adsl, confirm_days=28, sd_min_days=28)
    assert _as_dict(got, "confirmed_best_overall_response") == EXPECTED_CBOR_1


def test_confirmed_bor_test2_accept_sd_nd_missing_as_ne(adrs, adsl):
    """test-derive_param_confirmed_bor.R, Test 2 "accept SD, ND handling, missing as NE": subject 7
    replaced by one ND on 2020-04-02; ref_confirm = 14, max_nr_ne = 0, accept_sd = TRUE,
    missing_as_ne = TRUE."""
    adrs_ext = pd.concat(
        [adrs.loc[adrs["patient_id"] != "7"], pd.DataFrame({"patient_id": ["7"], "assessment_date": ["2020-04-02"], "overall_response": ["ND"]})],
        ignore_index=True,
    )
    got = confirmed_best_overall_response(
        adrs_ext, adsl, confirm_days=14, sd_min_days=28, max_ne_between=0, accept_sd=True, missing_as_ne=True, pd_dates=PD_PARAM
    )
    assert _as_dict(got, "confirmed_best_overall_response") == {
        "1": ("PR", "2020-01-01"),
        "2": ("PR", "2020-02-01"),
        "3": ("CR", "2019-11-12"),
        "4": ("SD", "2020-03-01"),
        "5": ("PR", "2020-01-01"),
        "6": ("SD", "2020-03-30"),
        "7": ("ND", "2020-04-02"),
        "8": ("NE", None),
        "9": ("PD", "2020-02-16"),
    }


def test_confirmed_bor_test3_invalid_response_value(adsl):
    """test-derive_param_confirmed_bor.R, Test 3: an AVALC of "iCR" is an error naming the value."""
    bad = pd.DataFrame(
        {
            "patient_id": ["1"] * 5,
            "assessment_date": ["2020-01-01", "2020-02-01", "2020-02-16", "2020-03-01", "2020-04-01"],
            "overall_response": ["PR", "CR", "NE", "iCR", "SD"],
        }
    )
    with pytest.raises(ResponseDataError, match="ICR"):
        confirmed_best_overall_response(bad, adsl, confirm_days=28, sd_min_days=28, pd_dates=PD_PARAM)


def test_confirmed_bor_test4_no_source_pd(adrs, adsl):
    """test-derive_param_confirmed_bor.R, Test 4 "No source_pd": subject 9's SD after its PD now
    counts → SD on 2020-03-06; the rest as in Test 1."""
    got = confirmed_best_overall_response(adrs, adsl, confirm_days=28, sd_min_days=28, stop_at_first_pd=False)
    assert _as_dict(got, "confirmed_best_overall_response") == {**EXPECTED_CBOR_1, "9": ("SD", "2020-03-06")}


# --------------------------------------------------------------------------------------------
# derive_param_confirmed_resp (test-derive_param_confirmed_resp.R)


def _responders(df: pd.DataFrame) -> dict[str, str | None]:
    d = df["first_confirmed_response_date"]
    return dict(zip(df["patient_id"], d.dt.strftime("%Y-%m-%d").astype(object).where(d.notna(), None)))


def test_confirmed_response_test1_default(adrs, adsl):
    """test-derive_param_confirmed_resp.R, Test 1: only subject 1 responds ("Y", ADT 2020-01-01:
    the PR confirmed by the CR); all others "N" with no date."""
    got = confirmed_response(adrs, adsl, confirm_days=28, pd_dates=PD_PARAM)
    assert _responders(got) == {"1": "2020-01-01", **{p: None for p in "23456789"}}
    assert got.set_index("patient_id")["confirmed_response"].to_dict() == {"1": True, **{p: False for p in "23456789"}}


def test_confirmed_response_test2_accept_sd(adrs, adsl):
    """test-derive_param_confirmed_resp.R, Test 2: ref_confirm = 14, max_nr_ne = 0, accept_sd = TRUE
    (subject 7 = one ND) → responders 1 (2020-01-01), 2 (2020-02-01), 3 (2019-11-12), 5 (2020-01-01)."""
    adrs_ext = pd.concat(
        [adrs.loc[adrs["patient_id"] != "7"], pd.DataFrame({"patient_id": ["7"], "assessment_date": ["2020-04-02"], "overall_response": ["ND"]})],
        ignore_index=True,
    )
    got = confirmed_response(adrs_ext, adsl, confirm_days=14, max_ne_between=0, accept_sd=True, pd_dates=PD_PARAM)
    assert _responders(got) == {
        "1": "2020-01-01",
        "2": "2020-02-01",
        "3": "2019-11-12",
        "4": None,
        "5": "2020-01-01",
        "6": None,
        "7": None,
        "8": None,
        "9": None,
    }


def test_confirmed_response_test3_invalid_value(adsl):
    """test-derive_param_confirmed_resp.R, Test 3: "iCR" is rejected."""
    bad = pd.DataFrame({"patient_id": ["1", "1"], "assessment_date": ["2020-01-01", "2020-03-01"], "overall_response": ["PR", "iCR"]})
    with pytest.raises(ResponseDataError):
        confirmed_response(bad, adsl, confirm_days=28)


# --------------------------------------------------------------------------------------------
# signal_crpr / get_crpr_dataset (test-check_crpr.R)


def test_cr_followed_by_pr_check_crpr_test3():
    """test-check_crpr.R, Test 3: the CR records followed by PR are subject 2's CR 2020-02-16 and
    PR 2020-03-30; subject 1 (PR, CR, NE, CR, SD) has none."""
    adrs = pd.DataFrame(
        {
            "patient_id": ["1"] * 5 + ["2"] * 3,
            "assessment_date": ["2020-01-01", "2020-02-01", "2020-02-16", "2020-03-01", "2020-04-01", "2020-02-06", "2020-02-16", "2020-03-30"],
            "overall_response": ["PR", "CR", "NE", "CR", "SD", "PR", "CR", "PR"],
        }
    )
    got = cr_followed_by_pr(adrs)
    assert got["patient_id"].tolist() == ["2"]
    assert got["cr_date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-02-16"]
    assert got["pr_date"].dt.strftime("%Y-%m-%d").tolist() == ["2020-03-30"]
