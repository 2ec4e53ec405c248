"""``arachne replay``: run a stored run's document again on the messages it recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING

from arachne.cli.run import RunOptions, execute
from arachne.durable import SqliteStore
from arachne.durable.event_log import EventLog
from arachne.durable.runs import run_names, stored_document
from arachne.spec import loads_document

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

__all__ = ["replay_store"]


def replay_store(path: Path, run: str | None, options: RunOptions, err: Console) -> int:
    """Replay run ``run`` (the newest if ``None``) of the store at ``path``; the exit status.

    The run's document is built again and fed, on each edge the run recorded, the messages
    logged there, in order; what it writes and prints comes out as in the run. ``ValueError``
    naming the fix if the store, the run or its record is missing.
    """
    if not path.is_file():
        raise ValueError(f"{str(path)!r} is not a store; give the file arachne run --store wrote")
    store = SqliteStore(path, read_only=True)  # (a read: it writes nothing into the file)
    try:
        names = run_names(store)
        if not names:
            raise ValueError(f"{str(path)!r} holds no run; arachne run --store FILE makes one")
        name = run if run is not None else names[0]
        if name not in names:
            raise ValueError(f"no run {name!r} in {str(path)!r}; its runs: {', '.join(names)}")
        text = stored_document(store, name)
        if text is None:
            raise ValueError(
                f"run {name!r} did not come from a graph document (a Python graph); replay it "
                "in Python: arachne.durable.replay_into(execution, EventLog(store, name))"
            )
        options.replay = EventLog(store, name)
        return execute(loads_document(text), options, err, None)
    finally:
        store.close()
