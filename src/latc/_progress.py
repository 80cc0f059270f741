"""The one-line progress display of the commands that take more than a few seconds.

A spinner, ``label · step`` and the elapsed time, on stderr; it disappears when the command ends
(the summary lines stay). Off with ``--quiet`` and whenever the console is not a terminal (CI,
a pipe, a log file), as rich's live displays are. Issue 17 item 3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["Step", "no_progress", "progress_line"]

#: Called with the current step's text ("comparative (7/10)").
Step = Callable[[str], None]


def no_progress(step: str) -> None:  # noqa: ARG001 - the default callback does nothing
    return None


@contextmanager
def progress_line(console: Console, label: str, *, quiet: bool = False) -> Iterator[Step]:
    """Show ``label`` with a spinner and the elapsed time; yields ``step(text)``, which shows
    ``label · text`` until the next step."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), console=console,
                  transient=True, disable=quiet) as progress:
        task = progress.add_task(label, total=None)

        def step(text: str) -> None:
            progress.update(task, description=f"{label} · {text}")

        yield step
