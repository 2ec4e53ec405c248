"""Kill switch: a control message stops a flooded pipeline at once.

Run it with ``uv run python -m examples.kill_switch.main``. A market-data feed floods a risk
check whose orders go to a slow exchange gateway; every data edge fills up and stays full. An
operator console sends ``KILL`` on a control edge. Control edges outrank all data, and a node
blocked on full outputs still takes control messages, so the risk check sees the kill at its
very next turn and cancels the execution; the messages still queued are dropped and counted.
"""

from __future__ import annotations

import time
from typing import Any

from arachne import Input, Node, Output, Runtime, Subgraph
from arachne.observability import format_stats

KILL_AFTER = 0.3  # seconds of flooding before the operator pulls the switch


class MarketData(Node):
    """Emits price ticks as fast as the pipeline takes them."""

    out = Output(float)

    def __init__(self) -> None:
        self.sent = 0

    def on_tick(self) -> None:
        self.sent += 1
        self.emit("out", 100.0 + (self.sent % 50) / 10)


class Operator(Node):
    """A console that sends one KILL command after ``delay`` seconds."""

    cadence = 0.05
    out = Output(str)

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.started = 0.0
        self.sent_at = 0.0

    def on_start(self) -> None:
        self.started = time.perf_counter()

    def on_tick(self) -> None:
        if not self.sent_at and time.perf_counter() - self.started >= self.delay:
            self.sent_at = time.perf_counter()
            self.emit("out", "KILL")


class RiskCheck(Node):
    """Turns prices into orders; a KILL on the control port stops everything."""

    def __init__(self) -> None:
        self.orders = 0
        self.killed_at = 0.0

    def inputs(self) -> dict[str, Any]:
        return {"prices": float, "control": str}

    def outputs(self) -> dict[str, Any]:
        return {"orders": dict}

    def on_message(self, port: str, msg: Any) -> None:
        if port == "control" and msg.payload == "KILL":
            self.killed_at = time.perf_counter()
            self.request_stop(drain=False)
            return
        self.orders += 1
        self.emit("orders", {"side": "buy", "price": msg.payload})


class Exchange(Node):
    """A slow gateway: 1 ms per order, in a worker thread."""

    mode = "thread"
    inp = Input(dict, name="in")

    def __init__(self) -> None:
        self.filled = 0

    def on_message(self, port: str, msg: Any) -> None:
        time.sleep(0.001)
        self.filled += 1


def main() -> None:
    """Flood the pipeline, pull the switch, show what stopped and how fast."""
    feed, operator, risk, exchange = MarketData(), Operator(KILL_AFTER), RiskCheck(), Exchange()
    graph = Subgraph()
    for unit in (feed, operator, risk, exchange):
        graph.add_node(unit)
    graph.connect(("market_data", "out"), ("risk_check", "prices"), capacity=32)
    graph.connect(("risk_check", "orders"), ("exchange", "in"), capacity=32)
    graph.connect(("operator", "out"), ("risk_check", "control"), capacity=1, control=True)
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    stats = runtime.stats()
    reaction_ms = (risk.killed_at - operator.sent_at) * 1000
    print(f"execution {stats.state}: kill switch handled {reaction_ms:.2f} ms after it was sent")
    print(
        f"feed sent {feed.sent} ticks, risk check made {risk.orders} orders, "
        f"{exchange.filled} filled"
    )
    dropped = sum(edge.dropped for edge in stats.edges.values())
    print(f"{dropped} queued messages dropped by the kill (counted, not lost silently)\n")
    print(format_stats(stats))


if __name__ == "__main__":
    main()
