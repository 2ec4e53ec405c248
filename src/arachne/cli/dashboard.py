"""``arachne run --dashboard``: the run's dashboard served beside it, opened, kept after it.

``serve_dashboard`` starts the service's page over the run (``RunDashboard``, on 127.0.0.1)
and prints its address, opening it in a graphical browser from a desktop's terminal;
``linger`` keeps it up after the run, on a terminal, until Ctrl-C.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from rich.console import Console

    from arachne.components.registry import Registry
    from arachne.runtime import Runtime
    from arachne.runtime.execution import Execution
    from arachne.server.run_dashboard import RunDashboard
    from arachne.spec import GraphDocument

__all__ = ["GRACE", "linger", "serve_dashboard"]

GRACE: Final = 1.0
"""Seconds the dashboard of a run off a terminal stays up after the run, for open pages."""


def serve_dashboard(
    runtime: Runtime,
    ex: Execution,
    doc: GraphDocument,
    registry: Registry,
    port: int | None,
    err: Console,
) -> RunDashboard | None:
    """Serve the run's dashboard on 127.0.0.1:``port``, if asked; print its address."""
    if port is None:
        return None
    from arachne.server.run_dashboard import RunDashboard

    board = RunDashboard(runtime, ex, doc, registry, port=port)
    err.print(f"dashboard at {board.url}", highlight=False)
    if err.is_terminal:
        threading.Thread(target=_open, args=(board.url,), daemon=True).start()
    return board


def _open(url: str) -> None:
    """Open ``url`` in a graphical browser, if there is one; never a text one in the terminal."""
    import webbrowser

    if sys.platform not in ("darwin", "win32") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        return
    try:
        browser = webbrowser.get()
    except webbrowser.Error:
        return
    graphical = isinstance(browser, webbrowser.BackgroundBrowser) or getattr(
        browser, "background", sys.platform in ("darwin", "win32")
    )
    if graphical:
        browser.open(url)  # (a browser that does not open fails nothing)


def linger(board: RunDashboard, err: Console, *, interrupted: bool) -> None:
    """Keep the dashboard up after the run on a terminal, until Ctrl-C; then close it.

    Not after a run that was interrupted: the user asked for the end already. Off a terminal
    it stays :data:`GRACE` seconds, so pages that are open see the run's last events.
    """
    try:
        if err.is_terminal and not interrupted:
            err.print(
                f"the run has ended; its dashboard stays at {board.url} until Ctrl-C",
                highlight=False,
            )
            threading.Event().wait()
        elif not interrupted:
            threading.Event().wait(GRACE)
    except KeyboardInterrupt:
        pass
    finally:
        board.close()
