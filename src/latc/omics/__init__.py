"""Omics layer: immune profiling and multi-omics biomarkers linked to patients via the manifest."""

from latc.omics._manifest import SAMPLE_KEYS, OmicsInputError, check_sample_metadata, load_manifest, samples_for

__all__ = ["SAMPLE_KEYS", "OmicsInputError", "check_sample_metadata", "load_manifest", "samples_for"]
