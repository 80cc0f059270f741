"""Shared pieces of the REDCap-compatible API tests: a live server and a seeded study."""

from __future__ import annotations

import threading
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def live_api():
    """The capture WSGI application served by waitress on 127.0.0.1 (a free port) in a thread;
    yields the API URL (``http://127.0.0.1:PORT/api/``), as PyCap takes it."""
    from django.core.wsgi import get_wsgi_application
    from waitress.server import create_server

    server = create_server(get_wsgi_application(), host="127.0.0.1", port=0, threads=4,
                           clear_untrusted_proxy_headers=True)
    stopping = threading.Event()

    def run():
        try:
            server.run()
        except (OSError, ValueError):  # select() on sockets closed by close() below while stopping
            if not stopping.is_set():
                raise

    t = threading.Thread(target=run, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/api/"
    finally:
        stopping.set()
        server.close()
        t.join(timeout=5)


def synthetic_study(folder: Path, *, n: int = 24, centers: int = 2, seed: int = 5) -> Path:
    """A small clean synthetic study (CSV folder), centers C01.. ; returns the study folder."""
    from latc.synth import write_synthetic_study

    write_synthetic_study(folder, n_patients=n, n_centers=centers, seed=seed, fmt="csv", inject_errors=0)
    return folder / "study"


def import_synthetic(folder: Path, **kw) -> Path:
    """Import a small synthetic study into the current capture database; returns the study folder."""
    from latc.capture import interchange

    study = synthetic_study(folder, **kw)
    rep = interchange.import_study(study, out=folder / "import")
    assert not rep.quarantine, rep.summary()
    return study
