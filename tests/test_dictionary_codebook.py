"""The Markdown codebook (latc.dictionary.codebook) and docs/codebook.md."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from latc.cli import app
from latc.dictionary import load_dictionary
from latc.dictionary.codebook import REGENERATE, render_codebook

CODEBOOK = Path(__file__).resolve().parents[1] / "docs" / "codebook.md"


def test_docs_codebook_is_up_to_date():
    expected = render_codebook(load_dictionary())
    assert CODEBOOK.read_text(encoding="utf-8") == expected, (
        f"docs/codebook.md is out of date with the data dictionary; regenerate it: {REGENERATE}"
    )


def _section(text: str, form: str) -> str:
    start = text.index(f"\n### {form} — ")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def test_one_section_per_form_with_grain_key_repeating():
    d = load_dictionary()
    text = render_codebook(d)
    for form in d.forms.values():
        sec = _section(text, form.name)
        assert f"**Grain:** one row per {form.grain}" in sec
        assert "**Key:** " + ", ".join(f"`{k}`" for k in form.key) in sec
        assert ("**Repeating:** yes" in sec) == form.repeating
        # one table row per field
        assert sum(1 for line in sec.splitlines() if line.startswith("| `")) == len(form.fields)


def test_field_rows_show_type_unit_codes_range_required_branching():
    text = render_codebook(load_dictionary())
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| `")}
    age = rows["`age_at_diagnosis`"]
    assert "| integer | years |" in age and "0–110<br>plausible 14–95" in age and "| yes |" in age
    consent_date = rows["`consent_date`"]
    assert "`consent == 1`" in consent_date
    cohort = rows["`cohort`"]
    assert "`neoadjuvant` Neoadjuvant systemic therapy then surgery<br>`upfront_surgery` Upfront surgery (control cohort)" in cohort
    # a regex with '|' is escaped so the table keeps its columns
    lesion_id = next(line for line in text.splitlines() if line.startswith("| `lesion_id` | `les_lesion_id`"))
    assert r"^(T\|NT)[0-9]{1,2}$" in lesion_id
    assert lesion_id.replace(r"\|", "").count(" | ") == 9
    # REDCap variable names appear beside the field names
    for var in ("tx_start_date", "ae_start_date", "adj_start_date"):
        assert any(line.startswith(f"| `start_date` | `{var}` |") for line in text.splitlines()), var


def test_cross_form_rules_section():
    text = render_codebook(load_dictionary())
    rules = text[text.index("## Cross-form rules") :]
    assert "`treatments.start_date` ≤ `treatments.stop_date`" in rules
    assert "in `pathology`, (`patient_id`, `surgery_id`) must exist in `surgery`" in rules
    assert "`pathology`: nodes_positive <= nodes_examined (*error*)" in rules


def test_cli_writes_markdown(tmp_path):
    out = tmp_path / "codebook.md"
    res = CliRunner().invoke(app, ["dictionary", "export", "--format", "markdown", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8") == render_codebook(load_dictionary())
