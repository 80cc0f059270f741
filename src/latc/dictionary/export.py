"""Export the data dictionary: a REDCap data dictionary CSV or the Markdown codebook.

``latc dictionary export --format redcap|markdown --out FILE`` calls :func:`export_dictionary`.
"""

from __future__ import annotations

from pathlib import Path

from latc.dictionary._model import Dictionary

#: formats :func:`export_dictionary` writes
EXPORT_FORMATS: tuple[str, ...] = ("redcap", "markdown")


def export_dictionary(d: Dictionary, format: str, out: str | Path) -> Path:
    """Write the dictionary ``d`` to ``out`` in ``format``.

    ``redcap``: REDCap's data dictionary CSV (see :mod:`latc.dictionary.redcap`); ``markdown``:
    the codebook (see :mod:`latc.dictionary.codebook`; ``docs/codebook.md`` is this output for the
    bundled dictionary). Parent folders are created. Raises :class:`ValueError` naming the allowed
    formats for any other format. Returns ``out``.
    """
    fmt = str(format).strip().lower()
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown dictionary export format {format!r}; allowed: {', '.join(EXPORT_FORMATS)}")
    out = Path(out)
    if fmt == "redcap":
        from latc.dictionary.redcap import write_redcap_data_dictionary

        return write_redcap_data_dictionary(d, out)
    from latc.dictionary.codebook import render_codebook

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_codebook(d), encoding="utf-8")
    return out
