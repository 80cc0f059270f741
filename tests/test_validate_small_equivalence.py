"""The small-input speed-ups of ``latc.validate`` (one-patient validation on every capture save)
change no result: for one-patient and few-patient studies — synthetic ones with injected errors
(CSV and REDCap, so reader issues and unknown instruments too), the hand-built fixture study with
single-cell edits, and capture casebooks validated through ``latc.capture.validation`` — every
output of ``validate_study`` (queries with ids, messages and order; clean tables and dtypes;
quarantine; eligibility; counts) is fingerprinted and compared with golden fingerprints recorded
from the code before the speed-ups (commit 9f3d794):

    PYTHONPATH=<checkout of 9f3d794>/src .venv/bin/python tests/test_validate_small_equivalence.py \\
        --write tests/data/validate_small_golden.json

The synthetic inputs come from ``latc.synth`` with a fixed seed: a change to the generator changes
the inputs, and the goldens must then be recorded again from a version of ``latc.validate`` known
to be right (the commit above with the new generator).
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from datetime import date
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from test_validate_fixtures import A, B, DATA_CUT, edit, make_study, valid_rows  # noqa: E402

GOLDEN = HERE / "data" / "validate_small_golden.json"
TODAY = date(2026, 12, 1)

#: single-cell edits of the fixture study (each provokes one or a few rules)
EDITS = [
    ("complications", 0, dict(surgery_id="2")), ("labs", 0, dict(center_id="C02")),
    ("treatments", 0, dict(start_date="2022-03-01", stop_date="2022-01-05")), ("surgery", 0, dict(surgery_date="2022-01-15")),
    ("complications", 0, dict(onset_date="2022-05-10", resolution_date="2022-08-01")),
    ("lesion_assessments", 1, dict(diameter_mm="250")), ("lesion_assessments", 2, dict(diameter_mm="3")),
    ("lesion_assessments", 0, dict(diameter_mm="6")), ("labs", 1, dict(value="2000", lab_date="2022-02-01")),
    ("pathology", 0, dict(nodes_positive="25")), ("patients", 0, dict(cohort="neo")),
    ("biospecimens", 0, dict(file_ref="scans/patient_13912345678.h5")), ("patients", 1, dict(patient_id="+86 139 1234 5678")),
    ("surgery", 0, dict(surgery_date="2055-05-20")), ("patients", 0, dict(diagnosis_date="2023-06-01")),
    ("patients", 0, dict(diagnosis_date="2024-02-30")), ("patients", 0, dict(ecog="5")),
    ("patients", 0, dict(age_at_diagnosis="99")), ("patients", 0, dict(patient_id="Zhang Wei")),
    ("patients", 0, dict(consent="0")), ("treatments", 0, dict(final_dose=None)),
    ("treatments", 0, dict(dose_reduced="0", final_dose=None)), ("labs", 0, dict(unit="pg_ml")),
    ("patients", 0, dict(sex="x", ecog="9")), ("labs", 1, dict(value="-3")),
    ("patients", 0, dict(age_at_diagnosis="99", ecog="x")), ("follow_up", 3, dict(death_date=None)),
    ("patients", 0, dict(ecog="3")), ("patients", 0, dict(patient_id=None)), ("labs", 0, dict(lab_date="45123")),
    ("labs", 0, dict(lab_date="9999-12-31")), ("adverse_events", 0, dict(grade="7", serious="2")),
    ("follow_up", 0, dict(visit_date="2022-13-01", death_date="2022-09-01")), ("lesions", 0, dict(baseline_diameter_mm="abc")),
    ("surgery", 0, dict(operative_time_min="1e3", blood_loss_ml="99999999999999999999")),
    ("diagnosis", 0, dict(ct="T1", notes="call 0791 234 567")), ("eligibility", 0, dict(inc_measurable_lesion="0")),
]


def _subset(study, pids: list[str]):
    from latc.io import Study

    tables = {}
    for form, t in study.tables.items():
        tables[form] = t[t["patient_id"].isin(pids)] if "patient_id" in t.columns else t.iloc[:0]
    return Study(tables=tables, sources=dict(study.sources), format=study.format)


def _one_patient_fixture(pid: str):
    rows = {f: [r for r in rs if r.get("patient_id") == pid] for f, rs in valid_rows().items()}
    return make_study(rows)


def _casebooks(study, d):
    from latc.capture.validation import INSTANCE

    books: dict[str, dict[str, list[dict]]] = {}
    for form, t in study.tables.items():
        if "patient_id" not in t.columns or form not in d.forms:
            continue
        fields = d.forms[form].field_names
        for r in t.to_dict("records"):
            pid = r.get("patient_id")
            if isinstance(pid, str):
                rows = books.setdefault(pid, {}).setdefault(form, [])
                rows.append({**{k: r[k] for k in fields if isinstance(r.get(k), str)}, INSTANCE: len(rows) + 1})
    return books


def cases(tmp: Path):
    """(name, kind, payload): kind ``study`` → a Study; ``casebook`` → (rows, changed)."""
    from latc.dictionary import load_dictionary
    from latc.io import read_study
    from latc.synth import write_synthetic_study

    d = load_dictionary()
    yield "fixture/valid", "study", make_study()
    yield "fixture/A", "study", _one_patient_fixture(A)
    yield "fixture/B", "study", _one_patient_fixture(B)
    for form, i, ch in EDITS:
        yield f"fixture/{form}[{i}]{sorted(ch.items())}", "study", edit(form, i, **ch)
    write_synthetic_study(tmp / "csv", n_patients=50, n_centers=3, seed=1, fmt="csv", inject_errors=40)
    write_synthetic_study(tmp / "redcap", n_patients=20, n_centers=2, seed=7, fmt="redcap", inject_errors=25)
    csv = read_study(tmp / "csv" / "study", d)
    pids = sorted(csv.tables["patients"]["patient_id"].dropna().unique())
    for pid in pids:  # every patient alone, rows as read (source row numbers kept)
        yield f"csv/{pid}", "study", _subset(csv, [pid])
    for k in range(0, 15, 3):
        yield f"csv/{'+'.join(pids[k:k + 3])}", "study", _subset(csv, pids[k:k + 3])
    rc = read_study(tmp / "redcap" / "study", d)
    yield "redcap/all", "study", rc
    rpids = sorted(rc.tables["patients"]["patient_id"].dropna().unique())
    for pid in rpids[:6]:
        yield f"redcap/{pid}", "study", _subset(rc, [pid])
    books = _casebooks(csv, d)
    for pid in pids[:12]:
        for changed in (None, ("labs", 1), ("diagnosis", 1), ("patients", 1), ("surgery", 1), ("follow_up", 1)):
            yield f"casebook/{pid}/{changed}", "casebook", (books[pid], changed)


def _frame_text(df: pd.DataFrame) -> str:
    parts = [repr(list(df.columns)), repr([str(t) for t in df.dtypes]), repr(df.index.tolist())]
    for c in df.columns:
        parts.append(repr(df[c].tolist()))
    return "\n".join(parts)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def fingerprint(kind: str, payload) -> dict[str, str]:
    from latc.dictionary import load_dictionary

    d = load_dictionary()
    if kind == "casebook":
        from latc.capture.validation import validate_casebook

        rows, changed = payload
        probs = validate_casebook(d, rows, changed=changed, today=TODAY, data_cut=DATA_CUT)
        return {"problems": _sha(repr(probs)), "n": str(len(probs))}
    from latc.validate import validate_study

    r = validate_study(payload, d, data_cut=DATA_CUT, today=TODAY)
    q = r.queries
    return {
        "queries": _sha(_frame_text(q)),
        "n": str(len(q)),
        "clean": _sha("\n\n".join(f"{k}\n{_frame_text(v)}" for k, v in r.clean.items())),
        "quarantine": _sha("\n\n".join(f"{k}\n{_frame_text(v)}" for k, v in r.quarantine.items())),
        "eligibility": _sha(_frame_text(r.eligibility)),
        "counts": _sha(repr((r.rows_read, r.data_cut, r.sources, r.rows_after_data_cut))),
    }


def fingerprints(tmp: Path) -> dict[str, dict[str, str]]:
    return {name: fingerprint(kind, payload) for name, kind, payload in cases(tmp)}


def test_small_inputs_give_the_recorded_results(tmp_path):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    got = fingerprints(tmp_path)
    assert set(got) == set(golden)
    assert sum(int(v["n"]) > 0 for v in got.values()) > 100  # the cases do provoke queries
    differ = {name: [k for k in golden[name] if golden[name][k] != got[name].get(k)] for name in golden}
    assert not {k: v for k, v in differ.items() if v}


if __name__ == "__main__":  # recording the goldens (module docstring)
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--write", type=Path, required=True)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        fp = fingerprints(Path(tmp))
    args.write.parent.mkdir(parents=True, exist_ok=True)
    args.write.write_text(json.dumps(fp, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(fp)} cases → {args.write}", file=sys.stderr)
