"""Run manifests: what ran, on what input, with which software — for reproducibility.

Every run writes ``manifest.json`` recording software versions, the input's checksum, the
parameters and the timing of each stage (non-negotiable 6: every output records versions,
parameters and the input's checksum).
"""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import latc

#: Packages whose versions every manifest records (when installed).
RECORDED_PACKAGES = (
    "latc", "numpy", "pandas", "pyarrow", "pandera", "pyyaml", "openpyxl", "jinja2", "typer", "rich",
    "scipy", "statsmodels", "lifelines", "scikit-survival", "scikit-learn", "matplotlib", "weasyprint",
    "anndata", "scanpy", "squidpy", "decoupler", "pydeseq2", "flowkit", "mofapy2",
)


def software_versions() -> dict[str, str]:
    """Python, platform and the installed versions of the packages the pipeline uses."""
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in RECORDED_PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    out["latc"] = latc.__version__
    return out


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def input_checksum(path: Path) -> dict[str, Any]:
    """SHA-256 of every file of the input (a file, or a folder walked in sorted order).

    ``combined`` hashes the sorted ``relative path + file hash`` lines, so it changes when any
    file's content or name changes and not when files are merely touched.
    """
    path = Path(path)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    base = path.parent if path.is_file() else path
    per_file = {str(p.relative_to(base)): file_sha256(p) for p in files}
    combined = hashlib.sha256("".join(f"{k}\t{v}\n" for k, v in per_file.items()).encode()).hexdigest()
    return {"algorithm": "sha256", "combined": combined, "files": per_file}


def write_manifest(out: Path, *, input_path: Path, parameters: dict[str, Any], timings: dict[str, float],
                   outputs: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write ``out/manifest.json`` and return its path."""
    from latc.dictionary import load_dictionary

    d = load_dictionary()
    manifest = {
        "latc_version": latc.__version__,
        "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["latc", *sys.argv[1:]]) if sys.argv and sys.argv[0].endswith("latc") else None,
        "input": {"path": str(input_path), **input_checksum(input_path)},
        "dictionary": {"study": d.study, "version": d.version, "sha256": file_sha256(d.source)},
        "parameters": parameters,
        "software": software_versions(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "outputs": outputs,
        **(extra or {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    target = out / "manifest.json"
    target.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return target
