"""The ``response`` analysis dataset and the concordance of computed and recorded responses.

Which reader's responses a patient's BOR uses (``response_source``) is decided in
:func:`latc.derive.datasets.derive_datasets`; here: the recorded timepoint responses checked and
cleaned (:func:`_recorded_responses`), one cross-tabulation per concordance level
(:func:`_crosstab`) and the long ``response`` dataset (:func:`_response_dataset`, like CDISC ADRS).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from latc.derive import bor as _bor
from latc.derive._assembly import _Collector, _lookup, _lookup_text
from latc.derive.biochem import positions, text_from_codes
from latc.derive.recist import response_long

RESPONSE_SOURCES: tuple[str, ...] = ("computed", "investigator")

#: ``response`` parameter codes (after CDISC ADRS PARAMCD) and their labels.
RESPONSE_PARAMETERS: dict[str, str] = {
    "TRGRESP": "Target lesion response (RECIST 1.1)",
    "NTRGRESP": "Non-target lesion response (RECIST 1.1)",
    "NEWLPROG": "New lesion (Y/N)",
    "OVRLRESP": "Overall timepoint response (RECIST 1.1)",
    "BOR": "Best overall response (unconfirmed)",
    "CBOR": "Best overall response (confirmed)",
}
_LONG_TO_PARAMCD = {"target_response": "TRGRESP", "non_target_response": "NTRGRESP", "new_lesion": "NEWLPROG",
                    "overall_response": "OVRLRESP"}


def _recorded_responses(tpr: pd.DataFrame, col: _Collector) -> pd.DataFrame:
    """Investigator/central timepoint responses with usable codes; the others become problems."""
    if tpr is None or not len(tpr):
        return pd.DataFrame({"patient_id": pd.Series([], dtype="str"), "assessment_date": pd.Series([], dtype="datetime64[ns]"),
                             "overall_response": pd.Series([], dtype="str"), "assessor": pd.Series([], dtype="str")})
    t = pd.DataFrame({
        "patient_id": tpr["patient_id"].astype("str").to_numpy(),
        "assessment_date": pd.to_datetime(tpr["assessment_date"], errors="coerce").astype("datetime64[ns]").to_numpy(),
        "overall_response": _bor.normalise_response(tpr["overall_response"]).to_numpy(),
        "assessor": (tpr["assessor"].astype("str") if "assessor" in tpr else pd.Series(pd.NA, index=tpr.index, dtype="str")).to_numpy(),
    })
    raw_code = tpr["overall_response"].astype("str").reset_index(drop=True)
    bad = ~t["overall_response"].isin(_bor.VALID_RESPONSES - {"ND"})
    if bad.any():
        col.note("response", "unknown_response_code",
                 "timepoint_responses.overall_response is not a RECIST 1.1 overall response "
                 "(CR, PR, SD, NON-CR/NON-PD, PD, NE): row left out of the best overall response",
                 patient_id=t.loc[bad, "patient_id"], field="overall_response", value=raw_code[bad].fillna(""))
    no_date = ~bad & t["assessment_date"].isna()
    if no_date.any():
        col.note("response", "assessment_date_missing", "recorded timepoint response without a valid date: row left out",
                 patient_id=t.loc[no_date, "patient_id"], field="assessment_date")
    t = t[~bad & ~no_date]
    dup = t.duplicated(["patient_id", "assessment_date"], keep=False)
    if dup.any():
        d = t[dup]
        conflicting = d.groupby(["patient_id", "assessment_date"])["overall_response"].transform("nunique") > 1
        c = d[conflicting.to_numpy()]
        if len(c):
            col.note("response", "conflicting_responses",
                     "two different recorded responses on the same date (e.g. investigator and central review): "
                     "the date is left out of the best overall response",
                     patient_id=c["patient_id"], field="overall_response", value=c["overall_response"])
            key = pd.MultiIndex.from_frame(c[["patient_id", "assessment_date"]])
            t = t[~pd.MultiIndex.from_frame(t[["patient_id", "assessment_date"]]).isin(key)]
        t = t.drop_duplicates(["patient_id", "assessment_date"])
    return t.reset_index(drop=True)


def _crosstab(level: str, computed: pd.Series, investigator: pd.Series) -> pd.DataFrame:
    df = pd.DataFrame({"computed": computed.astype("str").to_numpy(), "investigator": investigator.astype("str").to_numpy()})
    if not len(df):
        return pd.DataFrame({"level": pd.Series([], dtype="str"), "computed": pd.Series([], dtype="str"),
                             "investigator": pd.Series([], dtype="str"), "n": pd.Series([], dtype="int64"),
                             "agree": pd.Series([], dtype="bool")})
    g = df.groupby(["computed", "investigator"], dropna=False).size().rename("n").reset_index()
    g.insert(0, "level", level)
    g["agree"] = (g["computed"] == g["investigator"]).fillna(False).astype(bool)
    order = {v: i for i, v in enumerate(_bor.RESPONSE_ORDER)}
    g = g.sort_values(["computed", "investigator"], key=lambda s: s.map(order).fillna(99), kind="stable")
    return g.astype({"level": "str", "computed": "str", "investigator": "str", "n": "int64"}).reset_index(drop=True)



def _response_dataset(tumour: pd.DataFrame, recorded: pd.DataFrame, endpoints: pd.DataFrame, by_source: pd.Series,
                      response_set: np.ndarray, pid: pd.Series, centers: pd.Series, cohort: pd.Series) -> pd.DataFrame:
    in_set = pd.Series(response_set, index=pid.to_numpy())
    parts = []
    if "target_response" in tumour and len(tumour):
        long = response_long(tumour)
        parts.append(pd.DataFrame({
            "patient_id": long["patient_id"].astype("str"),
            "paramcd": text_from_codes(positions(long["parameter"], list(_LONG_TO_PARAMCD)), list(_LONG_TO_PARAMCD.values()),
                                       index=long.index),
            "assessment_date": long["assessment_date"], "value": long["value"], "source": "computed",
            "assessor": pd.Series(pd.NA, index=long.index, dtype="str")}))
    if len(recorded):
        parts.append(pd.DataFrame({
            "patient_id": recorded["patient_id"], "paramcd": "OVRLRESP", "assessment_date": recorded["assessment_date"],
            "value": recorded["overall_response"], "source": "investigator", "assessor": recorded["assessor"]}))
    timepoints = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        {"patient_id": pd.Series([], dtype="str"), "paramcd": pd.Series([], dtype="str"),
         "assessment_date": pd.Series([], dtype="datetime64[ns]"), "value": pd.Series([], dtype="str"),
         "source": pd.Series([], dtype="str"), "assessor": pd.Series([], dtype="str")})
    timepoints["analysis_flag"] = ((timepoints["source"] == _lookup(timepoints["patient_id"], by_source)).fillna(False)
                                   & _lookup(timepoints["patient_id"], in_set).fillna(False)).astype(bool)
    bor_rows = []
    if "best_overall_response" in endpoints:
        e = endpoints
        for code, col in (("BOR", "best_overall_response"), ("CBOR", "confirmed_best_overall_response")):
            bor_rows.append(pd.DataFrame({
                "patient_id": e["patient_id"].astype("str"), "paramcd": code, "assessment_date": e[f"{col}_date"],
                "value": e[col].astype("str"), "source": _lookup(e["patient_id"], by_source).astype("str"),
                "assessor": pd.Series(pd.NA, index=e.index, dtype="str"), "analysis_flag": True}))
    out = pd.concat([timepoints, *bor_rows], ignore_index=True)
    # order: patient, timepoints by date and parameter (computed before investigator), then BOR and
    # CBOR — on integer keys (string sorts
    # of millions of rows are slow)
    pcode = pd.factorize(out["patient_id"], sort=True)[0]
    ocode = positions(out["paramcd"], list(RESPONSE_PARAMETERS))
    scode = positions(out["source"], list(RESPONSE_SOURCES))
    day = out["assessment_date"].astype("datetime64[ns]").to_numpy().astype("int64")  # NaT sorts first
    per_patient = ocode >= list(RESPONSE_PARAMETERS).index("BOR")  # BOR, CBOR after the timepoints
    order = np.lexsort((scode, ocode, day, per_patient, pcode))
    out = out.take(order).reset_index(drop=True)
    out.insert(1, "center_id", _lookup_text(out["patient_id"], centers))
    out.insert(2, "cohort", _lookup_text(out["patient_id"], pd.Series(cohort.to_numpy(), index=pid.to_numpy())))
    out.insert(4, "param", text_from_codes(ocode[order], list(RESPONSE_PARAMETERS.values())))
    out["assessment_date"] = out["assessment_date"].astype("datetime64[ns]")
    for c in ("patient_id", "paramcd", "value", "source", "assessor"):
        out[c] = out[c].astype("str")
    out["analysis_flag"] = out["analysis_flag"].astype(bool)
    return out
