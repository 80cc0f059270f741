"""The run record (``manifest.json``): what ran, on what input, with which software — kept current.

One record per output folder. Every stage — ``validate``, ``derive``, ``analyze``, ``report``, run by
``latc run`` or one command at a time — updates the record of the folder it writes
(:func:`record_stage`): the software versions, the parameters of each stage, the SHA-256 of its input,
its timing and command, and the outputs. Re-running a stage in place replaces its entry, so the
record never describes an earlier run; the entries of the stages after it are marked ``stale``
until they run again. A stage that reads another folder (``latc analyze OTHER --out NEW``) copies
the upstream stages' entries and the study input's checksum from that folder's record, so the
new folder's record still reaches back to the study (non-negotiable 6: every output records
versions, parameters and the input's checksum).

Layout (``schema`` 2)::

    latc_version, created_utc, updated_utc, command (the latest), input (the study: path, sha256 per
    file, combined), dictionary, software, parameters {stage: {...}}, timings_seconds {stage: s},
    outputs {name: relative path}, stages {stage: {command, finished_utc, seconds, input {path,
    combined, files}, output? {path, combined, files}, resume_key?, parameters, latc_version,
    recorded_in?, stale?}}, counts, resumed? {utc, reused, ran} (the last ``latc run --resume``), …
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import sys
from collections.abc import Callable
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import latc

__all__ = ["OUTPUT_EXCLUDE", "RECORD_NAME", "STAGES", "file_sha256", "input_checksum", "note_resume", "output_checksum",
           "read_record", "record_stage",
           "run_record_near", "software_versions", "version_text", "write_manifest"]

#: Packages whose versions every manifest records (when installed).
RECORDED_PACKAGES = (
    "latc", "numpy", "pandas", "pyarrow", "pandera", "pyyaml", "openpyxl", "jinja2", "typer", "rich",
    "scipy", "statsmodels", "lifelines", "scikit-survival", "scikit-learn", "matplotlib", "weasyprint",
    "anndata", "scanpy", "squidpy", "decoupler", "pydeseq2", "flowkit", "mofapy2",
)
#: The stages a run record tracks, in pipeline order.
STAGES = ("validate", "derive", "analyze", "report")
RECORD_NAME = "manifest.json"
SCHEMA = 2


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


def version_text() -> str:
    """``latc X.Y.Z (Python A.B.C, <implementation>)`` — what ``latc --version`` prints."""
    return f"latc {latc.__version__} (Python {platform.python_version()}, {platform.python_implementation()})"


def file_sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def input_checksum(path: Path, *, exclude: tuple[str, ...] = (),
                   skip: Callable[[str], bool] | None = None) -> dict[str, Any]:
    """SHA-256 of every file of the input (a file, or a folder walked in sorted order).

    ``combined`` hashes the sorted ``relative path + file hash`` lines, so it changes when any
    file's content or name changes and not when files are merely touched. ``exclude`` names
    top-level entries of a folder to skip (e.g. the run record itself); ``skip(name)`` true for
    any part of a file's path leaves the file out.
    """
    path = Path(path)
    if path.is_file():
        files, base = [path], path.parent
    else:
        def kept(parts: tuple[str, ...]) -> bool:
            return parts[0] not in exclude and not (skip and any(map(skip, parts)))

        files = sorted(p for p in path.rglob("*") if p.is_file() and kept(p.relative_to(path).parts)) if path.is_dir() else []
        base = path
    per_file = {p.relative_to(base).as_posix(): file_sha256(p) for p in files}
    combined = hashlib.sha256("".join(f"{k}\t{v}\n" for k, v in per_file.items()).encode()).hexdigest()
    return {"algorithm": "sha256", "combined": combined, "files": per_file}


#: files a stage's output checksum leaves out: the run record, and the validation summary page
#: (written after the derive stage, from its headline)
OUTPUT_EXCLUDE = (RECORD_NAME, "summary.html")


def _litter(name: str) -> bool:
    """Files a desktop leaves in a folder a person opened: hidden files (``.DS_Store``), office lock
    files (``.~lock.tables.xlsx#``, ``~$tables.xlsx``) and editor backups (``notes.txt~``)."""
    return name.startswith((".", "~$")) or name.endswith("~") or name in ("Thumbs.db", "desktop.ini")


def output_checksum(path: Path) -> str:
    """The combined SHA-256 of a stage's output folder: :data:`OUTPUT_EXCLUDE` and the desktop's
    litter (:func:`_litter`) left out, so opening the tables in Excel or a Finder window does not
    make ``latc run --resume`` redo the stage; any other added, removed or edited file does."""
    return str(input_checksum(Path(path), exclude=OUTPUT_EXCLUDE, skip=_litter)["combined"])


def note_resume(folder: Path, *, kept: list[str], ran: dict[str, str]) -> None:
    """Record in ``folder``'s run record what the last ``latc run --resume`` kept and ran (and why)."""
    target = Path(folder) / RECORD_NAME
    rec = read_record(target)
    if rec is None:
        return
    rec["resumed"] = {"utc": _now(), "kept": kept, "ran": ran}
    target.write_text(json.dumps(rec, indent=2, default=str), encoding="utf-8")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _command() -> str | None:
    argv0 = Path(sys.argv[0]).name if sys.argv else ""
    return " ".join(["latc", *sys.argv[1:]]) if argv0 == "latc" or argv0.startswith("latc") else None


def read_record(path: Path) -> dict[str, Any] | None:
    """A run record (``manifest.json`` or the folder holding it); ``None`` when absent or unreadable."""
    path = Path(path)
    if path.is_dir():
        path = path / RECORD_NAME
    try:
        rec = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None
    except (OSError, ValueError):
        return None
    return rec if isinstance(rec, dict) else None


def run_record_near(path: Path) -> Path | None:
    """The run record of the folder ``path`` belongs to: ``path/manifest.json``, else the parent's
    (``OUT/derived``, ``OUT/validation``, ``OUT/analysis`` sit inside the run folder ``OUT``)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    for cand in (folder / RECORD_NAME, folder.parent / RECORD_NAME):
        if cand.is_file():
            return cand
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return Path(a).resolve() == Path(b).resolve()


def record_stage(folder: Path, stage: str, *, input_path: Path | None, parameters: dict[str, Any],
                 seconds: float | None = None, outputs: dict[str, str] | None = None,
                 counts: dict[str, Any] | None = None, timings: dict[str, float] | None = None,
                 upstream: Path | None = None, study_input: bool | None = None,
                 extra: dict[str, Any] | None = None, output_path: Path | None = None,
                 resume_key: str | None = None) -> Path:
    """Update ``folder/manifest.json`` with one stage that just ran; return the record's path.

    ``input_path`` is what the stage read (checksummed); ``study_input`` makes it the record's
    study input too (default: for ``validate``). ``upstream`` is the record of the folder the input
    came from: its earlier stages and study input are copied (unless it is this record). Entries of
    later stages are marked ``stale``. ``timings`` (default ``{stage: seconds}``) are merged into
    ``timings_seconds``; ``counts`` replace the record's counts keys they name. ``output_path``
    (what the stage wrote, checksummed) and ``resume_key`` (a digest of the options the user chose)
    let ``latc run --resume`` tell that the stage's output is still the one it recorded
    (:mod:`latc._resume`).
    """
    from latc.dictionary import load_dictionary

    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}; stages: {', '.join(STAGES)}")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / RECORD_NAME
    rec = read_record(target) or {}
    now = _now()
    d = load_dictionary()
    rec.setdefault("created_utc", now)
    rec.update({"schema": SCHEMA, "latc_version": latc.__version__, "updated_utc": now, "command": _command(),
                "dictionary": {"study": d.study, "version": d.version, "sha256": file_sha256(d.source)},
                "software": software_versions()})
    stages: dict[str, Any] = rec.setdefault("stages", {})
    params: dict[str, Any] = rec.setdefault("parameters", {})
    order = STAGES.index(stage)

    up = read_record(upstream) if upstream is not None and Path(upstream).exists() and not _same(upstream, target) else None
    if up:
        for s, entry in (up.get("stages") or {}).items():
            if s in STAGES and STAGES.index(s) < order:
                stages[s] = {**entry, "recorded_in": entry.get("recorded_in") or str(Path(upstream).resolve())}
                if s in (up.get("parameters") or {}):
                    params[s] = up["parameters"][s]
        if up.get("input"):
            rec["input"] = up["input"]

    entry: dict[str, Any] = {"command": _command(), "finished_utc": now, "latc_version": latc.__version__,
                             "parameters": parameters}
    if seconds is not None:
        entry["seconds"] = round(float(seconds), 3)
    if input_path is not None:
        input_path = Path(input_path)
        chk = input_checksum(input_path, exclude=(RECORD_NAME,) if input_path.is_dir() else ())
        entry["input"] = {"path": str(input_path.resolve()), "combined": chk["combined"], "files": len(chk["files"])}
        if study_input if study_input is not None else stage == "validate":
            rec["input"] = {"path": str(input_path), **chk}
        elif "input" not in rec:
            rec["input"] = {"path": str(input_path), **chk, "note": f"input of the {stage} stage (no upstream run record)"}
    if output_path is not None and Path(output_path).exists():
        o = Path(output_path).resolve()
        entry["output"] = {"path": o.relative_to(folder.resolve()).as_posix() if o.is_relative_to(folder.resolve())
                           else str(o), "combined": output_checksum(o)}
    if resume_key is not None:
        entry["resume_key"] = resume_key
    stages[stage] = entry
    params[stage] = parameters
    for later in STAGES[order + 1:]:
        if later in stages:
            stages[later]["stale"] = (f"{stage} re-ran at {now}, after this stage ran: re-run {later} to bring it "
                                      "up to date")
    rec["stages"] = {s: stages[s] for s in STAGES if s in stages}
    rec["parameters"] = {**{s: params[s] for s in STAGES if s in params},
                         **{k: v for k, v in params.items() if k not in STAGES}}
    t = rec.setdefault("timings_seconds", {})
    t.update({k: round(float(v), 3) for k, v in (timings if timings is not None else
                                                  ({stage: seconds} if seconds is not None else {})).items()})
    if outputs:
        rec.setdefault("outputs", {}).update(outputs)
    if counts:
        rec.setdefault("counts", {}).update(counts)
    if extra:
        rec.update(extra)
    target.write_text(json.dumps(rec, indent=2, default=str), encoding="utf-8")
    return target


def write_manifest(out: Path, *, input_path: Path, parameters: dict[str, Any], timings: dict[str, float],
                   outputs: dict[str, Any], extra: dict[str, Any] | None = None) -> Path:
    """Write a fresh ``out/manifest.json`` in one go (earlier API; the pipeline uses :func:`record_stage`)."""
    from latc.dictionary import load_dictionary

    d = load_dictionary()
    now = _now()
    manifest = {
        "schema": SCHEMA,
        "latc_version": latc.__version__,
        "created_utc": now,
        "updated_utc": now,
        "command": _command(),
        "input": {"path": str(input_path), **input_checksum(input_path)},
        "dictionary": {"study": d.study, "version": d.version, "sha256": file_sha256(d.source)},
        "parameters": parameters,
        "software": software_versions(),
        "timings_seconds": {k: round(v, 3) for k, v in timings.items()},
        "outputs": outputs,
        **(extra or {}),
    }
    out.mkdir(parents=True, exist_ok=True)
    target = out / RECORD_NAME
    target.write_text(json.dumps(manifest, indent=2, default=str), encoding="utf-8")
    return target
