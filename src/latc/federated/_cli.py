"""``latc federated …``: the federated analysis from the command line (docs/federated.md)."""

from __future__ import annotations

from pathlib import Path

import typer

federated_app = typer.Typer(help="Federated analysis: the pooled results without pooling the patients.",
                            no_args_is_help=True)


def _fail(message: str) -> None:
    from latc.cli import _fail as fail

    fail(message)


@federated_app.command("demo", help="Split the synthetic 8-center cohort by center, run the federated analysis and "
                       "the pooled `latc analyze` on the same data, compare them (comparison.json) and write "
                       "the federated report.")
def demo(
    out: Path = typer.Option(Path("out/federated-demo"), "--out", help="Output folder."),
    patients: int = typer.Option(2000, "--patients", min=200, help="Synthetic cohort size (8 centers)."),
    engine: str = typer.Option("local", "--engine",
                               help="flower: SuperLink + one SuperNode per site on loopback; local: in this process."),
    seed: int = typer.Option(20261204, "--seed", help="Seed of the synthetic cohort."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Write report.pdf too."),
    resume: bool = typer.Option(False, "--resume", help="Continue a run that stopped (a site dropped out) from "
                                "the coordinator's journal instead of starting afresh."),
) -> None:
    """Split the synthetic 8-center cohort by center, run the federated analysis, run the pooled
    `latc analyze` on the same data, compare them (comparison.json) and write the federated report."""
    from latc.errors import LatcError
    from latc.report import build_report

    from ._demo import federated_demo

    if engine not in ("flower", "local"):
        _fail(f"--engine must be 'flower' or 'local', not {engine!r}")
    try:
        res = federated_demo(out, n_patients=patients, seed=seed, engine=engine, resume=resume)
        rep = build_report(out / "federated", out / "federated" / "report", pdf=pdf)
    except LatcError as exc:
        _fail(str(exc))
        return
    comp = res.comparison
    p = res.primary
    typer.echo(f"sites    → {len(res.sites)} ({', '.join(res.sites)}), {res.rounds} rounds over {engine}; "
               f"largest message volume {max(res.bytes_sent.values()) / 1e6:.2f} MB per site")
    if p:
        typer.echo(f"primary  → recurrence HR, neoadjuvant vs upfront (IPTW, ATE), federated {p['hr']:.4f} "
                   f"(95% CI {p['lower']:.4f}–{p['upper']:.4f})")
    typer.echo(f"agreement→ largest |federated − pooled| over {len(comp['tables'])} tables: {comp['max_abs_diff']:.1e} "
               f"(comparison.json, comparison.csv)")
    typer.echo(f"report   → {rep.out_dir / 'report.html'}")
    typer.echo(f"logs     → {out / 'sites'}/<site>/release_log.jsonl")
