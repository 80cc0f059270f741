"""Property-based test: malformed cells never crash validation and never lose a valid row."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from latc.dictionary import load_dictionary
from latc.validate import validate_study
from test_validate_fixtures import DATA_CUT, make_study, valid_rows

D = load_dictionary()
ROWS = valid_rows()
CELLS = [(form, i, f) for form, rows in ROWS.items() for i in range(len(rows)) for f in D.forms[form].field_names]
#: rules that look only at the row itself: they must never fire on a row the fuzz did not touch
SAME_ROW_RULES = {"type", "value_set", "range", "soft_range", "pattern", "pseudonym", "required", "branching",
                  "allowed_by", "identifier"}

CROSS_ROW_RULES = {"reference", "center_match", "date_order", "after_death", "duplicate", "parent_quarantined"}

MALFORMED = st.one_of(
    st.none(),
    st.text(max_size=25),
    st.sampled_from(["", " ", "1e309", "-1e309", "99999999999999999999999", "-1", "0", "2024-02-30", "0000-00-00",
                     "2022-13-01", "1677-01-01", "2999-12-31", "NaN", "inf", "1.5", "１２", "T4a", "C01-0001", "C02",
                     "yes", "😀", "nul\x00l", "+86 139 1234 5678", "a@b.cn", "1", "2", "dead", "rai", "target"]),
    st.integers(min_value=-10**30, max_value=10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)


@settings(max_examples=20, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(CELLS), MALFORMED), min_size=1, max_size=6))
def test_malformed_cells_never_crash_and_never_lose_a_row(edits):
    rows = {form: [dict(r) for r in rs] for form, rs in ROWS.items()}
    touched: set[tuple[str, int]] = set()
    for (form, i, field), value in edits:
        rows[form][i][field] = value
        touched.add((form, i + 2))
    study = make_study(rows)
    r = validate_study(study, data_cut=DATA_CUT)          # never raises
    for form, t in study.tables.items():
        quarantined = r.quarantine.get(form)
        n_q = 0 if quarantined is None else len(quarantined)
        assert len(r.clean[form]) + n_q == len(t), form    # every row is clean or quarantined
        if quarantined is not None:
            assert quarantined["_row"].is_unique
    q = r.queries
    untouched = ~q.apply(lambda x: (x["form"], x["row"]) in touched, axis=1) if len(q) else q["form"].astype(bool)
    same_row = q[untouched & q["rule"].isin(SAME_ROW_RULES) & q["row"].notna()]
    assert same_row.empty, same_row[["form", "row", "rule", "message"]].to_string()
    # an untouched row may only be quarantined by a rule that links it to another row
    for form, quarantined in r.quarantine.items():
        untouched_q = quarantined[[(form, int(x)) not in touched for x in quarantined["_row"]]]
        reasons = set(";".join(untouched_q["quarantine_reason"]).split(";")) - {""}
        assert reasons <= CROSS_ROW_RULES, (form, reasons)
    assert set(q["severity"]) <= {"error", "warning"}
    assert q["message"].notna().all() and q["rule"].notna().all()
