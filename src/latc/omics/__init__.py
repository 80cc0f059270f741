"""Omics layer: immune profiling and multi-omics biomarkers linked to patients via the manifest."""

from latc.omics._manifest import (SAMPLE_KEYS, OmicsInputError, SampleRefused, check_sample_metadata, load_manifest,
                                  resolve_data_root, samples_for)
from latc.omics import imaging  # ultrasonomics and H&E features (latc.omics.imaging.run_imaging, …)
from latc.omics import integrate, models  # feature matrix + MOFA+; nested-CV models, screens (docs/omics/biomarkers.md)
from latc.omics import bulk, flow  # bulk RNA-seq scores/DE, flow cytometry gating (docs/omics/bulk.md, flow.md)
from latc.omics import sc  # single-cell immune profiling (latc.omics.sc.run_sc, …; docs/omics/single_cell.md)

__all__ = ["bulk", "flow", "imaging", "sc", "integrate", "models", "SAMPLE_KEYS", "OmicsInputError", "SampleRefused", "check_sample_metadata",
           "load_manifest", "resolve_data_root", "samples_for"]
