"""REDCap data dictionary export and read-back (latc.dictionary.redcap / latc.dictionary.export)."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from latc.cli import app
from latc.dictionary import DictionaryError, load_dictionary
from latc.dictionary.export import export_dictionary
from latc.dictionary.redcap import read_redcap_dictionary, redcap_naming

# REDCap's data dictionary header, as written in REDCap's own "Download the current Data Dictionary"
# files (checked against public REDCap data dictionaries, e.g. the header used by NLM's CDE
# repository export and REDCap instrument libraries).
REDCAP_HEADER = [
    "Variable / Field Name",
    "Form Name",
    "Section Header",
    "Field Type",
    "Field Label",
    "Choices, Calculations, OR Slider Labels",
    "Field Note",
    "Text Validation Type OR Show Slider Number",
    "Text Validation Min",
    "Text Validation Max",
    "Identifier?",
    "Branching Logic (Show field only if...)",
    "Required Field?",
    "Custom Alignment",
    "Question Number (surveys only)",
    "Matrix Group Name",
    "Matrix Ranking?",
    "Field Annotation",
]

COMPARED = ("name", "form", "type", "label", "choices", "min", "max", "soft_min", "soft_max", "required",
            "unit", "note", "pattern", "allowed_by", "identifier")


@pytest.fixture(scope="module")
def d():
    return load_dictionary()


@pytest.fixture(scope="module")
def exported(d, tmp_path_factory) -> tuple[Path, list[dict[str, str]]]:
    out = tmp_path_factory.mktemp("rc") / "latc_redcap_dictionary.csv"
    export_dictionary(d, "redcap", out)
    with open(out, encoding="utf-8", newline="") as fh:
        reader = csv.DictReader(fh)
        header = reader.fieldnames
        rows = list(reader)
    assert header == REDCAP_HEADER
    return out, rows


def _row(rows, var):
    found = [r for r in rows if r["Variable / Field Name"] == var]
    assert len(found) == 1, f"{var}: {len(found)} rows"
    return found[0]


def test_header_is_redcaps_exact_layout(exported):
    out, _ = exported
    first_line = out.read_text(encoding="utf-8").splitlines()[0]
    # the one header cell with a comma is quoted, as in REDCap's own download
    assert first_line.startswith('Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",')
    assert first_line.endswith(",Matrix Group Name,Matrix Ranking?,Field Annotation")


def test_record_id_first_and_center_once(exported, d):
    _, rows = exported
    assert rows[0]["Variable / Field Name"] == "record_id"
    assert rows[0]["Form Name"] == "patients"
    names = [r["Variable / Field Name"] for r in rows]
    assert "patient_id" not in names
    assert names.count("center_id") == 1 and _row(rows, "center_id")["Form Name"] == "patients"
    # every form of the dictionary is an instrument, in dictionary order
    forms = list(dict.fromkeys(r["Form Name"] for r in rows))
    assert forms == list(d.forms)


def test_variable_names_unique_lowercase_start_with_letter(exported):
    _, rows = exported
    names = [r["Variable / Field Name"] for r in rows]
    assert len(names) == len(set(names))
    for n in names:
        assert n == n.lower() and n[0].isalpha() and all(c.isalnum() or c == "_" for c in n), n


def test_clashing_names_get_form_prefix(exported):
    _, rows = exported
    names = {r["Variable / Field Name"]: r["Form Name"] for r in rows}
    assert names["tx_start_date"] == "treatments" and names["ae_start_date"] == "adverse_events"
    assert names["tx_stop_date"] == "treatments" and names["ae_stop_date"] == "adverse_events"
    assert names["adj_start_date"] == "adjuvant"
    assert names["tx_course_id"] == "treatments" and names["adj_course_id"] == "adjuvant"
    assert names["dx_histology"] == "diagnosis" and names["path_histology"] == "pathology"
    assert names["surg_surgery_id"] == "surgery" and names["comp_surgery_id"] == "complications"
    for plain in ("start_date", "stop_date", "histology", "course_id", "surgery_id", "agent"):
        assert plain not in names
    # a name only one form uses stays as it is
    assert names["age_at_diagnosis"] == "patients" and names["ctcae_term"] == "adverse_events"


def test_type_mapping(exported):
    _, rows = exported
    age = _row(rows, "age_at_diagnosis")
    assert (age["Field Type"], age["Text Validation Type OR Show Slider Number"]) == ("text", "integer")
    assert (age["Text Validation Min"], age["Text Validation Max"]) == ("0", "110")
    assert "years" in age["Field Note"]
    size = _row(rows, "primary_size_mm")
    assert (size["Field Type"], size["Text Validation Type OR Show Slider Number"]) == ("text", "number")
    assert (size["Text Validation Min"], size["Text Validation Max"]) == ("1", "250")
    assert "mm" in size["Field Note"]
    dose = _row(rows, "start_dose")
    assert (dose["Text Validation Min"], dose["Text Validation Max"]) == ("0.01", "5000")
    dx = _row(rows, "diagnosis_date")
    assert (dx["Field Type"], dx["Text Validation Type OR Show Slider Number"]) == ("text", "date_ymd")
    assert _row(rows, "consent")["Field Type"] == "yesno"
    assert _row(rows, "consent")["Choices, Calculations, OR Slider Labels"] == ""
    assert _row(rows, "les_lesion_id")["Field Type"] == "text"
    # radio up to 8 choices, dropdown beyond
    cohort = _row(rows, "cohort")
    assert cohort["Field Type"] == "radio"
    assert cohort["Choices, Calculations, OR Slider Labels"] == (
        "neoadjuvant, Neoadjuvant systemic therapy then surgery | upfront_surgery, Upfront surgery (control cohort)"
    )
    assert _row(rows, "tx_agent")["Field Type"] == "dropdown"  # 20 agents
    assert _row(rows, "ctcae_term")["Field Type"] == "dropdown"
    assert _row(rows, "ecog")["Field Type"] == "radio"  # 5 codes
    assert _row(rows, "ecog")["Choices, Calculations, OR Slider Labels"].startswith("0, 0 — fully active | 1, ")


def test_required_identifier_branching(exported):
    _, rows = exported
    assert _row(rows, "cohort")["Required Field?"] == "y"
    assert _row(rows, "tumor_size_mm")["Required Field?"] == ""
    # no dictionary field is a direct identifier (pseudonymous study)
    assert all(r["Identifier?"] == "" for r in rows)
    assert _row(rows, "consent_date")["Branching Logic (Show field only if...)"] == "[consent] = '1'"
    assert _row(rows, "cause_of_death")["Branching Logic (Show field only if...)"] == "[vital_status] = 'dead'"
    assert _row(rows, "diameter_mm")["Branching Logic (Show field only if...)"] == (
        "([measurement_status] = 'measured' or [measurement_status] = 'too_small' or [measurement_status] = 'disappeared')"
    )
    # adjuvant.agent is a prefixed variable; its condition names an unprefixed one
    assert _row(rows, "adj_agent")["Branching Logic (Show field only if...)"] == "[therapy] = 'systemic'"


def test_lossless_extras_in_field_annotation(exported):
    _, rows = exported
    ann = _row(rows, "age_at_diagnosis")["Field Annotation"]
    assert "@LATC-NAME=age_at_diagnosis" in ann and '"soft_min":14' in ann and '"soft_max":95' in ann
    assert "@LATC-NAME=start_date" in _row(rows, "tx_start_date")["Field Annotation"]
    assert '"allowed_by"' in _row(rows, "unit")["Field Annotation"]


def _same_field(a, b):
    for attr in COMPARED:
        assert getattr(a, attr) == getattr(b, attr), f"{a.form}.{a.name}.{attr}: {getattr(a, attr)!r} != {getattr(b, attr)!r}"
    assert (a.show_if.source if a.show_if else None) == (b.show_if.source if b.show_if else None), f"{a.form}.{a.name}"


def test_round_trip_is_lossless(exported, d):
    out, _ = exported
    back = read_redcap_dictionary(out)
    assert list(back.forms) == list(d.forms)
    for name, form in d.forms.items():
        got = back.forms[name]
        assert got.field_names == form.field_names, name
        assert (got.label, got.grain, got.repeating, got.key, got.note, got.redcap_prefix) == (
            form.label, form.grain, form.repeating, form.key, form.note, form.redcap_prefix)
        for a, b in zip(form.fields, got.fields):
            _same_field(a, b)
    assert (back.study, back.title, back.version) == (d.study, d.title, d.version)
    assert back.rules == d.rules and back.patterns == d.patterns
    # the read-back conditions evaluate like the originals
    import pandas as pd
    table = pd.DataFrame({"consent": ["1", "0", None]}, dtype="str")
    assert back["patients"]["consent_date"].show_if.evaluate(table).tolist() == [True, False, False]


def test_edits_made_in_redcap_win(exported, tmp_path):
    out, rows = exported
    for r in rows:
        if r["Variable / Field Name"] == "cohort":
            r["Field Label"] = "Cohort (edited in REDCap)"
        if r["Variable / Field Name"] == "consent_date":
            r["Branching Logic (Show field only if...)"] = "[consent] = '1' and [sex] = 'female'"
        if r["Variable / Field Name"] == "age_at_diagnosis":
            r["Text Validation Max"] = "120"
    edited = tmp_path / "edited.csv"
    with open(edited, "w", encoding="utf-8", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=REDCAP_HEADER)
        w.writeheader()
        w.writerows(rows)
    back = read_redcap_dictionary(edited)
    assert back["patients"]["cohort"].label == "Cohort (edited in REDCap)"
    assert back["patients"]["age_at_diagnosis"].max == 120
    assert back["patients"]["age_at_diagnosis"].soft_max == 95  # from the annotation
    assert back["patients"]["consent_date"].show_if.source == "consent == '1' and sex == 'female'"


HAND_WRITTEN = textwrap.dedent(
    '''\
    Variable / Field Name,Form Name,Section Header,Field Type,Field Label,"Choices, Calculations, OR Slider Labels",Field Note,Text Validation Type OR Show Slider Number,Text Validation Min,Text Validation Max,Identifier?,Branching Logic (Show field only if...),Required Field?,Custom Alignment,Question Number (surveys only),Matrix Group Name,Matrix Ranking?,Field Annotation
    study_id,enrolment,,text,Study ID,,,,,,,,,,,,,
    intro,enrolment,Baseline,descriptive,<b>Complete at the first visit</b>,,,,,,,,,,,,,
    sex,enrolment,,radio,Sex,"1, Female | 2, Male | 9, Unknown",,,,,,,y,,,,,
    dob,enrolment,,text,Date of birth,,,date_mdy,,,y,,,,,,,
    weight,enrolment,,text,Weight (kg),,kg,number_1dp,20,300,,,y,,,,,
    height,enrolment,,text,Height (cm),,,integer,100,230,,,,,,,,
    bmi,enrolment,,calc,BMI,"round([weight]/(([height]/100)^2),1)",,,,,,,,,,,,
    symptoms,enrolment,,checkbox,Symptoms at presentation,"1, Neck mass | 2, Hoarseness | 3, Dysphagia",,,,,,,,,,,,
    hoarse_months,enrolment,,text,Months of hoarseness,,,integer,0,,,[symptoms(2)] = '1',,,,,,
    pain,enrolment,,slider,Pain,Nothing | Moderate | Worst,,number,,,,,,,,,,
    smoker,enrolment,,yesno,Current smoker,,,,,,,,,,,,,
    pack_years,enrolment,,text,Pack-years,,,number,,,,[smoker] = '1' and [weight] > 40,,,,,,
    visit_date,visits,,text,Visit date,,,date_ymd,,,,,y,,,,,
    status,visits,,dropdown,Status,"0, Alive | 1, Dead",,,,,,,,,,,,
    death_cause,visits,,notes,Cause of death,,,,,,,[status] = '1',,,,,,
    consent_ok,visits,,truefalse,Consent confirmed,,,,,,,,,,,,,@HIDDEN
    '''
)


def test_hand_written_redcap_dictionary_parses(tmp_path):
    path = tmp_path / "site_dictionary.csv"
    path.write_text(HAND_WRITTEN, encoding="utf-8")
    d = read_redcap_dictionary(path)
    assert list(d.forms) == ["enrolment", "visits"]
    enrol = d["enrolment"]
    # descriptive fields hold no data: skipped; checkbox → one yes/no field per option
    assert "intro" not in enrol.field_names
    assert enrol.field_names == [
        "study_id", "sex", "dob", "weight", "height", "bmi",
        "symptoms___1", "symptoms___2", "symptoms___3", "hoarse_months", "pain", "smoker", "pack_years",
    ]
    assert enrol["sex"].type == "choice" and enrol["sex"].choices == {"1": "Female", "2": "Male", "9": "Unknown"}
    assert enrol["sex"].required
    assert enrol["dob"].type == "date" and enrol["dob"].identifier
    assert (enrol["weight"].type, enrol["weight"].min, enrol["weight"].max, enrol["weight"].note) == ("number", 20, 300, "kg")
    assert (enrol["height"].type, enrol["height"].min, enrol["height"].max) == ("integer", 100, 230)
    assert enrol["bmi"].type == "number" and "round([weight]" in enrol["bmi"].note
    box = enrol["symptoms___2"]
    assert box.type == "yesno" and box.choices == {"1": "Yes", "0": "No"}
    assert box.label == "Symptoms at presentation: Hoarseness"
    # checkbox option in branching logic → the option's yes/no field
    assert enrol["hoarse_months"].show_if.source == "symptoms___2 == '1'"
    assert (enrol["pain"].type, enrol["pain"].min, enrol["pain"].max) == ("integer", 0, 100)
    assert enrol["smoker"].type == "yesno"
    # a numeric comparison is beyond the show_if grammar: kept in the note, not lost
    assert enrol["pack_years"].show_if is None and "[weight] > 40" in enrol["pack_years"].note
    visits = d["visits"]
    # every form carries the record id first, as LATC forms carry patient_id
    assert visits.field_names[0] == "study_id" and visits.key == ["study_id"]
    assert visits["status"].choices == {"0": "Alive", "1": "Dead"}
    assert visits["death_cause"].type == "notes" and visits["death_cause"].show_if.source == "status == '1'"
    assert visits["consent_ok"].choices == {"1": "True", "0": "False"}
    assert d.rules == {} and not any(f.repeating for f in d.forms.values())


def test_not_a_redcap_dictionary(tmp_path):
    from latc.dictionary.redcap import RedcapDictionaryError

    path = tmp_path / "x.csv"
    path.write_text("name,age\nA,3\n", encoding="utf-8")
    with pytest.raises(RedcapDictionaryError, match="not a REDCap data dictionary"):
        read_redcap_dictionary(path)


def _mini_dictionary(tmp_path: Path, body: str, name: str = "mini.yaml") -> Path:
    # one file name per content: load_dictionary caches by path
    path = tmp_path / name
    path.write_text(textwrap.dedent(body), encoding="utf-8")
    return path


MINI = """\
    study: MINI
    forms:
      patients:
        label: Patients
        key: [patient_id]
        fields:
          - {name: patient_id, label: Patient, type: text, required: true}
          - {name: center_id, label: Center, type: text}
          - {name: kind, label: Kind at entry, type: choice, choices: {a: A, other: Other}}
      visits:
        label: Visits
        redcap_prefix: vis
        repeating: true
        key: [patient_id, visit_no]
        fields:
          - {name: visit_no, label: Visit, type: integer}
          - {name: patient_id, label: Patient, type: text, required: true}
          - {name: center_id, label: Centre of the visit, type: text}
          - {name: kind, label: Kind, type: choice, choices: {a: A, other: Other}}
          - {name: detail, label: Detail, type: notes, show_if: "kind == 'other'"}
    """


def test_branching_uses_prefixed_variable_names(tmp_path):
    d = load_dictionary(_mini_dictionary(tmp_path, MINI))
    naming = redcap_naming(d)
    assert naming.variable[("visits", "kind")] == "vis_kind"
    assert naming.variable[("patients", "kind")] == "patients_kind"  # no prefix given: the form name
    out = export_dictionary(d, "redcap", tmp_path / "mini.csv")
    with open(out, encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert _row(rows, "detail")["Branching Logic (Show field only if...)"] == "[vis_kind] = 'other'"
    # the shared fields sit at their own positions in a form and keep their own labels
    back = read_redcap_dictionary(out)
    assert back["visits"].field_names == d["visits"].field_names
    for a, b in zip(d["visits"].fields, back["visits"].fields):
        _same_field(a, b)
    assert back["visits"]["center_id"].label == "Centre of the visit"


def test_naming_rejects_a_dictionary_redcap_cannot_hold(tmp_path):
    no_record = """\
        study: BAD
        forms:
          sites:
            key: [center_id]
            fields:
              - {name: center_id, label: Center, type: text}
        """
    with pytest.raises(DictionaryError, match="record id"):
        redcap_naming(load_dictionary(_mini_dictionary(tmp_path, no_record, "no_record.yaml")))
    bad_name = MINI.replace("{name: detail,", "{name: _detail,")
    with pytest.raises(DictionaryError, match="not a valid REDCap variable name"):
        redcap_naming(load_dictionary(_mini_dictionary(tmp_path, bad_name, "bad_name.yaml")))


def test_export_rejects_unknown_format(d, tmp_path):
    with pytest.raises(ValueError, match="redcap, markdown"):
        export_dictionary(d, "xml", tmp_path / "x.xml")


def test_cli_dictionary_export(tmp_path):
    runner = CliRunner()
    out = tmp_path / "sub" / "dd.csv"
    res = runner.invoke(app, ["dictionary", "export", "--format", "redcap", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("Variable / Field Name,Form Name,")
    res = runner.invoke(app, ["dictionary", "export", "--format", "pdf", "--out", str(tmp_path / "x")])
    assert res.exit_code == 2
    assert not (tmp_path / "x").exists()
