"""The statistical analysis plan as code: every SAP section, in order, each wrapped.

``run_analysis(derived, options)`` reads the derived datasets (``_data.load_derived``), runs every
section of :data:`SECTIONS` and returns an :class:`AnalysisResults`. A section (or one table of a
section) that cannot be computed — too few events, one cohort only, no neoadjuvant patient, a
10-patient cohort, perfect separation in the propensity model — records a clear reason instead of
failing; nothing returns a silent NaN (an inestimable row carries a ``note``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from latc._fork import can_fork, cores, fork_context, forking, ignore_interrupt
from latc._progress import Step, no_progress

from . import _baseline, _comparative, _competing, _prognostic, _response, _safety, _sensitivity, _subgroups, _surgery, _survival
from ._context import AnalysisOptions, Context, run_section
from ._data import load_derived
from ._results import AnalysisResults, SectionResult

__all__ = ["SECTIONS", "run_analysis"]

#: section name → (title, runner); plan order (docs/analysis_plan.md)
SECTIONS: dict[str, tuple[str, Callable[[Context, SectionResult], None]]] = {
    "baseline": ("Baseline characteristics by cohort (Table 1)", _baseline.run),
    "response": ("Response to neoadjuvant therapy (imaging, biochemical, pathological)", _response.run),
    "surgery": ("Surgical outcomes and complications by cohort", _surgery.run),
    "safety": ("Adverse events of neoadjuvant therapy", _safety.run),
    "survival": ("Survival within the neoadjuvant cohort", _survival.run),
    "comparative": ("Neoadjuvant vs upfront surgery (propensity score, weighting, Cox)", _comparative.run),
    "competing": ("Recurrence with death as a competing event", _competing.run),
    "sensitivity": ("Sensitivity analyses (multiple imputation, landmark, time zero)", _sensitivity.run),
    "subgroups": ("Subgroup analyses of the comparative hazard ratio (forest plot)", _subgroups.run),
    "prognostic": ("Prognostic value of response beyond ATA risk", _prognostic.run),
}


#: Sections that share the comparison's matching and Cox estimates (``Context.cached``): they run in
#: this process; the others run beside them in a forked one when two cores are free.
MAIN_PROCESS = frozenset({"comparative", "sensitivity"})


def _run_sections(ctx: Context, todo: list[str], names: list[str], step: Step) -> dict[str, SectionResult]:
    """Run ``names`` (a part of ``todo``) in order; ``step`` gets "name (i/len(todo))" as each starts."""
    out: dict[str, SectionResult] = {}
    for name in names:
        title, fn = SECTIONS[name]
        step(f"{name} ({todo.index(name) + 1}/{len(todo)})")
        out[name] = run_section(name, title, lambda sec, fn=fn: fn(ctx, sec))
    return out


def _run_in_two_processes(ctx: Context, todo: list[str], main: list[str], side: list[str],
                          step: Step) -> dict[str, SectionResult]:
    """``main`` here and ``side`` in a forked process at the same time; the same results as in one
    process (every section reads the shared inputs and its own seeded generators; the comparison
    setup both parts use is computed first, so each starts from the same cache).

    Should the second process die (killed, out of memory), its sections run here afterwards."""
    from ._comparative import comparison

    step("comparison setup")
    try:
        comparison(ctx)  # cached, errors included (a section re-raises and records them)
    except Exception:  # noqa: BLE001, S110 - the sections that use it report the reason themselves
        pass
    fork = fork_context()
    recv, send = fork.Pipe(duplex=False)
    with forking():
        proc = fork.Process(target=_side, args=(ctx, todo, side, send), daemon=True)
        proc.start()
    send.close()
    try:
        done = _run_sections(ctx, todo, main, lambda text: step(f"{text} + {len(side)} in parallel"))
        step(f"{len(side)} sections in parallel")
        try:
            done.update(recv.recv())
        except (EOFError, OSError):  # the second process died: run its sections here
            done.update(_run_sections(ctx, todo, side, step))
    except BaseException:  # Ctrl-C or a failure here: the second process is not waited for
        proc.kill()
        raise
    finally:
        recv.close()
        proc.join()
    return done


def _side(ctx: Context, todo: list[str], names: list[str], conn: Any) -> None:
    """The forked process: run ``names`` and send their results back (then exit without cleanup).
    Ctrl-C is left to the ``latc`` process, which stops this one."""
    ignore_interrupt()
    try:
        conn.send(_run_sections(ctx, todo, names, no_progress))
    finally:
        conn.close()
        os._exit(0)


@contextmanager
def _single_threaded_blas() -> Iterator[None]:
    """BLAS on one thread while the plan runs.

    The plan's matrices are thin (n × 20): a multi-threaded OpenBLAS gains nothing and, on a busy
    machine, spin-waits — measured 245 s vs 58 s for the whole plan at 10,000 patients on 2 shared
    cores. Uses threadpoolctl when installed (it comes with scikit-learn); otherwise a no-op.
    """
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # pragma: no cover
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield


def run_analysis(derived: Any, options: AnalysisOptions | None = None, *,
                 sections: Sequence[str] | None = None, progress: Step | None = None) -> AnalysisResults:
    """Run the analysis plan on derived datasets (a ``latc derive`` folder, ``DerivedDatasets`` or mapping).

    ``sections`` restricts the run to some sections (default: all, in plan order); ``progress`` is
    called with each section's name and place (``"comparative (7/10)"``) as it starts. Raises
    :class:`~latc.analysis.AnalysisInputError` only when the inputs cannot be analysed at all
    (no ``subject``/``tte``, identifiable data); every other problem is recorded per section.
    """
    t0 = time.perf_counter()
    data = load_derived(derived)
    options = options or AnalysisOptions()
    unknown = sorted(set(sections or ()) - set(SECTIONS))
    if unknown:
        raise ValueError(f"unknown section(s) {', '.join(unknown)}; sections: {', '.join(SECTIONS)}")
    ctx = Context(data, options)
    todo = [name for name in SECTIONS if sections is None or name in sections]
    step = progress or no_progress
    with _single_threaded_blas():
        main = [n for n in todo if n in MAIN_PROCESS]
        side = [n for n in todo if n not in MAIN_PROCESS]
        if main and side and cores(options.n_jobs) > 1 and can_fork():
            done = _run_in_two_processes(ctx, todo, main, side, step)
        else:
            done = _run_sections(ctx, todo, todo, step)
    out = {name: done[name] for name in todo}  # plan order
    a = data.analysis_set
    inputs = {**data.describe(), "analysis_set": int(len(a)),
              "analysis_set_by_cohort": {str(k): int(v) for k, v in a.groupby("cohort").size().items()} if "cohort" in a else {},
              "seconds": round(time.perf_counter() - t0, 3)}
    return AnalysisResults(sections=out, parameters=options.as_dict(), inputs=inputs)
