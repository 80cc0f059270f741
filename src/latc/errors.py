"""One base class for the errors latc raises on purpose.

Every error that describes a problem with the user's input, options or environment — not a bug —
derives from :class:`LatcError`, so a script can catch them all in one ``except LatcError`` and
the ``latc`` command prints them as one line (exit code 2) instead of a traceback. Each subclass
also keeps its historical built-in base (``ValueError`` for most), so existing ``except
ValueError`` handlers keep working.

The subclasses, by package: :class:`latc.io.StudyReadError`, :class:`latc.dictionary.DictionaryError`
and ``RedcapDictionaryError``, ``latc.stats.StatsInputError``, ``latc.derive`` (``DeriveInputError``,
``StageInputError``, ``BorInputError``, ``ResponseDataError``, ``MetadataError``), ``latc.analysis.AnalysisInputError``,
``latc.report.ReportInputError``, ``latc.omics.OmicsInputError``, ``latc.federated``
(``FederatedInputError``, ``FederatedDisclosureError``), ``latc.capture.CaptureError`` and its
subclasses, ``latc.cbioportal.CbioportalExportError``, and ``PathEscapeError`` (a path built from data
that would leave its folder).
"""

from __future__ import annotations


class LatcError(Exception):
    """Base class of latc's own errors: a problem of the input, never a bug (see module docs)."""
