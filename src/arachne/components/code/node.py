"""CodeNode: a node whose handler is a code component's source, run in the isolate pool.

Each node instance has one instance in a worker (one QuickJS context, or one WebAssembly
store). ``on_start`` loads it (``initialize`` runs there), each message is one ``process``
invocation, ``on_stop`` runs ``cleanup``. Up to :data:`~.pool.MAX_BATCH` messages are in flight
at once and cross the process boundary together; results leave in input order.

A call that fails (the code threw, or hit a limit) is skipped by default: it goes to the
``error`` port when that is connected (and is logged), and the node takes its next message; a
document's ``errors`` (or ``error_policy``) can choose ``fail``, ``retry`` or ``dead_letter``.

What the code keeps with ``setState`` is mirrored into ``context.state`` as each invocation
lands, so it is the node's checkpointed state (``snapshot``/``restore`` need nothing more) and
what the instance is loaded with again after its worker dies. ``log`` lines go to the node's
logger, with the node's execution and node ids like any other record.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.components.code.pool import MAX_BATCH, PIPELINE, Instance
from arachne.model.node import AsyncNode
from arachne.model.policies import ErrorPolicy

if TYPE_CHECKING:
    from arachne.components.code.outcome import Outcome
    from arachne.model.message import Message
    from arachne.model.port import PortSpec

__all__ = ["CodeNode", "CodeSource"]

_LEVELS: Final = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


class CodeSource(Protocol):
    """What a code node is built from (a ``CodeComponent``): its ports, and its instances."""

    @property
    def id(self) -> str:
        """The component's id; its last part is the node's default name."""
        ...

    @property
    def digest(self) -> str:
        """A digest of the component's definition."""
        ...

    def input_specs(self) -> dict[str, PortSpec]:
        """Return the declared inputs."""
        ...

    def output_specs(self) -> dict[str, PortSpec]:
        """Return the declared outputs."""
        ...

    def instance(self, meta: Mapping[str, Any], state: dict[str, Any]) -> Instance:
        """Return a new instance in the pool for one node."""
        ...


class CodeNode(AsyncNode):
    """A node running ``component``'s code in the isolate pool, with ``config``."""

    concurrency = MAX_BATCH * PIPELINE
    ordered = True
    error_policy: ErrorPolicy = "skip"  # one bad value (or limit hit) fails that call alone
    stateful = True  # setState, mirrored into context.state

    def __init__(
        self,
        component: CodeSource,
        config: dict[str, Any] | None = None,
        *,
        name: str | None = None,
    ) -> None:
        super().__init__(name=name or component.id.rsplit(".", 1)[-1], config=config or {})
        self.component = component
        self._instance: Instance | None = None

    def fingerprint(self) -> str | None:
        """Return a digest of the component's definition: a changed source is another graph."""
        return self.component.digest

    def input_specs(self) -> dict[str, PortSpec]:
        """Return the component's declared inputs."""
        return self.component.input_specs()

    def output_specs(self) -> dict[str, PortSpec]:
        """Return the component's declared outputs."""
        return self.component.output_specs()

    async def on_start(self) -> None:
        """Load the instance in a worker and run its ``initialize``."""
        context = self.context
        meta = {
            "executionId": context.execution_id,
            "nodeId": context.node_id,
            "instanceId": f"{context.execution_id}/{context.node_id}",
            "config": dict(context.config),
        }
        self._instance = self.component.instance(meta, context.state)
        self._apply(await self._instance.open())

    async def on_message(self, port: str, msg: Message) -> None:
        """Run ``process(ctx, port, value)`` in the worker; emit what it emitted."""
        instance = self._instance
        assert instance is not None  # noqa: S101  # on_start ran
        self._apply(await instance.call(port, msg.payload))

    async def on_stop(self) -> None:
        """Run ``cleanup`` and drop the instance (what cleanup emits is logged, not sent)."""
        instance, self._instance = self._instance, None
        if instance is None:
            return
        outcome = await instance.close()
        if outcome is None:
            return
        self._log(outcome)
        if outcome.emits:
            self.context.logger.warning(
                "cleanup emitted %d value(s) after the node stopped; they were dropped",
                len(outcome.emits),
            )

    def _apply(self, outcome: Outcome) -> None:
        self._log(outcome)
        if outcome.error is not None:
            raise outcome.error
        emit = self.emit
        for port, value in outcome.emits:
            emit(port, value)

    def _log(self, outcome: Outcome) -> None:
        logger = self.context.logger
        for level, message, meta in outcome.logs:
            if meta is None:
                logger.log(_LEVELS.get(level, logging.INFO), "%s", message)
                continue
            text = json.dumps(meta, separators=(",", ":"))
            logger.log(
                _LEVELS.get(level, logging.INFO), "%s %s", message, text, extra={"meta": meta}
            )
