"""Omics layer: immune profiling and multi-omics biomarkers linked to patients via the manifest."""

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, check_sample_metadata, load_manifest, samples_for
from latc.omics import imaging  # ultrasonomics and H&E features (latc.omics.imaging.run_imaging, …)

__all__ = ["imaging", "SAMPLE_KEYS", "OmicsInputError", "check_sample_metadata", "load_manifest", "samples_for"]
