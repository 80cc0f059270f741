"""Readers and writers of study data: a CSV folder, an XLSX workbook, a REDCap export."""

from latc.io._canonical import to_canonical_text
from latc.io._study import ROW, Study, StudyReadError
from latc.io._write import write_study

__all__ = ["ROW", "Study", "StudyReadError", "to_canonical_text", "write_study"]
