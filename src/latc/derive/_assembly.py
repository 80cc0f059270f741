"""Building blocks of the analysis datasets (:mod:`latc.derive.datasets`): the problem collector
that keeps one failing derivation from stopping the others, and per-patient alignment of the
derivation modules' outputs on hashed patient ids (no per-row Python at millions of rows)."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from latc.derive.biochem import positions, text_from_codes

PROBLEM_COLUMNS = ["derivation", "patient_id", "field", "value", "rule", "message"]
_TYPE_DTYPES = {"text": "str", "notes": "str", "choice": "str", "integer": "Int64", "number": "Float64",
                "date": "datetime64[ns]", "yesno": "boolean"}


def _empty_form(form: str) -> pd.DataFrame:
    from latc.dictionary import load_dictionary

    f = load_dictionary().forms[form]
    return pd.DataFrame({fl.name: pd.Series([], dtype=_TYPE_DTYPES[fl.type]) for fl in f.fields})


def _problems_frame(derivation: str, problems: pd.DataFrame | None) -> pd.DataFrame:
    """A module's problem table in the common shape (``lesion_id`` folds into field/value)."""
    if problems is None or not len(problems):
        return pd.DataFrame({c: pd.Series([], dtype="str") for c in PROBLEM_COLUMNS})
    p = problems
    n = len(p)

    def col(name: str, default: Any = pd.NA) -> np.ndarray:
        return p[name].astype("str").to_numpy(dtype=object) if name in p else np.full(n, default, dtype=object)

    field_ = col("field")
    value = col("value")
    if "lesion_id" in p and "field" not in p:
        field_ = np.full(n, "lesion_id", dtype=object)
        value = col("lesion_id")
    out = pd.DataFrame({"derivation": derivation, "patient_id": col("patient_id"), "field": field_, "value": value,
                        "rule": col("rule"), "message": col("message")})
    return out.astype("str")


class _Collector:
    """Runs derivations, timing them and turning an unexpected failure into a problem row."""

    def __init__(self) -> None:
        self.problems: list[pd.DataFrame] = []
        self.timings: dict[str, float] = {}

    def add(self, derivation: str, problems: pd.DataFrame | None) -> None:
        if problems is not None and len(problems):
            self.problems.append(_problems_frame(derivation, problems))

    def note(self, derivation: str, rule: str, message: str, patient_id: pd.Series | None = None,
             field: str = "", value: pd.Series | str = "") -> None:
        pid = patient_id.astype("str").to_numpy(dtype=object) if patient_id is not None else np.array([pd.NA], dtype=object)
        val = value.astype("str").to_numpy(dtype=object) if isinstance(value, pd.Series) else value
        self.problems.append(pd.DataFrame({"derivation": derivation, "patient_id": pid, "field": field, "value": val,
                                           "rule": rule, "message": message}).astype("str"))

    def run(self, derivation: str, fn: Callable[[], Any], fallback: Callable[[], Any]) -> Any:
        t0 = time.perf_counter()
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - a failing derivation must not stop the other ones
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            self.note(derivation, "derivation_failed",
                      f"{derivation} could not be derived ({type(exc).__name__}: {first[:300]}); its columns are left missing")
            return fallback()
        finally:
            self.timings[derivation] = self.timings.get(derivation, 0.0) + time.perf_counter() - t0

    def frame(self) -> pd.DataFrame:
        if not self.problems:
            return pd.DataFrame({c: pd.Series([], dtype="str") for c in PROBLEM_COLUMNS})
        out = pd.concat(self.problems, ignore_index=True)[PROBLEM_COLUMNS]
        # several modules check the same source rows (e.g. treatments): report each problem once
        return out.drop_duplicates(ignore_index=True).astype("str")


def _per_patient(table: pd.DataFrame, pid: pd.Series, columns: list[str], rename: Mapping[str, str] | None = None) -> pd.DataFrame:
    """Columns of a one-row-per-patient table aligned on ``pid`` (missing columns → all missing;
    a patient listed twice → the first row)."""
    if "patient_id" in table and len(table) and all(c in table for c in columns):
        # patients matched on hashed codes; each column taken with missing rows filled
        pos = positions(pid, table["patient_id"])
        cols = {c: pd.array(table[c], dtype=_nullable(table[c].dtype), copy=False).take(pos, allow_fill=True) for c in columns}
        return pd.DataFrame(cols, index=pid.index).rename(columns=dict(rename or {}))
    if "patient_id" in table and len(table):
        t = table.drop_duplicates("patient_id")
        t = t.set_index(t["patient_id"].astype("str").to_numpy())
    else:
        t = pd.DataFrame(index=pd.Index([], dtype=object))
    t = t.reindex(columns=list(columns))
    dtypes = {c: _nullable(t[c].dtype) for c in t.columns}
    t = t.reindex(pid.to_numpy()).astype(dtypes)
    t.index = pid.index
    return t.rename(columns=dict(rename or {}))


def _nullable(dtype: Any) -> Any:
    """The dtype a column keeps when reindexing adds missing rows (numpy bool/int → nullable)."""
    if dtype == bool:
        return "boolean"
    if pd.api.types.is_integer_dtype(dtype) and not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        return "Int64"
    if dtype == object:
        return "str"
    return dtype


def _bool(values: pd.Series | np.ndarray, index: pd.Index) -> pd.Series:
    return pd.Series(np.asarray(values, dtype=bool), index=index, dtype="boolean")


def _insert_after(df: pd.DataFrame, after: str, name: str, values: Any) -> pd.DataFrame:
    out = df.copy()
    if name in out:
        out = out.drop(columns=name)
    out.insert(out.columns.get_loc(after) + 1 if after in out else 0, name, values)
    return out


def _isin(values: pd.Series, keys: pd.Series) -> np.ndarray:
    """``values.isin(keys)`` for text ids, hashed in pyarrow (numpy bool)."""
    import pyarrow.compute as pc

    from latc.derive.biochem import _arrow_text

    if not len(values) or not len(keys):
        return np.zeros(len(values), dtype=bool)
    return pc.is_in(_arrow_text(values), value_set=_arrow_text(keys), skip_nulls=True).to_numpy(zero_copy_only=False).astype(bool)


def _lookup(values: pd.Series, by_patient: pd.Series) -> pd.Series:
    """``by_patient`` (indexed by patient id, unique) looked up for each id in ``values`` — like
    ``values.map(by_patient)`` but matched on hashed codes; missing where the id is unknown."""
    pos = positions(values, by_patient.index)
    arr = pd.array(by_patient.to_numpy(), dtype=_nullable(by_patient.dtype)) if by_patient.dtype != "str" else by_patient.array
    return pd.Series(arr.take(pos, allow_fill=True), index=values.index)


def _lookup_text(values: pd.Series, by_patient: pd.Series) -> pd.Series:
    """Text ``by_patient`` looked up per id (``str``; built from codes, no per-row string work)."""
    pos = positions(values, by_patient.index)
    codes, uniques = pd.factorize(by_patient, use_na_sentinel=True)
    return text_from_codes(np.where(pos >= 0, codes[np.maximum(pos, 0)] if len(codes) else -1, -1),
                           [str(u) for u in uniques], index=values.index)


def _with_center(df: pd.DataFrame, centers: pd.Series) -> pd.DataFrame:
    """``center_id`` right after ``patient_id`` (from the patients table)."""
    values = _lookup_text(df["patient_id"], centers) if "patient_id" in df else pd.Series(dtype="str")
    return _insert_after(df, "patient_id", "center_id", values.to_numpy())


def _eligibility_flags(patients: pd.DataFrame, eligibility: pd.DataFrame | None, col: _Collector) -> pd.DataFrame:
    pid = patients["patient_id"].astype("str")
    if eligibility is None:
        col.note("populations", "eligibility_not_supplied",
                 "no eligibility table was given: every patient is counted in the analysis set")
        return pd.DataFrame({"eligible": pd.array([True] * len(pid), dtype="boolean"),
                             "failed_criteria": pd.array([pd.NA] * len(pid), dtype="str")}, index=patients.index)
    el = eligibility.copy()
    el["patient_id"] = el["patient_id"].astype("str")
    raw = el["eligible"] if "eligible" in el else pd.Series(pd.NA, index=el.index)
    if not pd.api.types.is_bool_dtype(raw):
        txt = raw.astype("str").str.strip().str.lower()
        raw = txt.map({"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False})
    el["eligible"] = raw.astype("boolean")
    if "failed_criteria" not in el:
        el["failed_criteria"] = pd.NA
    got = _per_patient(el, pid, ["eligible", "failed_criteria"])
    missing = got["eligible"].isna()
    if missing.any():
        col.note("populations", "eligibility_missing",
                 "patient has no usable row in the eligibility table: not counted in the analysis set",
                 patient_id=pid[missing], field="eligible")
    got["failed_criteria"] = got["failed_criteria"].astype("str").replace({"": pd.NA, "nan": pd.NA}).astype("str")
    return got

