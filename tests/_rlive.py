"""Live cross-checks with R: skip when Rscript or a package is missing; run one script on one CSV.

Used by the ``test_*_r.py`` files (marked ``r``). The R scripts read ``commandArgs(TRUE)[1]`` (the
data CSV) and write ``commandArgs(TRUE)[2]`` (JSON or CSV).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest


def have_r(*packages: str) -> bool:
    """Rscript is installed and loads every package in ``packages``."""
    if shutil.which("Rscript") is None:
        return False
    if not packages:
        return True
    libs = "; ".join(f"library({p})" for p in packages)
    return subprocess.run(["Rscript", "-e", libs], capture_output=True).returncode == 0


def requires_r(*packages: str) -> pytest.MarkDecorator:
    """Skip the test unless Rscript with ``packages`` is available."""
    what = " + ".join(packages) if packages else ""
    return pytest.mark.skipif(not have_r(*packages),
                              reason=f"Rscript{' with ' + what if what else ''} not available")


def run_r(script: str, data: pd.DataFrame, tmp_path: Path, *, out: str = "r.json") -> dict | pd.DataFrame:
    """Write ``data`` as CSV, run ``script`` on it and return its output: parsed JSON (``out``
    ending in .json) or a DataFrame (.csv)."""
    csv, result, code = tmp_path / "d.csv", tmp_path / out, tmp_path / "check.R"
    data.to_csv(csv, index=False)
    code.write_text(script)
    subprocess.run(["Rscript", str(code), str(csv), str(result)], check=True, capture_output=True, timeout=300)
    return json.loads(result.read_text()) if out.endswith(".json") else pd.read_csv(result)
