"""A patient id that is not a pseudonym (a name, a hospital number) never reaches an output.

STUDY.md / non-negotiable 4: only pseudonymous ids in study data; never log identifiers; outputs
leave no direct identifiers. The source row number still locates the record for correction.
"""

from __future__ import annotations

from test_validate_fixtures import A, DATA_CUT, valid_rows, make_study

from latc.validate import MASK, validate_study, write_validation

NAME = "John Smith"


def _study_with_named_patient():
    rows = valid_rows()
    for form, form_rows in rows.items():
        for r in form_rows:
            if r.get("patient_id") == A:
                r["patient_id"] = NAME
    return make_study(rows)


def test_named_patient_is_quarantined_and_masked_everywhere(tmp_path):
    result = validate_study(_study_with_named_patient(), data_cut=DATA_CUT)
    q = result.queries
    assert (q["rule"] == "pseudonym").any()
    assert not q.astype(str).apply(lambda c: c.str.contains(NAME, regex=False)).any().any()
    assert (q.loc[q["rule"] == "pseudonym", "patient_id"] == MASK).all()
    assert "patients" in result.quarantine
    assert (result.quarantine["patients"]["patient_id"] == MASK).all()
    # the row number still points at the record in the source
    assert q.loc[q["rule"] == "pseudonym", "row"].notna().all()
    out = write_validation(result, tmp_path / "v")
    for f in out.rglob("*.csv"):
        assert NAME not in f.read_text(encoding="utf-8"), f
    # no clean table keeps the named patient
    assert all(NAME not in set(t.get("patient_id", [])) for t in result.clean.values())
