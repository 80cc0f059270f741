"""Paths built from data stay inside their folder.

Two directions, one rule each:

* **Writing** — a data value (``sample_id``, ``patient_id``, ``center_id``, a cell type, a tissue,
  a gene …) that becomes part of a file name goes through :func:`safe_filename` first: the result
  is one path component of letters, digits, ``.``, ``_`` and ``-`` that never starts with a dot,
  so ``../`` or ``/etc/x`` in a value cannot leave the output folder. A value that had to be changed
  gets a short hash of the original appended, so two different values never share a file.
* **Reading** — a path a data table names (the biospecimen manifest's ``file_ref``) goes through
  :func:`resolve_inside`: it must be relative, must not climb with ``..`` and, once symbolic links
  are followed (:meth:`pathlib.Path.resolve`), must still lie inside the root folder; otherwise
  :class:`PathEscapeError` says which rule it broke.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
from pathlib import Path, PurePosixPath, PureWindowsPath

from latc.errors import LatcError

__all__ = ["PathEscapeError", "inside", "resolve_inside", "safe_filename"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_DOTS = re.compile(r"\.{2,}")
#: names Windows refuses as files whatever the extension
_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}


class PathEscapeError(LatcError, ValueError):
    """A path named by data leaves (or could leave) its root folder.

    ``rule`` is one of ``file_ref_empty``, ``file_ref_absolute``, ``file_ref_parent`` (a ``..``
    component) or ``file_ref_outside`` (resolves outside the root, e.g. through a symbolic link).
    """

    def __init__(self, message: str, rule: str, ref: str = "") -> None:
        super().__init__(message)
        self.rule = rule
        self.ref = ref


def safe_filename(value: object, *, default: str = "_", max_length: int = 80) -> str:
    """``value`` as one safe path component (no separator, never ``.``/``..`` or hidden).

    Letters, digits, ``.``, ``_`` and ``-`` are kept; every other run of characters, and every run
    of dots, becomes ``_``; leading/trailing dots and underscores are dropped. A value left unchanged keeps its name
    (``C01-0001-BL_TU_US`` → ``C01-0001-BL_TU_US``); a changed or over-long one gets ``-`` + 8 hex
    digits of its SHA-256 so distinct values stay distinct (``../../x`` → ``x-<hash>``).
    """
    text = "" if value is None else str(value)
    norm = unicodedata.normalize("NFKC", text)
    s = _UNSAFE.sub("_", norm)
    s = _DOTS.sub("_", s).strip("._")
    if s.split(".")[0].upper() in _RESERVED:
        s = "_" + s
    if s == text and 0 < len(s) <= max_length:
        return s
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:8]
    stem = (s or default)[: max(1, max_length - 9)].rstrip("._") or default
    return f"{stem}-{digest}"


def inside(root: str | os.PathLike, path: str | os.PathLike) -> bool:
    """Whether ``path`` lies inside ``root`` (or is ``root``) after following symbolic links."""
    r = Path(root).resolve()
    p = Path(path).resolve()
    return p == r or p.is_relative_to(r)


def resolve_inside(root: str | os.PathLike, ref: object, *, what: str = "file_ref",
                   root_label: str | None = None) -> Path:
    """``root / ref`` when ``ref`` is a relative path that stays inside ``root``.

    Raises :class:`PathEscapeError` (``rule`` and a one-line message naming ``what`` and ``ref``)
    when ``ref`` is empty, absolute (``/x``, ``C:\\x``, ``\\\\server\\x``), has a ``..`` component, or
    resolves outside ``root`` once symbolic links are followed — for a folder, any entry inside it
    too. The returned path is not resolved (its name is the one the data gave); it need not exist.
    """
    label = root_label or f"the folder {root}"
    text = "" if ref is None else str(ref)
    if not text.strip():
        raise PathEscapeError(f"{what} is empty", "file_ref_empty", text)
    if "\x00" in text:
        raise PathEscapeError(f"{what} {text!r} contains a NUL character", "file_ref_outside", text)
    win = PureWindowsPath(text)
    if PurePosixPath(text).is_absolute() or win.is_absolute() or win.drive or text.startswith("\\"):
        raise PathEscapeError(f"{what} {text!r} is an absolute path; it must be relative to {label}",
                              "file_ref_absolute", text)
    parts = re.split(r"[\\/]", text)
    if ".." in parts:
        raise PathEscapeError(f"{what} {text!r} climbs out with '..'; it must stay inside {label}",
                              "file_ref_parent", text)
    root_p = Path(root)
    candidate = root_p / text
    if not inside(root_p, candidate):
        raise PathEscapeError(f"{what} {text!r} resolves outside {label} (a symbolic link pointing outside)",
                              "file_ref_outside", text)
    if candidate.is_dir():  # a folder format (10x matrix, Space Ranger): every entry must stay inside too
        for dirpath, dirnames, filenames in os.walk(candidate):
            for name in dirnames + filenames:
                if not inside(root_p, Path(dirpath) / name):
                    rel = (Path(dirpath) / name).relative_to(candidate)
                    raise PathEscapeError(f"{what} {text!r}: {rel} inside it resolves outside {label} "
                                          "(a symbolic link pointing outside)", "file_ref_outside", text)
    return candidate
