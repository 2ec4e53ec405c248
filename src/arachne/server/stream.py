"""Executions' events for one WebSocket client, as JSON frames both ways.

A client sends ``{"event": "execution:subscribe", "data": {"executionId": ...}}`` (and
``execution:unsubscribe``, ``execution:start`` with a ``graphId``, ``execution:pause``,
``execution:resume``, ``execution:stop``, ``execution:inject`` with ``nodeId``, ``port`` and
``value``); the service sends the Runtime Service's events for the executions it subscribed
to: ``execution:started``, ``execution:paused``, ``execution:resumed``,
``execution:completed`` (with metrics), ``execution:failed`` (with the error),
``execution:cancelled``, and ``metrics:update`` every second while an execution runs.

A client never slows an execution: events reach it through its own bounded relay, which drops
what a slow client cannot take and counts it; the client is told (``stream:dropped``, with
the count so far). A request it cannot serve is answered with ``error`` (a code and a message
naming the field), and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Final

from arachne.model.errors import ArachneError
from arachne.runtime.event_relay import EventRelay, RelayClosed
from arachne.runtime.events import ExecutionStateChanged
from arachne.server.service import NotFound

if TYPE_CHECKING:
    from arachne.runtime import Execution, Subscription
    from arachne.runtime.events import Event
    from arachne.server.service import RuntimeService

__all__ = ["CLIENT_EVENTS", "METRICS_EVERY", "QUEUE", "ClientStream"]

CLIENT_EVENTS: Final = (
    "execution:subscribe",
    "execution:unsubscribe",
    "execution:start",
    "execution:pause",
    "execution:resume",
    "execution:stop",
    "execution:inject",
)
"""What a client may send."""

QUEUE: Final = 1024
"""Events waiting for one client before the next is dropped (and counted)."""

METRICS_EVERY: Final = 1.0
"""Seconds between two ``metrics:update`` events of a running execution."""

Send = Callable[[dict[str, Any]], Awaitable[None]]


class ClientStream:
    """One client's subscriptions, its relay of events, and what it asks of executions."""

    def __init__(
        self,
        service: RuntimeService,
        send: Send,
        *,
        maxsize: int = QUEUE,
        metrics_every: float = METRICS_EVERY,
        may_operate: bool = True,
    ) -> None:
        self.service = service
        self.may_operate = may_operate  # else only subscribe and unsubscribe (a viewer)
        self.send = send
        self.relay = EventRelay(maxsize)
        self.metrics_every = metrics_every
        self.subscriptions: dict[str, Subscription] = {}
        self._told_dropped = 0

    # -- the client's requests ----------------------------------------------------------------

    async def handle(self, frame: object) -> None:
        """Serve one frame from the client; answer ``error`` if it cannot be served."""
        try:
            await self._serve(frame)
        except PermissionError as exc:
            await self._error("forbidden", str(exc))
        except (NotFound, ArachneError, ValueError, TypeError, TimeoutError) as exc:
            code = "not_found" if isinstance(exc, NotFound) else "invalid_request"
            await self._error(code, str(exc))

    async def _serve(self, frame: object) -> None:
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            raise ValueError('a frame is a JSON object {"event": NAME, "data": {...}}')
        name, data = frame["event"], frame.get("data", {})
        if name not in CLIENT_EVENTS:
            raise ValueError(f"unknown event {name!r}; send one of: {', '.join(CLIENT_EVENTS)}")
        if not isinstance(data, dict):
            raise ValueError(f"{name}: data must be a JSON object")
        if not self.may_operate and name not in ("execution:subscribe", "execution:unsubscribe"):
            raise PermissionError(f"{name} needs the operator role; the caller is a viewer")
        if name == "execution:start":
            graph_id = _text(data, "graphId", name)
            ex = await asyncio.to_thread(self.service.execute, graph_id)
            self._subscribe(ex)
            return
        ex = self.service.execution(_text(data, "executionId", name))
        if name == "execution:subscribe":
            self._subscribe(ex)
        elif name == "execution:unsubscribe":
            subscription = self.subscriptions.pop(ex.id, None)
            if subscription is not None:
                subscription.unsubscribe()
        elif name == "execution:pause":
            ex.pause()
        elif name == "execution:resume":
            ex.resume()
        elif name == "execution:stop":
            ex.request_stop(drain=True)
        else:  # execution:inject
            node, port = _text(data, "nodeId", name), _text(data, "port", name)
            if "value" not in data:
                raise ValueError(f"{name}: data.value is missing; give the value to inject")
            await asyncio.to_thread(ex.inject, node, port, data["value"], timeout=0)

    def _subscribe(self, ex: Execution) -> None:
        if ex.id in self.subscriptions:
            return
        self.subscriptions[ex.id] = ex.subscribe(self.relay, ExecutionStateChanged)
        # What happened before the subscription: the state it is in now, once.
        state = ex.state.value
        if state in ("running", "paused", "completed", "failed", "cancelled"):
            self.relay(
                ExecutionStateChanged(
                    execution_id=ex.id,
                    old="initializing" if state == "running" else "running",
                    new=state,
                    error=None,
                )
            )

    # -- what the client is sent --------------------------------------------------------------

    async def pump(self) -> None:
        """Send the client its events, and each running execution's metrics every second."""
        loop = asyncio.get_running_loop()
        next_metrics = loop.time() + self.metrics_every
        while True:
            try:
                event = await asyncio.wait_for(
                    self.relay.get_async(), max(0.0, next_metrics - loop.time())
                )
            except TimeoutError:
                event = None
            except RelayClosed:
                return
            if event is not None:
                await self._send_event(event)
            await self._tell_dropped()
            if loop.time() >= next_metrics:
                next_metrics = loop.time() + self.metrics_every
                await self._send_metrics()

    async def _send_event(self, event: Event) -> None:
        if not isinstance(event, ExecutionStateChanged):
            return
        execution_id, new = event.execution_id, event.new
        if new == "running" and event.old == "initializing":
            graph_id = self.service.graph_of(execution_id)
            await self._out(
                "execution:started", executionId=execution_id, graphId=graph_id, state=new
            )
        elif new == "running" and event.old == "paused":
            await self._out("execution:resumed", executionId=execution_id, state=new)
        elif new == "paused":
            await self._out("execution:paused", executionId=execution_id, state=new)
        elif new == "completed":
            metrics = await self._metrics_of(execution_id)
            await self._out("execution:completed", executionId=execution_id, metrics=metrics)
        elif new == "failed":
            await self._out(
                "execution:failed",
                executionId=execution_id,
                error={"message": event.error or "failed"},
            )
        elif new == "cancelled":
            await self._out("execution:cancelled", executionId=execution_id, state=new)

    async def _send_metrics(self) -> None:
        for execution_id in list(self.subscriptions):
            try:
                ex = self.service.execution(execution_id)
            except NotFound:
                continue
            if ex.state.value in ("running", "paused"):
                metrics = await self._metrics_of(execution_id)
                await self._out("metrics:update", executionId=execution_id, metrics=metrics)

    async def _metrics_of(self, execution_id: str) -> dict[str, Any]:
        ex = self.service.execution(execution_id)
        stats = await asyncio.to_thread(ex.stats)  # a read on the execution's loop
        return stats.service_metrics().to_dict()

    async def _tell_dropped(self) -> None:
        dropped = self.relay.stats().dropped
        if dropped > self._told_dropped:
            self._told_dropped = dropped
            await self._out("stream:dropped", count=dropped)

    async def _error(self, code: str, message: str) -> None:
        await self._out("error", code=code, message=message)

    async def _out(self, name: str, **data: Any) -> None:
        await self.send({"event": name, "data": data})

    def close(self) -> None:
        """Drop every subscription and close the relay."""
        for subscription in self.subscriptions.values():
            with contextlib.suppress(Exception):
                subscription.unsubscribe()
        self.subscriptions.clear()
        self.relay.close()


def _text(data: dict[str, Any], key: str, event: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{event}: data.{key} must be a non-empty string")
    return value
