"""Executions' events for one WebSocket client, as JSON frames both ways.

A client sends ``{"event": "execution:subscribe", "data": {"executionId": ...}}`` (and
``execution:unsubscribe``, ``execution:start`` with a ``graphId``, ``execution:pause``,
``execution:resume``, ``execution:stop``, ``execution:inject`` with ``nodeId``, ``port`` and
``value``); the service sends the Runtime Service's events for the executions it subscribed
to: ``execution:started``, ``execution:paused``, ``execution:resumed``,
``execution:completed`` (with metrics), ``execution:failed`` (with the error),
``execution:cancelled``, ``metrics:update`` every second while an execution runs,
``view:update`` (the live view a dashboard draws, ``arachne.observability.live_view``) every
:data:`VIEW_EVERY` seconds to a client that subscribed with ``"view": true``, and the
per-message events: ``port:emit`` (a value sent along an edge, with its number there) and
``component:invoked`` (messages handed to a node's input).

A client never slows an execution, and never grows the service's memory: state events reach
it through its own bounded relay, which drops what a slow client cannot take and counts it
(the client is told: ``stream:dropped``, with the count so far); per-message events are
folded by edge and by input (``arachne.server.coalescer``: each says how many messages it
stands for) and sent at most ``events_per_second``; nothing more is sent while the
transport's own backlog is full. A request the stream cannot serve is answered with ``error``
(a code and a message naming the field), and the connection stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from functools import partial
from typing import TYPE_CHECKING, Any, Final

from arachne.model.errors import ArachneError
from arachne.observability.live_view import LiveView
from arachne.runtime.event_relay import EventRelay, RelayClosed
from arachne.runtime.events import ExecutionStateChanged
from arachne.server.coalescer import Coalescer
from arachne.server.service import NotFound, PayloadTooLarge

if TYPE_CHECKING:
    from arachne.runtime import Execution, Subscription, Watch
    from arachne.runtime.events import Event
    from arachne.server.service import RuntimeService

log = logging.getLogger("arachne.server")

__all__ = [
    "CLIENT_EVENTS",
    "FLUSH_EVERY",
    "ID_CHARS",
    "MAX_SUBSCRIPTIONS",
    "METRICS_EVERY",
    "QUEUE",
    "VIEW_EVERY",
    "ClientStream",
]

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

VIEW_EVERY: Final = 0.25
"""Seconds between two ``view:update`` events of a running execution (four frames a second)."""

MAX_SUBSCRIPTIONS: Final = 64
"""Executions one client may follow at once."""

ID_CHARS: Final = 200
"""The longest id, node name or port name a client may send."""

GIVE_UP: Final = 20
"""Failed sends in a row after which a client's stream stops (its transport is gone)."""

FLUSH_EVERY: Final = 0.05
"""Seconds between two sendings of the per-message events waiting for a client."""

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
        events_per_second: int = 200,
        backlog: Callable[[], bool] = lambda: False,
    ) -> None:
        self.service = service
        self.may_operate = may_operate  # else only subscribe and unsubscribe (a viewer)
        self.send = send
        self.relay = EventRelay(maxsize)
        self.metrics_every = metrics_every
        self.events_per_second = events_per_second
        self.backlogged = backlog  # whether the transport holds all it should for the client
        self.subscriptions: dict[str, Subscription] = {}
        self.watches: dict[str, Watch] = {}
        self.views: dict[str, LiveView] = {}  # executions whose live view the client follows
        self.coalescer = Coalescer()
        self.closed = False
        self._starting = 0  # execution:start requests under way
        self._failures = 0  # sends failed in a row
        self._told_dropped = 0
        self._allowance = 0.0  # per-message events the rate allows now

    # -- the client's requests ----------------------------------------------------------------

    async def handle(self, frame: object) -> dict[str, Any]:
        """Serve one frame from the client; answer ``error`` if it cannot be served.

        Returns the acknowledgement: ``{"ok": True, ...}`` (``executionId`` for a start), or
        ``{"ok": False, "error": {"code", "message"}}``.
        """
        try:
            return {"ok": True, **await self._serve(frame)}
        except PermissionError as exc:
            code, message = "forbidden", str(exc)
        except (NotFound, ArachneError, ValueError, TypeError, TimeoutError) as exc:
            # (the codes the REST routes answer the same errors with)
            if isinstance(exc, NotFound):
                code = "not_found"
            elif isinstance(exc, PayloadTooLarge):
                code = "payload_too_large"
            elif isinstance(exc, TimeoutError):
                code = "queue_full"
            else:
                code = "invalid_request"
            message = str(exc)
        await self._error(code, message)
        return {"ok": False, "error": {"code": code, "message": message}}

    async def _serve(self, frame: object) -> dict[str, Any]:
        if not isinstance(frame, dict) or not isinstance(frame.get("event"), str):
            raise ValueError('a frame is a JSON object {"event": NAME, "data": {...}}')
        name, data = frame["event"], frame.get("data", {})
        if name not in CLIENT_EVENTS:
            shown = name if len(name) <= ID_CHARS else name[:ID_CHARS] + "..."
            raise ValueError(f"unknown event {shown!r}; send one of: {', '.join(CLIENT_EVENTS)}")
        if not isinstance(data, dict):
            raise ValueError(f"{name}: data must be a JSON object")
        if not self.may_operate and name not in ("execution:subscribe", "execution:unsubscribe"):
            raise PermissionError(f"{name} needs the operator role; the caller is a viewer")
        if name == "execution:start":
            graph_id = _text(data, "graphId", name)
            self._room(name)
            self._starting += 1  # (a slot held while it starts: others wait their turn)
            try:
                ex = await asyncio.to_thread(self.service.execute, graph_id)
            finally:
                self._starting -= 1
            self._subscribe(ex)  # (not if the client left meanwhile)
            return {"executionId": ex.id}
        execution_id = _text(data, "executionId", name)
        if name == "execution:unsubscribe":  # (also of one the service has forgotten)
            self._release(execution_id)
            return {"executionId": execution_id}
        ex = self.service.execution(execution_id)
        if name == "execution:subscribe":
            view = data.get("view", False)
            if not isinstance(view, bool):
                raise ValueError(f"{name}: data.view must be true or false")
            if ex.id not in self.subscriptions:
                self._room(name)
            self._subscribe(ex)
            if view and ex.id in self.subscriptions and ex.id not in self.views:
                self.views[ex.id] = LiveView()
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
            await asyncio.to_thread(self.service.inject, ex, node, port, data["value"])
        return {"executionId": ex.id}

    def _room(self, name: str) -> None:
        if len(self.subscriptions) + self._starting >= MAX_SUBSCRIPTIONS:
            raise ValueError(
                f"{name}: this client follows {MAX_SUBSCRIPTIONS} executions already, the "
                "most one may; unsubscribe from one first"
            )

    def _subscribe(self, ex: Execution) -> None:
        if self.closed or ex.id in self.subscriptions:
            return
        self.subscriptions[ex.id] = ex.subscribe(self.relay, ExecutionStateChanged)
        self.coalescer.follow(ex.id)
        self.watches[ex.id] = ex.watch(partial(self.coalescer.taken, ex.id))
        # What happened before the subscription: the state it is in now, once.
        state = ex.state.value
        if state in ("running", "paused", "completed", "failed", "cancelled"):
            self.relay(
                ExecutionStateChanged(
                    execution_id=ex.id,
                    old="initializing" if state == "running" else "running",
                    new=state,
                    error=None if ex.error is None else f"{type(ex.error).__name__}: {ex.error}",
                )
            )

    # -- what the client is sent --------------------------------------------------------------

    async def pump(self) -> None:
        """Send the client its events until the stream closes.

        State changes go as they come, per-message events every :data:`FLUSH_EVERY` seconds
        within the rate, each running execution's metrics every ``metrics_every`` and live
        views every :data:`VIEW_EVERY`.
        """
        loop = asyncio.get_running_loop()
        next_metrics = loop.time() + self.metrics_every
        next_flush = loop.time() + FLUSH_EVERY
        next_view = loop.time() + VIEW_EVERY
        while True:
            if self.backlogged():  # the transport holds enough for the client: events wait
                await asyncio.sleep(FLUSH_EVERY)  # (bounded: the relay drops past its size)
                continue
            wait = max(0.0, min(next_metrics, next_flush, next_view) - loop.time())
            try:
                event = await asyncio.wait_for(self.relay.get_async(), wait)
            except TimeoutError:
                event = None
            except RelayClosed:
                return
            now = loop.time()
            flush, metrics, views = now >= next_flush, now >= next_metrics, now >= next_view
            if flush:
                self._allowance = min(
                    self.events_per_second,
                    self._allowance + self.events_per_second * (now - next_flush + FLUSH_EVERY),
                )
                next_flush = now + FLUSH_EVERY
            if metrics:
                next_metrics = now + self.metrics_every
            if views:
                next_view = now + VIEW_EVERY
            try:
                if event is not None:
                    await self._send_event(event)
                if flush:
                    await self._flush()
                await self._tell_dropped()
                if metrics:
                    await self._send_metrics()
                if views:
                    await self._send_views()
            except Exception:  # (one event that cannot be sent must not end the stream)
                if self.closed:
                    return
                self._failures += 1
                if self._failures == 1:
                    log.exception("an event for a client could not be sent; the stream goes on")
                if self._failures >= GIVE_UP:
                    log.warning("events for a client failed %d times in a row; stopped", GIVE_UP)
                    return
            else:
                self._failures = 0

    async def _flush(self, execution_id: str | None = None) -> None:
        """Send the per-message events waiting, as many as the rate allows.

        Given an execution that ended, all of that execution's, so they precede its end.
        """
        if not self.coalescer.waiting():
            return
        if execution_id is None:
            limit = int(self._allowance)
            if limit <= 0:
                return
        else:
            limit = self.coalescer.waiting()
        # (values are encoded in take: off this loop, which serves every client)
        events = await asyncio.to_thread(self.coalescer.take, limit, execution_id)
        self._allowance = max(0.0, self._allowance - len(events))
        for name, data in events:
            if data["executionId"] in self.watches:  # (not one that came as it unsubscribed)
                await self.send({"event": name, "data": data})

    async def _send_event(self, event: Event) -> None:
        if not isinstance(event, ExecutionStateChanged):
            return
        execution_id, new = event.execution_id, event.new
        if new in ("completed", "failed", "cancelled"):
            try:
                await self._flush(execution_id)  # its last messages before its end
                await self._send_view(execution_id)  # and its counters as they ended
                await self._send_end(event)
            finally:
                self._release(execution_id)  # (nothing more will come; let it go)
            return
        if new == "running" and event.old == "initializing":
            graph_id = self.service.graph_of(execution_id)
            await self._out(
                "execution:started", executionId=execution_id, graphId=graph_id, state=new
            )
        elif new == "running" and event.old == "paused":
            await self._out("execution:resumed", executionId=execution_id, state=new)
        elif new == "paused":
            await self._out("execution:paused", executionId=execution_id, state=new)

    async def _send_end(self, event: ExecutionStateChanged) -> None:
        execution_id, new = event.execution_id, event.new
        if new == "completed":
            try:
                metrics = await self._metrics_of(execution_id)
            except NotFound:  # (forgotten already: its metrics went with it)
                metrics = {}
            await self._out("execution:completed", executionId=execution_id, metrics=metrics)
        elif new == "failed":
            await self._out(
                "execution:failed",
                executionId=execution_id,
                error={"message": event.error or "failed"},
            )
        else:
            await self._out("execution:cancelled", executionId=execution_id, state=new)

    async def _send_metrics(self) -> None:
        lost = self.relay.stats().dropped > 0  # (an execution's end may have been dropped)
        for execution_id in list(self.subscriptions):
            try:
                ex = self.service.execution(execution_id)
            except NotFound:
                self._release(execution_id)  # forgotten: nothing more will come
                continue
            if lost and ex.done:
                self._release(execution_id)  # its end was told as dropped, if at all
                continue
            if ex.state.value in ("running", "paused"):
                try:
                    metrics = await self._metrics_of(execution_id)
                except NotFound:
                    continue
                await self._out("metrics:update", executionId=execution_id, metrics=metrics)

    async def _send_views(self) -> None:
        for execution_id in list(self.views):
            await self._send_view(execution_id)

    async def _send_view(self, execution_id: str) -> None:
        view = self.views.get(execution_id)
        if view is None:
            return
        try:
            ex = self.service.execution(execution_id)
        except NotFound:
            return
        stats = await asyncio.to_thread(ex.stats)  # a read on the execution's loop
        if execution_id in self.views:  # (not one released meanwhile)
            frame = view.frame(stats, now=asyncio.get_running_loop().time())
            await self.send({"event": "view:update", "data": frame})

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

    def _release(self, execution_id: str) -> None:
        """Stop following ``execution_id``: its events, its messages, what waits of them."""
        subscription = self.subscriptions.pop(execution_id, None)
        if subscription is not None:
            with contextlib.suppress(Exception):
                subscription.unsubscribe()
        self.views.pop(execution_id, None)
        watch = self.watches.pop(execution_id, None)
        if watch is not None:
            watch.close()  # (fusion comes back once nobody watches)
        self.coalescer.forget(execution_id)

    def close(self) -> None:
        """Drop every subscription and close the relay; nothing is subscribed after this."""
        self.closed = True
        for execution_id in list(self.subscriptions):
            self._release(execution_id)
        self.relay.close()


def _text(data: dict[str, Any], key: str, event: str) -> str:
    if key not in data:
        given = ", ".join(sorted(map(str, data))[:8]) or "none"
        raise ValueError(f"{event}: data.{key} is missing (given: {given}); add it")
    value = data[key]
    if not isinstance(value, str) or not value or len(value) > ID_CHARS:
        raise ValueError(f"{event}: data.{key} must be a string of 1 to {ID_CHARS} characters")
    return value
