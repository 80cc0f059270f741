"""Inputs that cannot be read at all: StudyReadError with one line naming the input.

Contract: docs/dev/CONTRACTS.md ("StudyReadError: only for an input that cannot be read at all").
"""

from __future__ import annotations

import zipfile

import pytest

from latc.io import StudyReadError, read_study


def _fails(path) -> str:
    with pytest.raises(StudyReadError) as info:
        read_study(path)
    message = str(info.value)
    assert "\n" not in message
    assert path.name in message
    return message


def test_missing_path(tmp_path):
    assert "no such file or folder" in _fails(tmp_path / "nowhere")


def test_empty_folder(tmp_path):
    folder = tmp_path / "empty"
    folder.mkdir()
    assert "no study files" in _fails(folder)


def test_folder_without_form_files(tmp_path):
    folder = tmp_path / "other"
    folder.mkdir()
    (folder / "Patient list.csv").write_text("a,b\n1,2\n")
    _fails(folder)


def test_text_file_named_xlsx(tmp_path):
    path = tmp_path / "study.xlsx"
    path.write_text("patient_id,center_id\nC01-001,C01\n")
    assert "not an XLSX workbook" in _fails(path)


def test_encrypted_workbook(tmp_path):
    # Excel saves a password-protected workbook as an OLE compound file, not a zip
    path = tmp_path / "locked.xlsx"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504)
    assert "encrypted" in _fails(path)


def test_zip_that_is_no_workbook(tmp_path):
    path = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("hello.txt", "not a workbook")
    assert "damaged" in _fails(path)


def test_legacy_xls(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")
    assert ".xlsx" in _fails(path)


def test_binary_form_file(tmp_path):
    folder = tmp_path / "study"
    folder.mkdir()
    (folder / "patients.csv").write_bytes(b"PK\x03\x04\x00\x00binary\x00\xff\xfe")
    with pytest.raises(StudyReadError) as info:
        read_study(folder)
    assert "patients.csv" in str(info.value) and "\n" not in str(info.value)


def test_one_form_file_given_directly(tmp_path):
    path = tmp_path / "patients.csv"
    path.write_text("patient_id,center_id\nC01-001,C01\n")
    assert "folder" in _fails(path)


def test_unknown_kind_of_file(tmp_path):
    path = tmp_path / "study.json"
    path.write_text("{}")
    _fails(path)
