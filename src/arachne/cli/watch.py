"""``arachne run --watch``: a graph document reloaded into its running execution on each edit.

The run's document is looked at every ``LOOK`` seconds (its size, time and content hash).
When it has changed and then stayed so for one more look (an editor's save may take
several writes), it is read, checked and built like the first time; the result becomes the
execution's desired graph and is committed (``Execution.update_graph``). A node kept under
its id with the same component keeps its instance, so its state and queued messages stay; a
config that alone changed is hot-reloaded through the node's ``on_config`` (one that has none
is replaced by a new instance, and a warning says so: what it held is gone); the command's
own feeds and printers stay. A document that
does not read, build or commit is reported and the run goes on as it was.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from typing import TYPE_CHECKING, Final

from arachne.cli.session import CHECKER, Printer, attach_printers
from arachne.model.errors import ArachneError
from arachne.model.graph import Graph
from arachne.model.node import overrides
from arachne.spec import analyze, build, read_document

if TYPE_CHECKING:
    from pathlib import Path

    from rich.console import Console

    from arachne.cli.writer import Writer
    from arachne.components.registry import Registry
    from arachne.model.node import Node
    from arachne.runtime.execution import Execution
    from arachne.spec import GraphDocument

__all__ = ["LOOK", "DocumentWatcher"]

LOOK: Final = 0.25
"""Seconds between two looks at the watched document."""

FEED_PREFIXES: Final = ("cli-input-", CHECKER)
"""How the ids of the command's feed nodes begin: they stay through every reload."""


class DocumentWatcher:
    """Reloads the document at ``path`` into ``ex`` when it changes (call :meth:`poll`)."""

    def __init__(
        self,
        path: Path,
        doc: GraphDocument,
        ex: Execution,
        registry: Registry,
        writer: Writer,
        err: Console,
    ) -> None:
        self.path = path
        self.doc = doc  # the document as last applied
        self.ex = ex
        self.registry = registry
        self.writer = writer
        self.err = err
        self.reloads = 0
        self._seen = _stamp(path)
        self._candidate: tuple[int, int, str] | None = None
        self._next = time.monotonic() + LOOK

    def poll(self) -> bool:
        """Reload the document if it changed since the last look; return whether it did."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + LOOK
        stamp = _stamp(self.path)
        if stamp is None or stamp == self._seen:
            return False  # (missing: an editor's save between its rename and its write)
        if stamp != self._candidate:
            self._candidate = stamp  # saved just now: applied once it has stayed so a look
            return False
        self._seen = stamp
        try:
            doc = read_document(self.path)
            graph, instances = self._desired(doc)
            delta = self.ex.update_graph(graph, instances)
        except (ArachneError, ValueError, OSError) as exc:
            self.err.print(
                f"[yellow]--watch:[/] {self.path} changed but was not applied; the run goes on "
                f"as it was: {exc}",
                highlight=False,
            )
            return False
        self.reloads += 1
        self.doc = doc
        # The command's own feeds and printers change with the outputs: not the user's news.
        lines = [line for line in str(delta).splitlines() if delta and not _plumbing(line)]
        said = f"{len(lines)} change(s) applied" if lines else "no change to apply"
        self.err.print(f"[green]--watch:[/] {self.path} reloaded: {said}", highlight=False)
        for line in lines:
            self.err.print(f"  {line}", highlight=False, style="dim")
        renewed = {spec.id for spec in delta.added_nodes} & {s.id for s in delta.removed_nodes}
        for node_id in sorted(renewed):
            if not _plumbing(node_id):
                self.err.print(
                    f"[yellow]--watch:[/] node {node_id!r} was replaced by a new instance (its "
                    "component cannot take a new config while running, or more than its "
                    "config changed): what it held is gone",
                    highlight=False,
                )
        return True

    def _desired(self, doc: GraphDocument) -> tuple[Graph, dict[str, Node]]:
        """Return the reloaded document as a graph to run, and its instances by id."""
        report = analyze(doc)
        fresh = build(doc, self.registry)
        attach_printers(fresh, doc, report.outputs, self.writer)
        graph, instances = fresh.to_graph(), fresh.instances()
        current, running = self.ex.graph, self.ex.instances
        # The command's feeds (reading stdin or a file) stay, linked as they were.
        feeds = [spec for spec in current.nodes.values() if spec.id.startswith(FEED_PREFIXES)]
        links = [
            link for link in current.links.values() if link.source.node.startswith(FEED_PREFIXES)
        ]
        for link in links:
            if link.target.node not in graph.nodes and not link.target.node.startswith(
                FEED_PREFIXES
            ):
                raise ValueError(
                    f"the new document has no node {link.target.node!r}, which the run's input "
                    "feeds; keep it, or start the run again"
                )
        for spec in graph.nodes.values():
            old = current.nodes.get(spec.id)
            kept = running.get(spec.id)
            if old is None or kept is None or not _same_node(kept, instances[spec.id]):
                continue
            same_but_config = dataclasses.replace(old, config=spec.config) == spec
            if same_but_config and (old.config == spec.config or overrides(kept, "on_config")):
                instances[spec.id] = kept  # its state and queue stay; a config is hot-reloaded
        for spec in feeds:
            instances[spec.id] = running[spec.id]
        return (
            Graph(
                [*graph.nodes.values(), *feeds],
                [*graph.links.values(), *links],
                graph.name,
                graph.primitives,
            ),
            instances,
        )


def _plumbing(text: str) -> bool:
    """Whether a delta line (or a node id) is about the command's own feeds or printers."""
    return "cli-output-" in text or any(prefix in text for prefix in FEED_PREFIXES)


def _same_node(kept: Node, fresh: Node) -> bool:
    """Whether ``kept`` can stand for ``fresh`` (same class; a printer, the same endpoint)."""
    if type(kept) is not type(fresh):
        return False
    if isinstance(kept, Printer) and isinstance(fresh, Printer):
        return kept.endpoint == fresh.endpoint
    return True


def _stamp(path: Path) -> tuple[int, int, str] | None:
    """Return the document's size, modification time and content hash (``None``: unreadable)."""
    try:
        info = path.stat()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None
    return info.st_size, info.st_mtime_ns, digest
