"""Omics layer: immune profiling and multi-omics biomarkers linked to patients via the manifest.

The sub-packages (``sc``, ``spatial``, ``bulk``, ``flow``, ``imaging``, ``integrate``, ``models``)
are imported on first use (``latc.omics.sc``, ``from latc.omics import sc``), so a command that needs
one of them does not import the whole scverse stack (and its import-time warnings).
"""

from importlib import import_module as _import_module

from latc.omics._manifest import (SAMPLE_KEYS, OmicsInputError, SampleRefused, check_sample_metadata, load_manifest,
                                  resolve_data_root, samples_for)

_SUBPACKAGES = ("bulk", "flow", "imaging", "integrate", "models", "sc", "spatial")

__all__ = ["bulk", "flow", "imaging", "sc", "spatial", "integrate", "models", "SAMPLE_KEYS", "OmicsInputError",
           "SampleRefused", "check_sample_metadata", "load_manifest", "resolve_data_root", "samples_for"]


def __getattr__(name: str):
    if name in _SUBPACKAGES:
        return _import_module(f"latc.omics.{name}")
    raise AttributeError(f"module 'latc.omics' has no attribute {name!r}")
