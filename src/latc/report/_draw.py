"""Building the report's sections and drawing their figures, in forked worker processes.

Each section is one task: build it (:mod:`_strobe`, :mod:`_quality`, :mod:`_clinical`,
:mod:`_outcomes`, :mod:`_methods`), then write each of its figures as SVG, and as 300-dpi PNG when
asked for or when the SVG exceeds :data:`SMALL_SVG_BYTES` (the HTML then embeds the smaller). The
worker returns the section with the files' bytes instead of the drawing, so only tables and bytes
are pickled. ``workers`` processes (default: every core) are forked once and handed the sections
one at a time, the costliest first; the results are the same objects, and the files the same
bytes, as building and drawing them one by one in this process (``latc.plot.save`` is
deterministic; tested). Issue 17 item 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import latc.plot as P
from latc._fork import can_fork, cores, fork_context, forking, ignore_interrupt

from ._inputs import ReportInputs
from ._model import Section

__all__ = ["SMALL_SVG_BYTES", "Builder", "build_and_draw", "build_and_draw_all", "draw", "drawing_workers"]

#: SVGs up to this size are embedded as they are, without a PNG to compare with.
SMALL_SVG_BYTES = 150_000

Builder = Callable[[ReportInputs], Section | None]

#: What the forked workers need (set just before they fork; read only there).
_STATE: dict[str, Any] = {}


def drawing_workers(jobs: int | None, n: int) -> int:
    """Worker processes for ``n`` sections: ``jobs`` (default: the cores this process may use), at
    most ``n``; 1 (this process) where forking is not used."""
    return max(1, min(cores(jobs), n)) if can_fork() else 1


def _save(figure: Any, stem: str, fmt: str) -> bytes:
    (path,) = P.save(figure, stem, formats=(fmt,))
    return path.read_bytes()


def build_and_draw(build: Builder, inp: ReportInputs, folder: Path, *, png: bool) -> Section | None:
    """Build one section and write its figures under ``folder`` (:func:`draw`)."""
    sec = build(inp)
    return None if sec is None else draw(sec, folder, png=png)


def draw(sec: Section, folder: Path, *, png: bool) -> Section:
    """Write the section's figures under ``folder``; each figure keeps its files' bytes (``svg``,
    ``png``) and lets go of the drawing."""
    for f in sec.figures:
        stem = str(folder / f.key)
        f.svg = _save(f.figure, stem, "svg")
        f.png = _save(f.figure, stem, "png") if png or len(f.svg) > SMALL_SVG_BYTES else None
        f.figure.clear()
        f.figure = None
    return sec


def _warm_up() -> None:
    """Draw a small figure with text to SVG and PNG before forking, so that every worker inherits
    matplotlib's loaded fonts and text caches instead of loading them again."""
    import io

    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(2, 1))
    ax.plot([0, 1], [0, 1], label="warm-up")
    ax.set_title("Patients (%)")
    ax.legend()
    for fmt in ("svg", "png"):
        fig.savefig(io.BytesIO(), format=fmt, dpi=72)
    plt.close(fig)


def _task(k: int) -> Section | None:
    """One section in a worker; the tables it read are let go afterwards (a worker that built the
    imaging section must not still hold its tables while it builds the biochemical one)."""
    inp = _STATE["inp"]
    before = inp.loaded()
    try:
        return build_and_draw(_STATE["builders"][k], inp, _STATE["folder"], png=_STATE["png"])
    finally:
        inp.forget(before)


def build_and_draw_all(builders: Sequence[Builder], inp: ReportInputs, folder: Path, *, png: bool,
                       jobs: int | None = None, first: Sequence[int] = ()) -> list[Section | None]:
    """:func:`build_and_draw` for every builder, in ``jobs`` forked workers (default: every core);
    ``first`` lists the indices of the costliest sections, handed out before the rest. Returns the
    sections in the order of ``builders``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    workers = drawing_workers(jobs, len(builders))
    if workers == 1:
        return [build_and_draw(b, inp, folder, png=png) for b in builders]
    from concurrent.futures import ProcessPoolExecutor

    order = list(dict.fromkeys([*first, *range(len(builders))]))
    _warm_up()
    inp.derived("subject")  # read once here: most sections use it, and the workers inherit it
    _STATE.update(builders=list(builders), inp=inp, folder=folder, png=png)
    try:
        with forking():  # the workers fork when the tasks are submitted
            ex = ProcessPoolExecutor(workers, mp_context=fork_context(), initializer=ignore_interrupt)
            try:
                done = dict(zip(order, ex.map(_task, order)))
            except BaseException:  # Ctrl-C (only this process gets it) or a failure: drop the sections not begun
                ex.shutdown(wait=True, cancel_futures=True)
                raise
            ex.shutdown(wait=True)
    finally:
        _STATE.clear()
    return [done[k] for k in range(len(builders))]
