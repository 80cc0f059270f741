"""Readers and writers of study data (a CSV folder, an XLSX workbook, a REDCap export), of the
validation's clean tables and of the analysis tables (derived datasets, analysis results)."""

from latc.io._canonical import to_canonical_text
from latc.io._clean_tables import read_clean_tables
from latc.io._datasets import DatasetBundle, write_datasets
from latc.io._read import read_study
from latc.io._study import READ_ISSUE_KEYS, ROW, Study, StudyReadError, read_issue
from latc.io._table_csv import CSV_NA, write_table_csv
from latc.io._write import write_study

__all__ = [
    "CSV_NA",
    "READ_ISSUE_KEYS",
    "ROW",
    "DatasetBundle",
    "Study",
    "StudyReadError",
    "read_clean_tables",
    "read_issue",
    "read_study",
    "to_canonical_text",
    "write_datasets",
    "write_study",
    "write_table_csv",
]
