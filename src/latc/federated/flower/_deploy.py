"""A real deployment: one site's SuperNode, and the coordinator's run against a SuperLink.

``latc federated site`` runs at a hospital: it writes the site's node config (its name, its
`latc derive` folder, its release log, its disclosure policy) and runs ``flower-supernode``
connected to the coordinator's SuperLink — in the foreground, until stopped. ``latc federated run``
runs at the coordinating center, next to the SuperLink: it submits latc's Flower app with
``flwr run``, waits for the coordinator's record, and writes the results.

Between nodes use TLS: the SuperLink is started with ``--ssl-ca-certfile``, ``--ssl-certfile`` and
``--ssl-keyfile``; each site and the coordinator pass the CA certificate (``--root-certificates``).
``--insecure`` (no TLS) is for loopback tests and the demo only, and is refused for any other
address.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

from .._disclosure import DisclosurePolicy
from ._wire import policy_to_node_config
from .launcher import CONNECTION, COMPARISON, SELFTEST, FlowerEngineError, _bin_dir, _finish, _toml, app_pyproject

__all__ = ["PLANS", "run_against", "site_argv"]

PLANS = {"comparison": COMPARISON, "selftest": SELFTEST}
_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def _check_transport(address: str, insecure: bool, root_certificates: Path | None) -> None:
    host = address.rsplit(":", 1)[0]
    if insecure and host not in _LOOPBACK:
        raise FlowerEngineError(f"--insecure is for loopback only; {address} needs TLS (--root-certificates CA.pem)")
    if not insecure and root_certificates is None:
        raise FlowerEngineError("give --root-certificates CA.pem (the CA of the SuperLink's certificate), or "
                                "--insecure on loopback")
    if root_certificates is not None and not Path(root_certificates).is_file():
        raise FlowerEngineError(f"{root_certificates}: CA certificate not found")


def _env(flwr_home: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({"PATH": f"{_bin_dir()}{os.pathsep}{env.get('PATH', '')}", "FLWR_HOME": str(flwr_home),
                "FLWR_TELEMETRY_ENABLED": "0", "FLWR_DISABLE_UPDATE_CHECK": "1",
                "FLWR_DISABLE_RUNTIME_DEPENDENCY_INSTALLATION": "1", "PYTHONUNBUFFERED": "1"})
    return env


def site_argv(site: str, data: Path, superlink: str, workdir: Path, *, release_log: Path,
              policy: DisclosurePolicy, insecure: bool = False, root_certificates: Path | None = None,
              port: int | None = None) -> tuple[list[str], dict[str, str]]:
    """The SuperNode command of one site (its node config written to ``workdir``) and its environment."""
    _check_transport(superlink, insecure, root_certificates)
    workdir = Path(workdir).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    cfg = {"site": site, "data": str(Path(data).resolve()), "release-log": str(Path(release_log).resolve()),
           **policy_to_node_config(policy)}
    (workdir / "node_config.toml").write_text(_toml(cfg), encoding="utf-8")
    argv = [str(_bin_dir() / "flower-supernode"), "--superlink", superlink, "--node-config",
            str(workdir / "node_config.toml")]
    argv += ["--insecure"] if insecure else ["--root-certificates", str(Path(root_certificates).resolve())]  # type: ignore[arg-type]
    if port is not None:
        argv += ["--host", "127.0.0.1", "--port", str(port)]
    return argv, _env(workdir / "flwr-home")


def run_against(superlink: str, sites: list[str], out: Path, *, plan: str = "comparison",
                params: dict[str, Any] | None = None, insecure: bool = False, root_certificates: Path | None = None,
                timeout: float = 3600.0, round_timeout: float = 300.0) -> tuple[dict[str, Any], Any]:
    """Submit latc's app to the SuperLink at ``superlink`` (its Control API) and wait for the
    coordinator's record in ``out``; returns ``(record, result)``."""
    _check_transport(superlink, insecure, root_certificates)
    if plan not in PLANS:
        raise FlowerEngineError(f"--plan must be one of {sorted(PLANS)}, not {plan!r}")
    out = Path(out).resolve()
    work = out / "engine"
    home = work / "flwr-home"
    (work / "app").mkdir(parents=True, exist_ok=True)
    home.mkdir(parents=True, exist_ok=True)
    for stale in ("flower_run.json", "result.pickle"):
        (out / stale).unlink(missing_ok=True)
    tls = "insecure = true\n" if insecure else f'root-certificates = "{Path(root_certificates).resolve()}"\n'  # type: ignore[arg-type]
    (home / "config.toml").write_text(f'[superlink]\ndefault = "{CONNECTION}"\n\n[superlink.{CONNECTION}]\n'
                                      f'address = "{superlink}"\n{tls}', encoding="utf-8")
    (work / "app" / "pyproject.toml").write_text(app_pyproject(coordinator=PLANS[plan]), encoding="utf-8")
    run_cfg = {"coordinator": PLANS[plan], "out": str(out), "sites": ",".join(sites),
               "round-timeout": float(round_timeout), "connect-timeout": 60.0,
               "params": json.dumps(dict(params or {}), sort_keys=True)}
    (work / "run_config.toml").write_text(_toml(run_cfg), encoding="utf-8")
    res = subprocess.run([str(_bin_dir() / "flwr"), "run", str(work / "app"), CONNECTION, "--run-config",
                          str(work / "run_config.toml"), "--format", "json"], capture_output=True, text=True,
                         timeout=120, env=_env(home), cwd=work, stdin=subprocess.DEVNULL)
    try:
        info = json.loads(res.stdout[res.stdout.index("{"):])
        run_id = str(info["run-id"])
        if not info.get("success"):
            raise ValueError("not started")
    except (ValueError, KeyError):
        raise FlowerEngineError(f"flwr run failed (exit {res.returncode}): {res.stdout.strip()} "
                                f"{res.stderr.strip()}") from None
    deadline = time.monotonic() + timeout
    rec_path = out / "flower_run.json"
    record = None
    while record is None:
        if time.monotonic() > deadline:
            raise FlowerEngineError(f"run {run_id}: no record from the coordinator in {out} within {timeout:g} s")
        if rec_path.exists():
            try:
                record = json.loads(rec_path.read_text(encoding="utf-8"))
            except ValueError:
                record = None      # still being written
        time.sleep(0.5)
    run = _finish(record, out, run_id)
    return record, run.result
