"""Messages for people that can be shown in the reader's language (docs/capture.md "Languages").

``msg("patient {patient} is locked", patient=pid)`` is the English text as a ``str`` (logs, the
command line, ``str(exc)``, tests) that also remembers its template and values, so that the web UI
(:func:`latc.capture.web.i18n.localize`) can show it from the catalog ``locale/ui.<lang>.yaml``.
The core raises its refusals with it and never imports the web layer.
"""

from __future__ import annotations

from typing import Any


class Msg(str):
    """English text that remembers its catalog key (``template``) and ``params``."""

    template: str
    params: dict[str, Any]

    def __reduce__(self):  # pickles (and copies) as the message it is
        return (_restore, (self.template, self.params))


def msg(template: str, /, **params: Any) -> Msg:
    """A message in English now, in the reader's language when shown."""
    out = Msg(template.format(**{k: str(v) for k, v in params.items()}) if params else template)
    out.template, out.params = template, dict(params)
    return out


def _restore(template: str, params: dict[str, Any]) -> Msg:
    return msg(template, **params)
