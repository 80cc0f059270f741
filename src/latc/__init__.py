"""latc — the LATC neoadjuvant study platform.

Stages, each reading only what the stage before it wrote:
``dictionary`` → ``io`` → ``validate`` → ``derive`` → ``stats`` → ``plot``/``report``;
``omics`` for the biospecimen-linked biomarker layer.
"""

import os as _os

from latc.errors import LatcError

__version__ = "0.1.0"
__all__ = ["LatcError", "__version__"]


def _numba_cache_dir() -> None:
    """Point numba's on-disk cache at a user cache folder before numba is imported.

    Dependencies compiled with ``numba.njit(cache=True)`` (pynndescent, umap, scanpy, decoupler, …)
    otherwise write ``__pycache__/*.nbi``/``*.nbc`` into the installed package's own folder. Default:
    ``$XDG_CACHE_HOME/latc/numba`` (``~/.cache/latc/numba``), created here; a temporary folder when
    that cannot be created. A ``NUMBA_CACHE_DIR`` the user set is left alone. Functions a library
    decorated before latc was imported keep numba's default place: import latc first.
    """
    if _os.environ.get("NUMBA_CACHE_DIR"):
        return
    import tempfile

    base = _os.environ.get("XDG_CACHE_HOME") or _os.path.join(_os.path.expanduser("~"), ".cache")
    candidates = [_os.path.join(base, "latc", "numba")] if _os.path.isabs(base) else []
    uid = getattr(_os, "getuid", lambda: "user")()
    candidates.append(_os.path.join(tempfile.gettempdir(), f"latc-numba-{uid}"))
    for path in candidates:
        try:
            _os.makedirs(path, exist_ok=True)
        except OSError:
            continue
        owned = not hasattr(_os, "getuid") or _os.stat(path).st_uid == _os.getuid()  # shared /tmp: ours only
        if owned and _os.access(path, _os.W_OK | _os.X_OK):
            _os.environ["NUMBA_CACHE_DIR"] = path
            break
    import sys

    if "numba" in sys.modules:  # imported before latc: functions decorated from now on see the folder
        try:
            sys.modules["numba"].core.config.reload_config()
        except Exception:  # noqa: BLE001 - never let the cache location stop latc from importing
            pass


_numba_cache_dir()
