"""Registry of synthetic omics writers, one per assay of the biospecimen manifest.

Each writer has the signature::

    write(manifest: pd.DataFrame, latent: pd.DataFrame, tables: dict[str, pd.DataFrame],
          study_dir: Path, *, seed: int, scale: float) -> dict

``manifest`` is the typed ``biospecimens`` table (rows with a ``file_ref`` of the writer's assay),
``latent`` the per-patient hidden variables (true response etc.), ``tables`` the typed study,
``study_dir`` the folder the ``file_ref`` paths are relative to. The writer creates the data
files named by ``file_ref`` and returns what it planted, which is stored under
``truth["omics"][assay]`` in ``truth.json``. ``scale`` multiplies the default (small) size.

Writers are listed as ``"module:function"`` strings and imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Callable

OMICS_WRITERS: dict[str, str] = {
    "scrna_seq": "latc.omics.sc._synth:write_scrna",
    "ultrasound": "latc.omics.imaging._synth:write_ultrasound",
    "he_slide": "latc.omics.imaging._synth:write_he_slide",
    "spatial": "latc.omics.spatial._synth:write_spatial",
    "bulk_rna_seq": "latc.omics.bulk._synth:write_bulk",
    "flow": "latc.omics.flow._synth:write_flow",
}


def omics_writer(assay: str) -> Callable:
    module, _, func = OMICS_WRITERS[assay].partition(":")
    return getattr(importlib.import_module(module), func)
