"""Readers and writers of study data: a CSV folder, an XLSX workbook, a REDCap export."""

from latc.io._canonical import to_canonical_text
from latc.io._read import read_study
from latc.io._study import READ_ISSUE_KEYS, ROW, Study, StudyReadError, read_issue
from latc.io._write import write_study

__all__ = [
    "READ_ISSUE_KEYS",
    "ROW",
    "Study",
    "StudyReadError",
    "read_issue",
    "read_study",
    "to_canonical_text",
    "write_study",
]
