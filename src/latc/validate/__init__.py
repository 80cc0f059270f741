"""Validation: dictionary-generated checks → query log, quarantine, clean tables, eligibility.

``validate_study(study, dictionary=None, data_cut=None) -> ValidationResult`` runs every rule;
``write_validation(result, out_dir)`` writes ``queries.csv``, ``quarantine/``, ``clean/``,
``eligibility.csv`` and ``summary.json``.  See docs/validation.md for the rules.
"""

from latc.validate._log import QUERY_COLUMNS
from latc.validate._privacy import MASK, identifier_kind, looks_like_identifier
from latc.validate._result import QUERY_FILE_COLUMNS, ValidationResult, write_validation
from latc.validate._run import validate_study

__all__ = ["MASK", "QUERY_COLUMNS", "QUERY_FILE_COLUMNS", "ValidationResult", "identifier_kind", "looks_like_identifier",
           "validate_study", "write_validation"]
