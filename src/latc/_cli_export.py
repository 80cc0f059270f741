"""``latc export …``: write a study in another tool's format (docs/cbioportal.md).

Every ``latc`` command, ``--help`` included, imports this module: pandas and the exporters are
imported inside the command functions only."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

export_app = typer.Typer(help="Export the study for other tools (cBioPortal).", no_args_is_help=True)


@export_app.command("cbioportal")
def cbioportal(
    run_dir: Path = typer.Argument(..., help="A `latc run` (or `latc derive`) output folder: derived/ and "
                                   "validation/clean/."),
    out: Path = typer.Option(..., "--out", "-o", help="Study folder to write (new, or an earlier export, "
                             "which is replaced)."),
    omics: Optional[list[Path]] = typer.Option(None, "--omics", help="A `latc omics bulk|sc|flow|spatial run` "
                                               "output folder; repeat for several."),
    study_id: str = typer.Option("latc_neoadjuvant", "--study-id", help="cancer_study_identifier (lower-case "
                                 "letters, digits, _)."),
) -> None:
    """Write the run (and omics outputs) as a cBioPortal study folder: clinical patient/sample files,
    timelines, mutations, expression with z-scores, generic assays and case lists."""
    from latc.cli import _fail, console
    from latc.errors import LatcError

    try:
        from latc.cbioportal import export_cbioportal

        res = export_cbioportal(run_dir, out, omics=omics or [], study_id=study_id)
    except LatcError as exc:
        from latc._logging import mask_identifiers

        _fail(mask_identifiers(str(exc)))
        return
    c = res.counts
    events = sum(c["timeline_events"].values())
    console.print(f"{c['patients']} patients, {c['samples']} samples, {events} timeline events, "
                  f"{len(c['profiles'])} molecular profile(s) → {res.out}", highlight=False, soft_wrap=True)
    for note in res.notes:
        console.print(f"note: {note}", highlight=False, soft_wrap=True)
    console.print(f"record → {res.out / 'latc_export.json'}; load: docs/cbioportal.md", highlight=False)
