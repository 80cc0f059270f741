"""A clean synthetic study satisfies every rule of the data dictionary.

The checks below are written directly from the dictionary (field types, codes, ranges incl. soft
ranges, required, show_if both ways, unique keys, the ``rules:`` section: references, date order,
no future dates, nothing after death, plausibility) and run on the study as written to CSV and
read back as text — independent of latc.validate.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from latc.dictionary import load_dictionary
from latc.synth import write_synthetic_study

D = load_dictionary()
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@lru_cache(maxsize=4)
def _written(n: int, centers: int, seed: int, tmp: str) -> tuple[dict[str, pd.DataFrame], dict]:
    import json

    r = write_synthetic_study(Path(tmp) / f"s{n}_{seed}", n_patients=n, n_centers=centers, seed=seed)
    tables = {f: pd.read_csv(r.study_path / f"{f}.csv", dtype=str, keep_default_na=False).replace("", np.nan)
              for f in D.forms}
    return tables, json.loads(r.truth_path.read_text())


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> tuple[dict[str, pd.DataFrame], dict]:
    return _written(700, 6, 7, str(tmp_path_factory.mktemp("synth")))


def field_problems(tables: dict[str, pd.DataFrame]) -> list[str]:
    """Per-field rules: columns, type, code, range (hard and soft), pattern, required, show_if, units."""
    out: list[str] = []
    for form in D.forms.values():
        t = tables[form.name]
        if list(t.columns) != form.field_names:
            out.append(f"{form.name}: columns {list(t.columns)} != dictionary")
            continue
        for f in form.fields:
            col = t[f.name]
            present = col.notna()
            shown = f.show_if.evaluate(t) if f.show_if is not None else pd.Series(True, index=t.index)
            if f.required and (shown & ~present).any():
                out.append(f"{form.name}.{f.name}: required but missing in {(shown & ~present).sum()} rows")
            if (~shown & present).any():
                out.append(f"{form.name}.{f.name}: present although show_if is false in {(~shown & present).sum()} rows")
            v = col[present]
            if f.type in ("choice", "yesno"):
                bad = ~v.isin(f.codes)
                if bad.any():
                    out.append(f"{form.name}.{f.name}: unknown codes {sorted(set(v[bad]))[:5]}")
            elif f.type == "date":
                bad = ~v.str.match(DATE_RE) | pd.to_datetime(v, errors="coerce", format="%Y-%m-%d").isna()
                if bad.any():
                    out.append(f"{form.name}.{f.name}: bad dates {list(v[bad])[:3]}")
            elif f.type in ("integer", "number"):
                x = pd.to_numeric(v, errors="coerce")
                if x.isna().any():
                    out.append(f"{form.name}.{f.name}: not numbers {list(v[x.isna()])[:3]}")
                if f.type == "integer" and (x.dropna() % 1 != 0).any():
                    out.append(f"{form.name}.{f.name}: non-integers")
                for lim, op in ((f.min, "lt"), (f.soft_min, "lt"), (f.max, "gt"), (f.soft_max, "gt")):
                    if lim is not None and (getattr(x, op)(lim)).any():
                        out.append(f"{form.name}.{f.name}: outside {op} {lim}: {list(x[getattr(x, op)(lim)])[:3]}")
            if f.pattern and (~v.astype(str).str.match(f.pattern)).any():
                out.append(f"{form.name}.{f.name}: pattern {f.pattern} fails {list(v[~v.str.match(f.pattern)])[:3]}")
            if f.allowed_by:
                allowed = f.allowed_by["values"]
                other = t.loc[present, f.allowed_by["field"]]
                ok = [val in allowed.get(o, []) for val, o in zip(v, other)]
                if not all(ok):
                    out.append(f"{form.name}.{f.name}: not allowed for {f.allowed_by['field']}")
        if t.duplicated(form.key).any():
            out.append(f"{form.name}: duplicate keys {form.key}: {t[t.duplicated(form.key)][form.key].head(3).values.tolist()}")
    return out


def _dates(s: pd.Series) -> pd.Series:
    return pd.to_datetime(s, errors="coerce", format="%Y-%m-%d")


def cross_form_problems(tables: dict[str, pd.DataFrame], data_cut: str) -> list[str]:
    """The dictionary's ``rules:`` section."""
    out: list[str] = []
    rules = D.rules
    for ref in rules["references"]:
        forms = [f for f in D.forms if f != ref["refers_to"]] if ref["form"] == "*" else [ref["form"]]
        target = tables[ref["refers_to"]]
        keys = set(map(tuple, target[ref["fields"]].astype(str).to_numpy()))
        for f in forms:
            t = tables[f]
            if not set(ref["fields"]) <= set(t.columns):
                continue
            mask = pd.Series(True, index=t.index)
            if "unless" in ref:
                mask = t["is_new_lesion"] != "1"  # the dictionary's "unless: is_new_lesion == 1"
            rows = list(map(tuple, t.loc[mask, ref["fields"]].astype(str).to_numpy()))
            missing = [r for r in rows if r not in keys]
            if missing:
                out.append(f"{f} → {ref['refers_to']} on {ref['fields']}: {len(missing)} unmatched, e.g. {missing[:2]}")
    for rule in rules["date_order"]:
        ef, ec = rule["earlier"].split(".")
        lf, lc = rule["later"].split(".")
        if ef == lf:
            a, b = _dates(tables[ef][ec]), _dates(tables[lf][lc])
            bad = a.notna() & b.notna() & (a > b)
        else:
            by = rule.get("by", ["patient_id"])
            left = tables[ef][by + [ec]].assign(_a=lambda x: _dates(x[ec]))
            if D.forms[ef].repeating:  # every earlier row of the patient: use the latest one
                left = left.groupby(by, as_index=False)["_a"].max()
            m = tables[lf][by + [lc]].assign(_b=lambda x: _dates(x[lc])).merge(left[by + ["_a"]], on=by, how="inner")
            bad = m["_a"].notna() & m["_b"].notna() & (m["_a"] > m["_b"])
        if bad.any():
            out.append(f"date order {rule['earlier']} <= {rule['later']}: {int(bad.sum())} violations")
    cut = pd.Timestamp(data_cut)
    death = tables["follow_up"].dropna(subset=["death_date"]).groupby("patient_id")["death_date"].max().map(pd.Timestamp)
    for form in D.forms.values():
        for f in form.fields:
            if f.type != "date":
                continue
            dt = _dates(tables[form.name][f.name])
            if (dt > cut).any():
                out.append(f"{form.name}.{f.name}: {int((dt > cut).sum())} dates after the data cut")
            if form.name != "patients" and "patient_id" in tables[form.name]:
                dd = tables[form.name]["patient_id"].map(death)
                after = dt.notna() & dd.notna() & (dt > dd)
                if after.any():
                    out.append(f"{form.name}.{f.name}: {int(after.sum())} dates after death")
    # plausibility
    la = tables["lesion_assessments"].copy()
    les = tables["lesions"].set_index(["patient_id", "lesion_id"])["baseline_diameter_mm"].astype(float)
    la["d"] = la["diameter_mm"].astype(float)
    la = la.sort_values(["patient_id", "lesion_id", "assessment_date"])
    prev = la.groupby(["patient_id", "lesion_id"])["d"].shift(1)
    base = pd.Series(les.reindex(pd.MultiIndex.from_frame(la[["patient_id", "lesion_id"]])).to_numpy(), index=la.index)
    first = la.groupby(["patient_id", "lesion_id"]).cumcount() == 0
    prev = prev.where(~first, base)
    both = (prev > 5) & (la["d"] > 5)
    ratio = la["d"] / prev
    if (both & ((ratio > 5) | (ratio < 0.2))).any():
        out.append(f"lesion diameter jumps: {int((both & ((ratio > 5) | (ratio < 0.2))).sum())}")
    labs = tables["labs"].assign(_d=lambda x: _dates(x["lab_date"]), _v=lambda x: x["value"].astype(float))
    labs = labs.sort_values(["patient_id", "test", "_d"])
    g = labs.groupby(["patient_id", "test"])
    gap = (labs["_d"] - g["_d"].shift(1)).dt.days
    jump = (gap <= 14) & (labs["_v"] > 10 * g["_v"].shift(1))
    if jump.any():
        out.append(f"labs: {int(jump.sum())} values > 10x the previous within 14 days")
    p = tables["pathology"]
    if (p["nodes_positive"].astype(float) > p["nodes_examined"].astype(float)).any():
        out.append("pathology: nodes_positive > nodes_examined")
    return out


def test_every_form_and_field_with_valid_codes_ranges_and_branching(study):
    tables, _ = study
    assert set(tables) == set(D.forms)
    assert all(len(tables[f]) > 0 for f in D.forms), {f: len(t) for f, t in tables.items()}
    assert field_problems(tables) == []


def test_cross_form_rules_dates_references_and_plausibility(study):
    tables, truth = study
    assert truth["data_cut"] == "2026-06-30"
    assert cross_form_problems(tables, truth["data_cut"]) == []


def test_default_cohort_is_clean():
    """The default cohort (600 patients, 8 centers, seed 20261125) raises no problem at all."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        tables, truth = _written(600, 8, 20261125, tmp)
        assert field_problems(tables) == []
        assert cross_form_problems(tables, truth["data_cut"]) == []


def test_checker_finds_planted_problems(study):
    """The rule checker itself is not vacuous: it flags a swapped date pair, an unknown code and a
    death date while alive."""
    tables, truth = study
    t = {k: v.copy() for k, v in tables.items()}
    tr = t["treatments"]
    tr.loc[0, ["start_date", "stop_date"]] = tr.loc[0, ["stop_date", "start_date"]].to_numpy()
    t["patients"].loc[0, "sex"] = "F"
    fu = t["follow_up"]
    alive = fu.index[fu["vital_status"] == "alive"][0]
    fu.loc[alive, "death_date"] = fu.loc[alive, "visit_date"]
    problems = field_problems(t) + cross_form_problems(t, truth["data_cut"])
    assert any("treatments.start_date <= treatments.stop_date" in p for p in problems)
    assert any("patients.sex" in p for p in problems)
    assert any("follow_up.death_date: present although show_if" in p for p in problems)


def test_recist_structure(study):
    """RECIST 1.1 §3.3: 1–5 targets, ≤ 2 per organ; target nodes ≥ 15 mm short axis (§3.2)."""
    tables, _ = study
    les = tables["lesions"]
    tg = les[les["lesion_role"] == "target"]
    per_patient = tg.groupby("patient_id").size()
    assert per_patient.max() <= 5
    assert tg.groupby(["patient_id", "site"]).size().max() <= 2
    nodes = tg[tg["is_lymph_node"] == "1"]
    assert (nodes["baseline_diameter_mm"].astype(float) >= 15).all()
    eligible = tables["eligibility"]
    measurable = set(eligible.loc[eligible["inc_measurable_lesion"] == "1", "patient_id"])
    assert measurable <= set(per_patient.index)
    assert not (set(per_patient.index) - measurable)
