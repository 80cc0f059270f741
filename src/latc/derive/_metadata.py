"""Variable-level metadata of the analysis datasets, generated from ``metadata.yaml``.

``metadata.yaml`` has three sections:

* ``citations``: short key → full reference (a variable's ``citation`` may be a key or free text);
* ``common``: variables shared by several datasets (``patient_id``, ``center_id``, …), defined once;
* ``datasets``: per dataset a ``label``, a default ``source`` and ``variables`` — each either a
  mapping (``name, label, unit, rule, source, citation``) or a bare name, resolved from ``common``
  and then from the first other dataset (in file order) that defines it in full.  A mapping may carry ``expand`` (placeholder
  → {value: label}) to stand for several variables, e.g. ``{m}_baseline`` for every marker;
  ``{m}`` is replaced by the value and ``{m_label}`` by its label (cartesian product over several
  placeholders).

The ``type`` of each variable is read from the written data (text, integer, number, boolean,
date), so it cannot disagree with the files.
"""

from __future__ import annotations

import itertools
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from latc.errors import LatcError

#: libyaml's safe loader when PyYAML was built with it (the same documents, ~8× faster), else PyYAML's own.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

METADATA_COLUMNS = ["dataset", "variable", "label", "type", "unit", "derivation", "source", "citation", "documented"]


class MetadataError(LatcError, ValueError):
    """metadata.yaml is malformed (a developer error)."""


def _expand(entry: dict[str, Any]) -> list[dict[str, Any]]:
    spec = entry.get("expand")
    if not spec:
        return [entry]
    keys = list(spec)
    out = []
    for combo in itertools.product(*[list(spec[k].items()) for k in keys]):
        subs = {}
        for k, (value, label) in zip(keys, combo):
            subs[k] = value
            subs[f"{k}_label"] = label
        e = {f: (v.format(**subs) if isinstance(v, str) else v) for f, v in entry.items() if f != "expand"}
        out.append(e)
    return out


@lru_cache(maxsize=4)
def load_metadata(path: str | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """dataset → variable → ``{label, unit, derivation, source, citation}`` (citations resolved)."""
    text = Path(path).read_text(encoding="utf-8") if path else \
        resources.files("latc.derive").joinpath("metadata.yaml").read_text(encoding="utf-8")
    doc = yaml.load(text, Loader=_SAFE_LOADER)
    citations: dict[str, str] = doc.get("citations", {}) or {}
    common: dict[str, dict] = {}
    for e in doc.get("common", []) or []:
        for x in _expand(e):
            common[x["name"]] = x
    # definitions given in full, per dataset
    full: dict[str, dict[str, dict]] = {}
    for ds, spec in doc["datasets"].items():
        full[ds] = {}
        for e in spec.get("variables", []):
            if isinstance(e, dict):
                for x in _expand(e):
                    if x["name"] in full[ds]:
                        raise MetadataError(f"{ds}.{x['name']} defined twice")
                    full[ds][x["name"]] = x
    owners: dict[str, list[str]] = {}
    for ds, vs in full.items():
        for name in vs:
            owners.setdefault(name, []).append(ds)

    out: dict[str, dict[str, dict[str, Any]]] = {}
    for ds, spec in doc["datasets"].items():
        default_source = spec.get("source", "")
        out[ds] = {}
        for e in spec.get("variables", []):
            if isinstance(e, str):
                if e in common:
                    items = [common[e]]
                elif [o for o in owners.get(e, []) if o != ds]:
                    items = [full[[o for o in owners[e] if o != ds][0]][e]]
                else:
                    raise MetadataError(f"{ds}: variable {e!r} is neither in common nor defined in another dataset")
            else:
                items = _expand(e)
            for x in items:
                if "label" not in x:
                    raise MetadataError(f"{ds}.{x.get('name')}: no label")
                cite = x.get("citation") or ""
                out[ds][x["name"]] = {
                    "label": x["label"],
                    "unit": x.get("unit") or "",
                    "derivation": " ".join(str(x.get("rule") or "").split()),
                    "source": x.get("source") or default_source,
                    "citation": "; ".join(citations.get(c.strip(), c.strip()) for c in str(cite).split(";")) if cite else "",
                }
    return out


def dtype_name(series: pd.Series) -> str:
    """text / integer / number / boolean / date, as in the data dictionary's vocabulary."""
    dt = series.dtype
    if pd.api.types.is_bool_dtype(dt):
        return "boolean"
    if pd.api.types.is_integer_dtype(dt):
        return "integer"
    if pd.api.types.is_float_dtype(dt):
        return "number"
    if pd.api.types.is_datetime64_any_dtype(dt):
        return "date"
    return "text"


def metadata_table(tables: dict[str, pd.DataFrame], path: str | None = None) -> pd.DataFrame:
    """One row per dataset × column of ``tables`` (in column order) with its metadata.

    ``documented`` is False for a column without an entry in ``metadata.yaml`` (label empty): the
    test suite requires every written column to be documented and every entry to be written.
    """
    meta = load_metadata(path)
    rows = []
    for ds, t in tables.items():
        m = meta.get(ds, {})
        for c in t.columns:
            e = m.get(c)
            rows.append({"dataset": ds, "variable": c, "label": e["label"] if e else "", "type": dtype_name(t[c]),
                         "unit": e["unit"] if e else "", "derivation": e["derivation"] if e else "",
                         "source": e["source"] if e else "", "citation": e["citation"] if e else "", "documented": e is not None})
    return pd.DataFrame(rows, columns=METADATA_COLUMNS)
