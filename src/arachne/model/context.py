"""What a node can see of its surroundings while it runs."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

__all__ = ["NodeContext"]


@dataclass(frozen=True, slots=True)
class NodeContext:
    """A node's config, ids, per-instance state and logger.

    ``state`` is the one mutable part: a dict owned by this node instance, kept across hooks
    (and, when the run is checkpointed, saved with each checkpoint and given back when it
    resumes). ``config`` is read-only. ``checkpointed`` says whether the run takes checkpoints
    (a node may then defer an effect to ``on_checkpoint``).
    """

    node_id: str
    execution_id: str = ""
    graph_name: str = ""
    config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    state: dict[str, Any] = field(default_factory=dict)
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("arachne.node"))
    checkpointed: bool = False

    @classmethod
    def create(
        cls,
        node_id: str,
        *,
        config: Mapping[str, Any] | None = None,
        execution_id: str = "",
        graph_name: str = "",
        state: dict[str, Any] | None = None,
        checkpointed: bool = False,
    ) -> NodeContext:
        """Return a context with a read-only copy of ``config`` and the node's own logger."""
        return cls(
            node_id=node_id,
            execution_id=execution_id,
            graph_name=graph_name,
            config=MappingProxyType(dict(config or {})),
            state={} if state is None else state,
            logger=logging.getLogger(f"arachne.node.{node_id}"),
            checkpointed=checkpointed,
        )
