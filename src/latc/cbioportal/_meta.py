"""The study's meta file and case lists (cBioPortal File-Formats.md, "Cancer Study", "Case Lists").

``meta_study.txt``: ``type_of_cancer`` is ``thyroid`` — the OncoTree tissue THYROID, which every
cBioPortal instance holds in its cancer-type table, so no ``cancer_type.txt`` is written; the
per-sample subtypes (THPA, THFO, THHC, THPD, THAP, THME) are in ``CANCER_TYPE_DETAILED`` /
``ONCOTREE_CODE`` of the sample file. ``reference_genome: hg19`` matches the MAF's GRCh37
coordinates. ``add_global_case_list: false`` because ``case_lists/cases_all.txt`` is written here.

Case lists: ``cases_all`` (every sample; category ``all_cases_in_study``) and one per molecular
profile, named with the suffixes of "Case list stable id suffixes" (``_sequenced``,
``_rna_seq_mrna``; a generic-assay profile's own stable id, category ``other``).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from latc.cbioportal._writer import CbioportalExportError, write_meta

__all__ = ["STUDY_ID_PATTERN", "TYPE_OF_CANCER", "check_study_id", "study_meta", "write_case_list"]

#: cancer_study_identifier: letters, digits and _ (cBioPortal's own studies: brca_tcga_pub)
STUDY_ID_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
TYPE_OF_CANCER = "thyroid"


def check_study_id(study_id: str) -> str:
    """``study_id`` when it is a usable ``cancer_study_identifier`` (lower-case letters, digits, ``_``;
    it prefixes every profile and case-list stable id)."""
    if not STUDY_ID_PATTERN.match(study_id or ""):
        raise CbioportalExportError(f"--study-id {study_id!r}: use lower-case letters, digits and '_' "
                                    "(starting with a letter, at most 63 characters), e.g. latc_neoadjuvant")
    return study_id


def study_meta(study_id: str, *, n_patients: int, n_centers: int, data_cut: Any, version: str) -> dict[str, Any]:
    """The fields of ``meta_study.txt``."""
    cut = f", data cut {data_cut}" if data_cut else ""
    return {
        "type_of_cancer": TYPE_OF_CANCER,
        "cancer_study_identifier": study_id,
        "name": "Neoadjuvant therapy in locally advanced thyroid cancer (LATC multicenter study)",
        "description": (f"Multicenter observational study of neoadjuvant therapy vs upfront surgery in locally "
                        f"advanced thyroid cancer: {n_patients} patients from {n_centers} centers{cut}. Imaging "
                        f"(RECIST 1.1), biochemical and pathological response, surgical outcomes, survival and "
                        f"immune profiling. Exported by latc {version}; times are days / months from the treatment "
                        f"decision."),
        "citation": "LATC neoadjuvant study (latc)",
        "add_global_case_list": "false",
        "reference_genome": "hg19",
    }


def write_case_list(folder: Path, study_id: str, suffix: str, name: str, description: str, category: str,
                    samples: list[str]) -> Path:
    """``case_lists/cases_<suffix>.txt`` with stable id ``<study_id>_<suffix>``."""
    if not samples:
        raise CbioportalExportError(f"case list {suffix}: no samples")
    path = folder / f"cases_{suffix}.txt"
    return write_meta(path, {
        "cancer_study_identifier": study_id,
        "stable_id": f"{study_id}_{suffix}",
        "case_list_name": name,
        "case_list_description": description,
        "case_list_category": category,
        "case_list_ids": "\t".join(samples),
    })
