"""``latc federated …``: the federated analysis from the command line (docs/federated.md).

Outside the ``latc.federated`` package on purpose: importing it would run the package's ``__init__``
(scipy, pandas, the statistics), and every ``latc`` command, ``--help`` included, imports this module."""

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
    coarsen_months: float = typer.Option(None, "--coarsen-months", help="The sites round every time up to a multiple "
                                         "of this many months; the pooled reference analyses the same coarsened times."),
) -> None:
    """Split the synthetic 8-center cohort by center, run the federated analysis, run the pooled
    `latc analyze` on the same data, compare them (comparison.json) and write the federated report."""
    from latc.errors import LatcError
    from latc.report import build_report

    from latc.federated._demo import federated_demo

    if engine not in ("flower", "local"):
        _fail(f"--engine must be 'flower' or 'local', not {engine!r}")
    try:
        res = federated_demo(out, n_patients=patients, seed=seed, engine=engine, resume=resume,
                             coarsen_months=_coarsen(coarsen_months))
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


def _policy(min_cell: int, opt_in: list[str], coarsen_months: float | None = None):
    from latc.federated._disclosure import DisclosurePolicy

    from latc.federated._disclosure import DEFAULT_ALLOWED

    known = sorted(DEFAULT_ALLOWED | {"table_one_values"})
    by: dict[str, int] = {}
    for item in opt_in:
        name, _, value = item.partition("=")
        if not name or not value.isdigit():
            _fail(f"--opt-in takes ANALYSIS=MINIMUM (e.g. km_weighted=1), not {item!r}")
        if name not in known:
            _fail(f"--opt-in {item!r}: no analysis {name!r}; analyses: {', '.join(known)}")
        by[name] = int(value)
    return DisclosurePolicy(min_cell=min_cell, min_cell_by_analysis=by, coarsen_months=_coarsen(coarsen_months))


def _coarsen(months: float | None) -> float | None:
    """``--coarsen-months`` checked by the policy's own rule (positive), as a one-line error."""
    from latc.federated._disclosure import DisclosurePolicy, FederatedInputError

    try:
        DisclosurePolicy(coarsen_months=months)
    except FederatedInputError:
        _fail(f"--coarsen-months must be a positive number of months, not {months:g}")
    return months


@federated_app.command("site", help="Run this hospital's site: a Flower SuperNode answering the coordinator from "
                       "this site's own `latc derive` output, recording every message it sends (foreground; Ctrl-C "
                       "stops it).")
def site(
    site_id: str = typer.Option(..., "--site", help="This site's name as the coordinator knows it (e.g. C01)."),
    data: Path = typer.Option(..., "--data", help="This site's `latc derive` output folder (derived/)."),
    superlink: str = typer.Option(..., "--superlink", help="The coordinator's SuperLink, HOST:PORT."),
    release_log: Path = typer.Option(None, "--release-log", help="Where to record what leaves the site "
                                     "(default: DATA/../release_log.jsonl)."),
    min_cell: int = typer.Option(3, "--min-cell", min=1, help="Minimum cell count (DataSHIELD nfilter.tab)."),
    opt_in: list[str] = typer.Option([], "--opt-in", help="ANALYSIS=MINIMUM: this site's decision to release "
                                     "smaller cells for one analysis (docs/federated.md), e.g. km_weighted=1; "
                                     "analyses: balance, cif, counts, cox_stratified, cox_webdisco, design_levels, "
                                     "km, km_weighted, logistic, logrank, moments, quantiles, response_rates, "
                                     "table_one_values. Repeatable."),
    coarsen_months: float = typer.Option(None, "--coarsen-months", help="Round every event and follow-up time up to "
                                         "a multiple of this many months before computing anything (e.g. 1): the "
                                         "results are then exact for the coarsened times (docs/federated.md)."),
    root_certificates: Path = typer.Option(None, "--root-certificates", help="CA certificate of the SuperLink (TLS)."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS: loopback tests only."),
    workdir: Path = typer.Option(Path(".latc-site"), "--workdir", help="Node config and Flower's state."),
    port: int = typer.Option(None, "--port", help="The SuperNode's own local port (ClientAppIo API on 127.0.0.1; "
                             "Flower's default 9094) — set it when several sites share a machine."),
) -> None:
    import subprocess

    from latc.federated.flower._deploy import site_argv
    from latc.federated.flower.launcher import FlowerEngineError

    folder = data / "derived" if (data / "derived" / "subject.parquet").is_file() else data
    if not (folder / "subject.parquet").is_file():
        _fail(f"{data}: not a `latc derive` output folder (no subject.parquet in it or in its derived/)")
    if root_certificates is not None and root_certificates.is_file() and \
            b"-----BEGIN CERTIFICATE-----" not in root_certificates.read_bytes()[:100_000]:
        _fail(f"{root_certificates}: not a PEM certificate (no '-----BEGIN CERTIFICATE-----')")
    log = release_log or (folder.resolve().parent / "release_log.jsonl")
    try:
        argv, env = site_argv(site_id, folder, superlink, workdir, release_log=log, policy=_policy(min_cell, opt_in, coarsen_months),
                              insecure=insecure, root_certificates=root_certificates, port=port)
    except FlowerEngineError as exc:
        _fail(str(exc))
        return
    typer.echo(f"site {site_id} → SuperLink {superlink}; release log {log}")
    raise typer.Exit(subprocess.call(argv, env=env))


@federated_app.command("run", help="Run the federated analysis from the coordinating center against its SuperLink, "
                       "write the results in `latc analyze`'s format and the federated report.")
def run(
    superlink: str = typer.Option(..., "--superlink", help="The SuperLink's Control API, HOST:PORT."),
    sites: str = typer.Option(..., "--sites", help="The expected sites, comma-separated (e.g. C01,C02,C03)."),
    out: Path = typer.Option(..., "--out", help="Output folder (analysis/, report/, flower_run.json)."),
    plan: str = typer.Option("comparison", "--plan", help="comparison (the study's plan) or selftest (counts)."),
    root_certificates: Path = typer.Option(None, "--root-certificates", help="CA certificate of the SuperLink (TLS)."),
    insecure: bool = typer.Option(False, "--insecure", help="No TLS: loopback tests only."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUT/journal.jsonl after a site dropped out."),
    timeout: float = typer.Option(3600.0, "--timeout", help="Seconds to wait for the whole run."),
    pdf: bool = typer.Option(True, "--pdf/--no-pdf", help="Write report.pdf too."),
) -> None:
    from latc.errors import LatcError

    from latc.federated.flower._deploy import run_against

    names = [s.strip() for s in sites.split(",") if s.strip()]
    journal = out.resolve() / "journal.jsonl"
    if not resume:
        journal.unlink(missing_ok=True)
    params = {"baseline": True, "journal": str(journal)} if plan == "comparison" else {}
    try:
        record, result = run_against(superlink, names, out / "coordinator", plan=plan, params=params,
                                     insecure=insecure, root_certificates=root_certificates, timeout=timeout)
    except LatcError as exc:
        _fail(str(exc))
        return
    typer.echo(f"run      → {record.get('rounds')} rounds with {len(names)} sites; record {out / 'coordinator' / 'flower_run.json'}")
    if plan != "comparison":
        return
    from latc.analysis import write_results
    from latc.report import build_report

    from latc.federated._results import federated_results

    res = federated_results(result)
    write_results(res, out / "analysis")
    rep = build_report(out, out / "report", pdf=pdf)
    typer.echo(f"analysis → {out / 'analysis' / 'results.json'}")
    typer.echo(f"report   → {rep.out_dir / 'report.html'}")
