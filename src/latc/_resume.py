"""``latc run --resume``: which stages of an earlier run in the same output folder can be kept.

A stage is kept only when everything it depends on is provably the same as when it ran, read from
the run record (``manifest.json``, :mod:`latc.manifest`):

* the same latc version and study dictionary (a new release may derive or analyse differently);
* ``validate``: the study input's SHA-256 (every file) and the data cut in effect are the recorded
  ones — a default "today" cut is resolved to its date first, so a run on a later day re-validates;
* each later stage: every stage before it was kept, its own entry is not ``stale``, its options
  (``resume_key``: a digest of what the user chose, e.g. the analysis options or ``--no-pdf``) are
  the recorded ones;
* every kept stage's output folder still has the checksum recorded when it was written (an edited
  or deleted output file makes that stage and the ones after it run again).

The first stage that fails a check runs, and so does every stage after it: a stage's input is the
previous stage's output, so "unchanged input" follows from the chain. The decision is a pure
function of the record and the current checksums (:func:`plan_resume`), tested on its own.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from latc.manifest import output_checksum

__all__ = ["ResumePlan", "options_key", "plan_resume", "STAGE_OUTPUTS"]

#: what each stage writes (relative to the run folder): the checksum kept in its record entry
STAGE_OUTPUTS = {"validate": "validation", "derive": "derived", "analyze": "analysis", "report": "report"}
_ORDER = ("validate", "derive", "analyze", "report")
#: options that change how fast a stage runs, never its result
_SPEED_ONLY = frozenset({"n_jobs", "jobs"})


def options_key(options: Any) -> str:
    """A digest of a stage's user options (a dataclass, a mapping or a scalar), ignoring the ones
    that only change the speed (``n_jobs``)."""
    import dataclasses

    if dataclasses.is_dataclass(options) and not isinstance(options, type):
        options = dataclasses.asdict(options)
    if isinstance(options, dict):
        options = {k: v for k, v in sorted(options.items()) if k not in _SPEED_ONLY}
    text = json.dumps(options, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass
class ResumePlan:
    """Stages to keep (with why) and to run (with why), in pipeline order."""

    keep: dict[str, str] = field(default_factory=dict)
    run: dict[str, str] = field(default_factory=dict)

    def line(self) -> str:
        """One line for the terminal."""
        first_why = next(iter(self.run.values()), "")
        if not self.keep:
            return f"--resume: every stage runs ({first_why})"
        ran = ", ".join(self.run) or "nothing"
        return (f"--resume: kept {', '.join(self.keep)} (unchanged since the recorded run); running {ran}"
                + (f" — {first_why}" if first_why else ""))


def plan_resume(record: dict[str, Any] | None, *, folder: Path, study_checksum: str, data_cut: str,
                keys: dict[str, str], latc_version: str, dictionary_sha256: str,
                options: dict[str, dict[str, Any]] | None = None) -> ResumePlan:
    """Decide which stages of the run recorded in ``record`` (``folder/manifest.json``) can be kept.

    ``study_checksum``: the combined SHA-256 of the study input now; ``data_cut``: the cut in effect
    (ISO date); ``keys``: :func:`options_key` per stage for the options of this run (missing = no
    options); ``options``: those options' values per stage, only to name the ones that changed
    (compared with the stage's recorded ``parameters``). Rules: module docstring.
    """
    plan = ResumePlan()
    why = _record_problem(record, latc_version, dictionary_sha256)
    stages = (record or {}).get("stages") or {}
    for stage in _ORDER:
        if why is None:
            why = _stage_problem(stage, stages.get(stage), folder=folder, study_checksum=study_checksum,
                                 data_cut=data_cut, key=keys.get(stage), values=(options or {}).get(stage))
        if why is None:
            plan.keep[stage] = "unchanged"
        else:
            plan.run[stage] = why
            why = f"{stage} runs again"
    return plan


def _record_problem(record: dict[str, Any] | None, latc_version: str, dictionary_sha256: str) -> str | None:
    if not record:
        return "no earlier run record in the output folder"
    if record.get("latc_version") != latc_version:
        return f"the earlier run used latc {record.get('latc_version')}, this is {latc_version}"
    if (record.get("dictionary") or {}).get("sha256") != dictionary_sha256:
        return "the study dictionary changed since the earlier run"
    return None


#: Appended to the report stage's resume key when the PDF asked for was not written, so that
#: ``--resume`` makes the report again (e.g. once Chromium works) instead of keeping it.
PDF_NOT_WRITTEN = ":pdf-not-written"


def _changed_options(values: dict[str, Any] | None, recorded: dict[str, Any] | None) -> str:
    """`` (bootstrap 100 → 12, png False → True)``: the options whose value differs from the recorded one."""
    if not values or not recorded:
        return ""
    now = json.loads(json.dumps(values, default=str))  # tuples as lists, as the record has them
    diffs = [f"{k} {recorded[k]} → {v}" for k, v in sorted(now.items())
             if k not in _SPEED_ONLY and k in recorded and recorded[k] != v]
    return f" ({', '.join(diffs[:4])}{', …' if len(diffs) > 4 else ''})" if diffs else ""


def _stage_problem(stage: str, entry: dict[str, Any] | None, *, folder: Path, study_checksum: str, data_cut: str,
                   key: str | None, values: dict[str, Any] | None = None) -> str | None:
    if not entry:
        return f"{stage} has no entry in the run record"
    if entry.get("stale"):
        return f"{stage} is marked stale in the run record"
    if entry.get("recorded_in"):
        return f"{stage} was recorded in another folder ({entry['recorded_in']})"
    if stage == "validate":
        if (entry.get("input") or {}).get("combined") != study_checksum:
            return "the study input changed (SHA-256 differs from the recorded one)"
        used = (entry.get("parameters") or {}).get("data_cut_used")
        if used != data_cut:
            return f"the data cut is {data_cut}, the earlier run used {used}"
    if str(entry.get("resume_key") or "").endswith(PDF_NOT_WRITTEN):
        return "the earlier run asked for report.pdf and could not write it"
    if (entry.get("resume_key") or None) != (key or None):
        return f"the {stage} options differ from the earlier run's{_changed_options(values, entry.get('parameters'))}"
    out = entry.get("output") or {}
    path = folder / STAGE_OUTPUTS[stage]
    if not out.get("combined"):
        return f"{stage}'s output was not checksummed by the earlier run"
    if not path.exists() or output_checksum(path) != out["combined"]:
        return f"{stage}'s output ({STAGE_OUTPUTS[stage]}/) was changed or removed since it was written"
    return None
