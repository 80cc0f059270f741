"""One output layout for every omics command (``latc omics sc|spatial|bulk|flow|imaging|biomarkers``).

::

    OUT/
      run.json             command, parameters, inputs with SHA-256 checksums (manifest rows, subject
                           table, data files), outcome columns, software versions, steps and timings
      tables/*.csv         every result table (names per command: docs/omics/*.md)
      figures/*.svg|.png   figures (SVG + 300-dpi PNG); none with --no-figures
      adata.h5ad           cells (sc) or spots (spatial) with sample keys, cohort and response in obs
      skipped.csv          analyses not run and why (analysis, tissue, contrast, reason)
      refused_samples.csv  manifest samples not analysed (quarantined row, file_ref outside the data root)
      warnings.log         library warnings and log lines kept out of the terminal

:class:`Output` writes into it; :func:`write_run_json` records the run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from latc._paths import safe_filename
from latc._progress import Step, no_progress

__all__ = ["Output", "Progress", "SKIPPED_COLUMNS", "write_run_json", "manifest_checksum", "files_checksum", "no_progress"]

SKIPPED_COLUMNS = ["analysis", "tissue", "contrast", "reason"]

#: progress callback: called with the name of the step about to start (``latc._progress.Step``)
Progress = Step


class Output:
    """The output folder of an omics run (module docstring)."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.tables_dir = self.root / "tables"
        self.figures_dir = self.root / "figures"
        self.adata_path = self.root / "adata.h5ad"
        self.run_json = self.root / "run.json"
        self.skipped_csv = self.root / "skipped.csv"
        self.files: list[Path] = []

    def table(self, df: pd.DataFrame, name: str, *, index: bool = False) -> Path:
        """Write ``tables/<name>.csv``."""
        self.tables_dir.mkdir(parents=True, exist_ok=True)
        p = self.tables_dir / f"{safe_filename(name)}.csv"
        df.to_csv(p, index=index, lineterminator="\n")
        self.files.append(p)
        return p

    def figure(self, fig, name: str) -> list[Path]:
        """Write ``figures/<name>.svg`` and ``.png`` (300 dpi) and close the figure."""
        from latc.plot import save

        paths = save(fig, self.figures_dir / safe_filename(name))
        try:
            import matplotlib.pyplot as plt

            plt.close(fig)
        except Exception:  # noqa: BLE001 - closing is best effort
            pass
        self.files += list(paths)
        return list(paths)

    def skipped(self, rows: list[dict]) -> Path:
        """Write ``skipped.csv`` (always, so an empty file says nothing was skipped)."""
        self.root.mkdir(parents=True, exist_ok=True)
        pd.DataFrame([{c: r.get(c, "") for c in SKIPPED_COLUMNS} for r in rows], columns=SKIPPED_COLUMNS).to_csv(
            self.skipped_csv, index=False, lineterminator="\n")
        self.files.append(self.skipped_csv)
        return self.skipped_csv

    def relative(self, paths=None) -> list[str]:
        out = []
        for p in (self.files if paths is None else paths):
            try:
                out.append(str(Path(p).relative_to(self.root)))
            except ValueError:
                out.append(str(p))
        return sorted(dict.fromkeys(out))


def _sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def files_checksum(files: dict[str, Path | str]) -> dict[str, Any]:
    """SHA-256 of each named file (``{name: path}``) and a combined hash over the sorted
    ``name + hash`` lines (changes when any file's content changes)."""
    per = {}
    for name, p in sorted(files.items()):
        p = Path(p)
        per[str(name)] = {"path": str(p), "bytes": p.stat().st_size, "sha256": _sha256(p)} if p.is_file() else \
            {"path": str(p), "sha256": None}
    combined = hashlib.sha256("".join(f"{k}\t{v['sha256']}\n" for k, v in per.items()).encode()).hexdigest()
    return {"algorithm": "sha256", "combined": combined, "files": per}


def manifest_checksum(manifest: pd.DataFrame) -> dict[str, Any]:
    """Where the validated manifest came from and a SHA-256 of its rows (CSV text, sorted by sample)."""
    m = manifest.drop(columns=[c for c in ("path", "exists") if c in manifest.columns])
    if "sample_id" in m:
        m = m.sort_values("sample_id", kind="stable")
    text = m.to_csv(index=False, lineterminator="\n")
    return {"source": str(manifest.attrs.get("source", "")), "rows": int(len(m)),
            "sha256": hashlib.sha256(text.encode()).hexdigest()}


def write_run_json(out: Output, *, command: str, parameters: dict, inputs: dict, outcomes: dict | None = None,
                   timings: dict[str, float] | None = None, steps: list[str] | None = None,
                   counts: dict | None = None, extra: dict | None = None) -> Path:
    """Write ``OUT/run.json``: what ran, on what (checksums), with which software (module docstring)."""
    from latc import __version__
    from latc.manifest import software_versions

    argv = sys.argv[1:] if sys.argv and Path(sys.argv[0]).name == "latc" else None
    rec = {
        "latc_version": __version__,
        "command": command,
        "argv": (["latc", *argv] if argv is not None else None),
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "parameters": parameters,
        "inputs": inputs,
        "outcomes": outcomes,
        "steps": steps or [],
        "timings_seconds": {k: round(float(v), 3) for k, v in (timings or {}).items()},
        "counts": counts or {},
        "software": software_versions(),
        "layout": {"tables": "tables/*.csv", "figures": "figures/*.svg|png", "adata": "adata.h5ad",
                   "skipped": "skipped.csv", "refused_samples": "refused_samples.csv", "log": "warnings.log"},
        **(extra or {}),
    }
    out.root.mkdir(parents=True, exist_ok=True)
    rec["outputs"] = out.relative()
    out.run_json.write_text(json.dumps(rec, indent=2, default=str) + "\n", encoding="utf-8")
    return out.run_json
