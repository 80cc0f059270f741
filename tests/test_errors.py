"""One base class for latc's own errors, and the `latc` command's last line of defence: a broken
data dictionary (or any LatcError a command does not report itself) ends as one line naming the
file and the problem, exit code 2, never a traceback."""

from __future__ import annotations

import subprocess
import sys

import pytest

from latc.errors import LatcError


def test_every_error_class_of_latc_derives_from_latc_error_and_keeps_its_old_base():
    from latc._paths import PathEscapeError
    from latc.analysis._results import AnalysisInputError
    from latc.capture.errors import ConflictError
    from latc.cbioportal import CbioportalExportError
    from latc.derive.bor import BorInputError, ResponseDataError
    from latc.derive.staging import StageInputError
    from latc.dictionary import DictionaryError
    from latc.federated._disclosure import FederatedDisclosureError, FederatedInputError
    from latc.io import StudyReadError
    from latc.omics._manifest import OmicsInputError
    from latc.report._inputs import ReportInputError
    from latc.stats import StatsInputError

    for cls in (PathEscapeError, AnalysisInputError, ConflictError, BorInputError, ResponseDataError, StageInputError,
                DictionaryError, FederatedDisclosureError, FederatedInputError, StudyReadError, OmicsInputError,
                ReportInputError, StatsInputError, CbioportalExportError):
        assert issubclass(cls, LatcError), cls
    # existing `except ValueError` / `except RuntimeError` handlers still catch them
    for cls in (StatsInputError, DictionaryError, AnalysisInputError, ReportInputError, PathEscapeError, FederatedInputError,
                CbioportalExportError):
        assert issubclass(cls, ValueError), cls
    assert issubclass(FederatedDisclosureError, RuntimeError)
    import latc

    assert latc.LatcError is LatcError


@pytest.mark.parametrize("text, expected", [
    ("forms:\n  patients: [1,2\n", "not valid YAML (line 3, column 1)"),
    ("version: 1\nforms: {}\n", "not a data dictionary"),
    ("study: x\nforms:\n  patients:\n    key: [patient_id]\n", "form patients: needs 'fields'"),
    ("study: x\nforms:\n  patients:\n    key: [patient_id]\n    fields:\n      - {label: no name}\n",
     "form patients: field #1 has no 'name'"),
    ("study: x\nforms:\n  patients:\n    key: [patient_id]\n    fields:\n      - {name: patient_id, type: text, pattern_ref: nope}\n",
     "patients.patient_id: pattern_ref 'nope' is not a *_pattern entry"),
    ("study: x\nforms:\n  patients:\n    key: [pid]\n    fields:\n      - {name: patient_id, type: text}\n",
     "patients: key field 'pid' not defined"),
])
def test_broken_dictionary_is_one_error_naming_the_file(tmp_path, text, expected):
    from latc.dictionary import DictionaryError, load_dictionary

    path = tmp_path / "dict.yaml"
    path.write_text(text)
    with pytest.raises(DictionaryError) as info:
        load_dictionary(path)
    assert str(info.value).startswith(f"{path}: ") and expected in str(info.value), str(info.value)


def test_unreadable_dictionary_file(tmp_path):
    from latc.dictionary import DictionaryError, load_dictionary

    path = tmp_path / "dict.yaml"
    path.write_bytes("study: 研究\n".encode("gb18030"))
    with pytest.raises(DictionaryError, match="cannot read the data dictionary"):
        load_dictionary(path)
    with pytest.raises(DictionaryError, match="cannot read"):
        load_dictionary(tmp_path / "missing.yaml")


def test_cli_reports_a_latc_error_in_one_line_with_exit_code_2(tmp_path):
    # `latc dictionary export --dictionary broken.yaml` printed yaml's 60-line traceback (exit 1)
    broken = tmp_path / "broken.yaml"
    broken.write_text("forms:\n  patients: [1,2\n")
    p = subprocess.run([sys.executable, "-c", "from latc.cli import main; main()", "dictionary", "export",
                        "--dictionary", str(broken), "--out", str(tmp_path / "x.csv")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert f"{broken}: not valid YAML (line 3, column 1)" in " ".join(p.stderr.split())
    # the parser's words, as text, not rich markup (libyaml's "did not find expected ',' or ']'" where
    # PyYAML was built with it, as here; PyYAML's own parser says "expected ',' or ']', but got ...")
    assert "expected ',' or ']'" in " ".join(p.stderr.split())


def test_cli_masks_an_identifier_in_an_error_message(tmp_path):
    # a dictionary file under a folder named like a phone number: the path in the message is masked
    d = tmp_path / "13800138000"
    d.mkdir()
    (d / "dict.yaml").write_text("version: 1\nforms: {}\n")
    p = subprocess.run([sys.executable, "-c", "from latc.cli import main; main()", "dictionary", "export",
                        "--dictionary", str(d / "dict.yaml"), "--out", str(tmp_path / "x.csv")],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "not a data dictionary" in p.stderr
    assert "13800138000" not in p.stderr and "<masked>" in p.stderr


def test_an_output_folder_that_cannot_be_written_is_one_line(tmp_path):
    """A read-only output folder (here made immutable with chattr, which also binds root; a tester found a
    full traceback): `latc synth` and `latc run` say which path cannot be written, exit code 2."""
    import shutil

    ro = tmp_path / "ro"
    ro.mkdir()
    if shutil.which("chattr") is None or subprocess.run(["chattr", "+i", str(ro)], capture_output=True).returncode != 0:
        pytest.skip("chattr +i not available here (needs root on a file system that supports it)")
    from latc.synth import write_synthetic_study

    study = write_synthetic_study(tmp_path / "s", n_patients=20, n_centers=1, seed=2).study_path
    try:
        for args in (["synth", "--out", str(ro / "sub"), "-n", "20"], ["run", str(study), "--out", str(ro), "--quiet"]):
            p = subprocess.run([sys.executable, "-c", "from latc.cli import main; main()", *args],
                               capture_output=True, text=True, timeout=300)
            lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
            assert p.returncode == 2, (args, p.stderr)
            assert "Traceback" not in p.stderr and len(lines) == 1, p.stderr
            assert lines[0].startswith(f"error: cannot write {ro}") and "Operation not permitted" in lines[0]
    finally:
        subprocess.run(["chattr", "-i", str(ro)], check=True)
