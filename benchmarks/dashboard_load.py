"""The dashboard under load: a click's response and the browser's memory, 1,000 events a second.

``uv run python -m benchmarks.dashboard_load [--seconds S] [--quick]``

`arachne serve` runs in a process of its own (``--max-events-per-second 1200``) with a chain
of 50 passthrough nodes; a client injects 1,000 values a second over the event socket, so the
execution moves 50,000 messages a second and the service sends the page what its rate allows:
per-message events folded by edge (``port:emit``, ``component:invoked``) plus four live-view
frames a second. Debian's Chromium (``.ci/browser``) shows the execution's page, at 1280x800.

Measured in the page, as a user feels it:

- **click**: for a click on a node's row, the time from the input event (``event.timeStamp``)
  to the first frame painted after its handlers ran: the wait for a busy main thread plus the
  work. Ten clicks idle (the baseline, same page, before the load) and ten every few seconds
  under load; the figures are the medians and the worst, and the ratio of the medians.
- **memory**: the JavaScript heap after a forced garbage collection, ten seconds into the load
  and after each loaded click to its end (``--seconds``, 60 by default), with the trend of a
  line fitted to those samples; the elements in the page at ten seconds and at the end.
- **events**: the frames the page received a second from the socket.

The goals (issue 15): at least 1,000 events a second received; every click under load
painted within 200 ms; the heap's trend under
1 MiB a minute (a leak of 30 bytes an event would show as 1.7), and the DOM no larger (the
event log keeps its last 200 lines). The run exits 1 if one is missed. ``--quick`` loads for 15 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import threading
import time
from typing import Any

from playwright.sync_api import Page, sync_playwright
from websockets.sync.client import connect

from tests.dashboard.conftest import CHROMIUM_FLAGS, Server, chromium

GOAL_CLICK = 0.200
"""Seconds within which a click under load must be painted."""

GOAL_EVENTS = 1000
"""Events a second the page must receive: the issue's load."""

EVENTS_CAP = 1200
"""The service's MAX_EVENTS_PER_SECOND here: above the goal, so a healthy run clears it."""

GOAL_TREND = 1 << 20
"""Bytes a minute the heap's trend (a line fitted to its samples after a collection) may rise."""

CHAIN = 50
RATE = 1000  # values injected a second

MEASURE = """
(selector) => {
  window.__clicked = null;
  document.querySelector(selector).addEventListener("click", (event) => {
    const ran = performance.now();
    requestAnimationFrame(() => setTimeout(() => {
      const painted = performance.now() - event.timeStamp;
      window.__clicked = { wait: ran - event.timeStamp, painted };
    }, 0));
  }, { once: true, capture: true });
}
"""


def graph() -> dict[str, Any]:
    """input -> p1 -> ... -> p50: every value crosses 50 edges."""
    nodes = [{"id": "input", "component": "arachne.core.passthrough"}]
    edges = []
    previous = "input"
    for index in range(1, CHAIN + 1):
        nodes.append({"id": f"p{index}", "component": "arachne.core.passthrough"})
        edges.append({"id": f"e{index}", "source": f"{previous}:out", "target": f"p{index}:in"})
        previous = f"p{index}"
    return {"arachne": "1.0", "name": f"chain of {CHAIN}", "nodes": nodes, "edges": edges}


class Feeder(threading.Thread):
    """Injects ``RATE`` values a second over the event socket until stopped."""

    def __init__(self, url: str, execution_id: str) -> None:
        super().__init__(daemon=True)
        self.url = url.replace("http://", "ws://") + "/ws"
        self.execution_id = execution_id
        self.sent = 0
        self.halt = threading.Event()

    def run(self) -> None:
        with connect(self.url, max_size=None) as socket:
            started = time.monotonic()
            while not self.halt.is_set():
                due = int((time.monotonic() - started) * RATE)
                while self.sent < due:
                    data = {
                        "executionId": self.execution_id,
                        "nodeId": "input",
                        "port": "in",
                        "value": self.sent,
                    }
                    socket.send(json.dumps({"event": "execution:inject", "data": data}))
                    self.sent += 1
                time.sleep(0.005)
                try:  # read what the service answers, so its socket never backs up
                    while True:
                        socket.recv(timeout=0)
                except TimeoutError:
                    pass

    def stop(self) -> None:
        self.halt.set()
        self.join(10)


def click(page: Page, node: str) -> dict[str, float]:
    """Click node ``node``'s row and return the page's timing of it, in seconds."""
    selector = f"#nodes tr[data-node='{node}'] .rowbutton"
    page.evaluate(MEASURE, selector)
    page.click(selector)
    timing: dict[str, float] = page.wait_for_function("() => window.__clicked").json_value()
    page.wait_for_function(
        "(name) => document.getElementById('node-name').textContent === `Node ${name}`", arg=node
    )
    return {key: value / 1000 for key, value in timing.items()}


def received(page: Page) -> int:
    """Return the messages the page's event socket has received so far (counted in the page)."""
    count: int = page.evaluate("() => window.arachneDashboard.received")
    return count


def memory(page: Page) -> tuple[int, int]:
    """Return the page's JavaScript heap after a full collection, and its element count.

    (Elements in the document: the renderer's own count of DOM nodes also holds nodes that
    have left the document and wait for a collection, and swings by a tenth from one sample to
    the next.)
    """
    session = page.context.new_cdp_session(page)
    try:
        session.send("HeapProfiler.collectGarbage")
        heap = session.send("Runtime.getHeapUsage")
    finally:
        session.detach()
    elements = page.evaluate("() => document.getElementsByTagName('*').length")
    return int(heap["usedSize"]), int(elements)


def measure(seconds: float) -> dict[str, Any]:
    server = Server("--max-events-per-second", str(EVENTS_CAP))
    try:
        execution_id = server.load(graph())
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium(), args=CHROMIUM_FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{server.url}/#/executions/{execution_id}")
            page.wait_for_selector(f"#nodes tr[data-node='p{CHAIN}']")
            page.wait_for_function("() => window.arachneDashboard.cy !== null")
            idle = [click(page, f"p{1 + i % CHAIN}") for i in range(10)]

            feeder = Feeder(server.url, execution_id)
            feeder.start()
            started = time.monotonic()
            time.sleep(10)
            early = memory(page)
            counted, counted_at = received(page), time.monotonic()
            loaded = []
            heaps = [(10.0, early[0])]
            while time.monotonic() - started < seconds:
                loaded.append(click(page, f"p{1 + len(loaded) * 7 % CHAIN}"))
                heaps.append((time.monotonic() - started, memory(page)[0]))
                time.sleep(max(0.0, min(3.0, seconds - (time.monotonic() - started))))
            events_per_second = (received(page) - counted) / (time.monotonic() - counted_at)
            late = memory(page)
            feeder.stop()
            view = server.api.get(f"/api/executions/{execution_id}/view").json()
            browser.close()
    finally:
        server.stop()
    return {
        "idle": idle,
        "loaded": loaded,
        "early": early,
        "heaps": heaps,
        "late": late,
        "events_per_second": events_per_second,
        "injected": feeder.sent,
        "through": view["nodes"][f"p{CHAIN}"]["received"],
        "seconds": seconds,
    }


def report(result: dict[str, Any]) -> bool:
    idle = [t["painted"] for t in result["idle"]]
    loaded = [t["painted"] for t in result["loaded"]]
    waits = [t["wait"] for t in result["loaded"]]
    (heap_early, nodes_early), (heap_late, nodes_late) = result["early"], result["late"]
    ratio = statistics.median(loaded) / statistics.median(idle)
    print(
        f"load: {result['injected']:,} values injected in {result['seconds']:.0f} s, "
        f"{result['through']:,} through all {CHAIN} edges"
    )
    print(f"events received by the page: {result['events_per_second']:,.0f} a second")
    print(
        f"click to paint, idle:   median {statistics.median(idle) * 1000:6.1f} ms, "
        f"worst {max(idle) * 1000:6.1f} ms ({len(idle)} clicks)"
    )
    print(
        f"click to paint, loaded: median {statistics.median(loaded) * 1000:6.1f} ms, "
        f"worst {max(loaded) * 1000:6.1f} ms ({len(loaded)} clicks); "
        f"worst wait for the main thread {max(waits) * 1000:.1f} ms"
    )
    print(f"ratio of the medians (loaded / idle): {ratio:.2f}")
    print(
        f"heap after GC: {heap_early / 2**20:.2f} MiB at 10 s, {heap_late / 2**20:.2f} MiB "
        f"at {result['seconds']:.0f} s ({(heap_late - heap_early) / 2**20:+.2f} MiB)"
    )
    series = ", ".join(f"{at:.0f} s {heap / 2**20:.2f}" for at, heap in result["heaps"])
    print(f"heap after GC along the load (MiB): {series}")
    print(f"elements in the page: {nodes_early:,} at 10 s, {nodes_late:,} at the end")
    ok = True
    if max(loaded) > GOAL_CLICK:
        print(f"MISSED: a click under load took {max(loaded) * 1000:.0f} ms (goal 200 ms)")
        ok = False
    times, sizes = zip(*result["heaps"], strict=True)
    slope = statistics.linear_regression(times, sizes).slope  # bytes a second
    print(f"heap trend along the load: {slope * 60 / 2**20:+.2f} MiB a minute")
    if times[-1] - times[0] < 30:
        print("(the heap's trend is judged over 30 s of samples or more: not in a quick run)")
    elif slope * 60 > GOAL_TREND:
        print(f"MISSED: the heap grows under load ({slope * 60 / 2**20:+.2f} MiB a minute)")
        ok = False
    if nodes_late > nodes_early * 1.02 + 10:
        print("MISSED: the DOM grew under load")
        ok = False
    if result["events_per_second"] < GOAL_EVENTS:
        print(f"MISSED: the page was not under load (fewer than {GOAL_EVENTS} events a second)")
        ok = False
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--quick", action="store_true", help="load for 15 s")
    args = parser.parse_args()
    result = measure(15.0 if args.quick else max(15.0, args.seconds))
    return 0 if report(result) else 1


if __name__ == "__main__":
    sys.exit(main())
