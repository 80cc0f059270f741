"""Readers and writers of study data: a CSV folder, an XLSX workbook, a REDCap export."""

from latc.io._study import ROW, Study, StudyReadError

__all__ = ["ROW", "Study", "StudyReadError"]
