"""Small vectorised helpers shared by the synthetic-cohort modules."""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
import pyarrow as pa

from latc.dictionary import Form, load_dictionary


def stream(seed: int, name: str) -> np.random.Generator:
    """An independent random stream per (seed, module part): changing one part of the generator
    leaves the draws of every other part unchanged."""
    return np.random.default_rng([int(seed), zlib.crc32(name.encode())])


def choose(rng: np.random.Generator, options: Mapping[str, float] | Sequence[str], n: int,
           p: Sequence[float] | None = None) -> np.ndarray:
    """``n`` draws from the options (a mapping option → weight, or a sequence with ``p``)."""
    if isinstance(options, Mapping):
        keys, w = list(options), np.asarray(list(options.values()), dtype=float)
    else:
        keys, w = list(options), np.asarray(p if p is not None else np.ones(len(options)), dtype=float)
    idx = rng.choice(len(keys), size=n, p=w / w.sum())
    return np.asarray(keys, dtype=object)[idx]


def choose_by_row(rng: np.random.Generator, probs: np.ndarray, keys: Sequence) -> np.ndarray:
    """One draw per row from a matrix of row-wise probabilities (rows need not sum to one)."""
    cum = np.cumsum(probs, axis=1)
    cum = cum / cum[:, -1:]
    u = rng.random(len(probs))[:, None]
    idx = (u > cum).sum(axis=1)
    return np.asarray(keys, dtype=object)[np.minimum(idx, len(keys) - 1)]


def triangular_days(rng: np.random.Generator, lo: float, mode: float, hi: float, n: int) -> np.ndarray:
    return np.rint(rng.triangular(lo, mode, hi, n)).astype(np.int64)


def dates(t0: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Calendar dates (datetime64[ns]) of day offsets from each row's time zero; NaN days → NaT."""
    days = np.asarray(days, dtype=float)
    out = np.asarray(t0, dtype="datetime64[D]") + np.nan_to_num(days, nan=0).astype(np.int64)
    out = out.astype("datetime64[ns]")
    out[np.isnan(days)] = np.datetime64("NaT", "ns")
    return out


def occurrence(group: np.ndarray) -> np.ndarray:
    """0-based running number within consecutive equal values of ``group`` (sorted input)."""
    group = np.asarray(group)
    n = len(group)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    new = np.ones(n, dtype=bool)
    new[1:] = group[1:] != group[:-1]
    starts = np.flatnonzero(new)
    lengths = np.diff(np.append(starts, n))
    return np.arange(n) - np.repeat(starts, lengths)


class Coded(NamedTuple):
    """Text values given as integer codes into categories (−1 = missing): builds a large text
    column without materialising Python strings per row."""

    codes: np.ndarray
    categories: np.ndarray


_STR = pd.StringDtype("pyarrow", na_value=np.nan)


def text_column(values: object) -> pd.Series:
    """A pandas ``str`` column from codes, a str Series, or any array of str / None."""
    if isinstance(values, pd.Series) and values.dtype == _STR:
        return values.reset_index(drop=True)
    if isinstance(values, Coded):
        codes, cats = np.asarray(values.codes), np.asarray(values.categories, dtype=object)
    else:
        codes, cats = pd.factorize(np.asarray(values, dtype=object), use_na_sentinel=True)
        cats = np.asarray(cats, dtype=object)
    dictionary = pa.array([str(c) for c in cats], type=pa.large_string())
    arr = pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32), mask=codes < 0), dictionary)
    return pd.Series(arr.cast(pa.large_string()).to_pandas(types_mapper={pa.large_string(): _STR}.get))


_DTYPES = {"text": "str", "notes": "str", "choice": "str", "integer": "Int64", "number": "Float64",
           "date": "datetime64[ns]", "yesno": "boolean"}


def typed_table(form: str | Form, columns: Mapping[str, object], n: int | None = None) -> pd.DataFrame:
    """A table holding exactly the form's fields in dictionary order, typed per CONTRACTS.md
    (text/choice → ``str``; integer → ``Int64``; number → ``Float64``; date → ``datetime64[ns]``;
    yesno → ``boolean``). Fields absent from ``columns`` are missing; None/NaN → missing."""
    f = form if isinstance(form, Form) else load_dictionary().forms[form]
    unknown = set(columns) - set(f.field_names)
    if unknown:
        raise KeyError(f"{f.name}: not dictionary fields: {sorted(unknown)}")
    if n is None:
        n = len(next(iter(columns.values()))) if columns else 0
    out: dict[str, pd.Series] = {}
    for fld in f.fields:
        dtype = _DTYPES[fld.type]
        if fld.name not in columns:
            if fld.type == "date":
                out[fld.name] = pd.Series(np.full(n, np.datetime64("NaT"), dtype="datetime64[ns]"))
            else:
                out[fld.name] = pd.Series(pd.array([pd.NA] * n, dtype=dtype))
            continue
        values = columns[fld.name]
        if fld.type in ("text", "notes", "choice"):
            out[fld.name] = text_column(values)
        elif fld.type == "date":
            out[fld.name] = pd.Series(np.asarray(values, dtype="datetime64[ns]"))
        elif fld.type == "yesno":
            if isinstance(values, (pd.Series, pd.api.extensions.ExtensionArray)):
                out[fld.name] = pd.Series(pd.array(values, dtype="boolean")).reset_index(drop=True)
            else:
                arr = np.asarray(values)
                if arr.dtype == bool:
                    out[fld.name] = pd.Series(pd.array(arr, dtype="boolean"))
                else:
                    missing = pd.isna(arr)
                    out[fld.name] = pd.Series(pd.arrays.BooleanArray(np.where(missing, False, arr).astype(bool), missing))
        elif fld.type == "integer":
            arr = np.asarray(values, dtype=float)
            out[fld.name] = pd.Series(pd.array(np.where(np.isnan(arr), np.nan, np.rint(arr)), dtype="Float64")).astype("Int64")
        else:
            arr = np.asarray(values, dtype=float)
            out[fld.name] = pd.Series(pd.array(arr, dtype="Float64"))
        if len(out[fld.name]) != n:
            raise ValueError(f"{f.name}.{fld.name}: {len(out[fld.name])} values for {n} rows")
    return pd.DataFrame(out)
