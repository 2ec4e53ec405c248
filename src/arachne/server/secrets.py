"""What the service shows of configs: every value a component marks secret, redacted.

A component's config schema marks secret fields ``writeOnly`` (``components.config``); the
service takes them in and never hands them back. Every route that shows a config goes
through a :class:`Redactor`: a stored graph's document, an execution's desired and running
graphs, and the text of a plan. A checksum the service shows (an execution's graph, a
plan's configs) is keyed with a secret of the process (HMAC-SHA-256), so it still tells two
configs apart but cannot be used to guess a secret value offline.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

from arachne.components.config import SECRET, redact, secret_fields

if TYPE_CHECKING:
    from arachne.components.registry import Registry
    from arachne.model.delta import GraphDelta, NodeChange
    from arachne.model.graph import Graph

__all__ = ["CHANGED_SECRET", "Redactor"]

CHANGED_SECRET: Final = "[new secret]"  # noqa: S105  # (a placeholder)
"""What a plan shows for a secret value a change replaces."""


class Redactor:
    """Redacts the secret config values of ``registry``'s components wherever shown."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._key = os.urandom(32)

    def digest(self, checksum: str | None) -> str | None:
        """Return a checksum keyed with this process's secret (``None`` stays ``None``)."""
        if checksum is None:
            return None
        return hmac.new(self._key, checksum.encode(), hashlib.sha256).hexdigest()

    def delta_data(self, delta: GraphDelta) -> dict[str, Any]:
        """Return ``delta.to_dict()`` with its config checksums keyed (see :meth:`digest`)."""
        data = delta.to_dict()
        for change in data["reconfigured"]:
            change["old_checksum"] = self.digest(change["old_checksum"])
            change["new_checksum"] = self.digest(change["new_checksum"])
        return data

    def config(self, component: object, config: object) -> object:
        """Return ``config`` of a node of ``component`` with its secret values redacted."""
        if not isinstance(component, str) or component not in self.registry:
            return config
        return redact(self.registry.resolve(component).config_schema, config)

    def document(self, definition: Mapping[str, Any]) -> dict[str, Any]:
        """Return a graph document (as sent) with every node's secrets redacted."""
        shown = dict(definition)
        nodes = definition.get("nodes")
        if isinstance(nodes, list):
            shown["nodes"] = [
                {**node, "config": self.config(node.get("component"), node["config"])}
                if isinstance(node, dict) and "config" in node
                else node
                for node in nodes
            ]
        return shown

    def graph(self, graph: Graph) -> dict[str, Any]:
        """Return ``graph.to_dict()`` with every node's secrets redacted."""
        data = graph.to_dict()
        data["nodes"] = [
            {**node, "config": self.config(node["kind"], node["config"])} for node in data["nodes"]
        ]
        return data

    def delta(self, delta: GraphDelta) -> GraphDelta:
        """Return ``delta`` with the configs of its reconfigured nodes redacted (for its text)."""
        return dataclasses.replace(
            delta, reconfigured=tuple(self._change(change) for change in delta.reconfigured)
        )

    def _change(self, change: NodeChange) -> NodeChange:
        old, new = change.old, change.new
        if new.kind not in self.registry:
            return change
        secret = secret_fields(self.registry.resolve(new.kind).config_schema)
        if not secret:
            return change
        old_config, new_config = dict(old.config), dict(new.config)
        for key in secret:
            if key in old_config:
                old_config[key] = SECRET
            if key in new_config:  # (a changed secret must still show as changed)
                same = key in old.config and old.config[key] == new.config[key]
                new_config[key] = SECRET if same else CHANGED_SECRET
        return dataclasses.replace(
            change,
            old=dataclasses.replace(old, config=old_config),
            new=dataclasses.replace(new, config=new_config),
        )
