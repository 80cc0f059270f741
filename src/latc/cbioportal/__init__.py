"""Export a study to cBioPortal: `latc export cbioportal RUN_DIR --out DIR [--omics DIR ...]`.

Writes a cBioPortal study folder — clinical patient / sample files, timelines, mutations of the
clinical molecular tests, bulk RNA-seq expression with z-scores, and cell-type fractions / signature
scores as generic assays, with case lists — that cBioPortal's validator (``validateData.py`` of
cbioportal-core) accepts. Modules, one concept each: ``_inputs`` (what is read), ``_clinical``
(patient and sample attributes), ``_timeline`` (patient-view events), ``_molecular`` (profiles),
``_meta`` (study meta file, case lists), ``_writer`` (the file-format rules), ``_export`` (the
command). How to load the folder into a cBioPortal and what each file holds: docs/cbioportal.md.
"""

from latc.cbioportal._export import ExportResult, export_cbioportal
from latc.cbioportal._writer import CbioportalExportError

__all__ = ["CbioportalExportError", "ExportResult", "export_cbioportal"]
