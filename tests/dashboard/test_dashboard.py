"""The dashboard in a real Chromium against a real ``arachne serve``, as a user drives it.

Covers the issue's walk: load the Quick Reference graph, execute, inject 21 and read 42 in the
event log, watch the edge counters move, pause and resume; a full edge resized live and its
producer unblocked; a stalled node highlighted as the backpressure cause; a viewer's controls
disabled; problems of a document shown at their JSON path. The screenshots in docs/images are
taken here (``ARACHNE_SCREENSHOTS=docs`` saves them there; otherwise in a temporary folder).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from playwright.sync_api import Page, expect

from arachne.components import Registry
from arachne.runtime import Runtime
from arachne.server.run_dashboard import RunDashboard
from arachne.spec import build, parse_document, read_document, register_document
from tests.dashboard.conftest import ROOT, Server
from tests.server.test_dead_letters import GRAPH as LETTERS

QUICK = (ROOT / "examples" / "documents" / "quick_reference.json").read_text()

STALLED: dict[str, Any] = yaml.safe_load(
    (ROOT / "examples" / "dashboard" / "backpressure.yaml").read_text()
)

KEYS = {
    "admin-key-0123456789": "admin",
    "operator-key-0123456789": "operator",
    "viewer-key-0123456789": "viewer",
}


def row(page: Page, kind: str, element_id: str) -> Any:
    return page.locator(f"#{kind}s tr[data-{kind}='{element_id}']")


def cell(page: Page, kind: str, element_id: str, column: int) -> Any:
    return row(page, kind, element_id).locator("td").nth(column)


def graph_class(page: Page, element_id: str, name: str) -> bool:
    found: bool = page.evaluate(
        "([id, name]) => { const cy = window.arachneDashboard.cy;"
        " return !!cy && cy.getElementById(id).hasClass(name); }",
        [element_id, name],
    )
    return found


def test_the_quick_reference_walk(server: Server, page: Page, shots: Path) -> None:
    page.goto(f"{server.url}/#/load")
    page.get_by_label("Graph document").fill(QUICK)
    page.get_by_role("button", name="Validate").click()
    expect(page.locator("#load-result")).to_have_text("Valid: it would load.")
    page.get_by_role("button", name="Load and execute").click()
    page.wait_for_url(re.compile(r".*#/executions/exec-.*"))
    expect(page.locator("#execution-state")).to_have_text("running")
    expect(row(page, "edge", "e2")).to_be_visible()
    expect(cell(page, "edge", "e2", 4)).to_have_text("0")

    page.get_by_label("Input port").select_option("input:in")
    page.get_by_label("Value (JSON)").fill("21")
    page.get_by_role("button", name="Inject").click()
    log = page.locator("#log")
    expect(log).to_contain_text("e2 double:out → output:in value 42")
    expect(log).to_contain_text("e1 input:out → double:in value 21")
    expect(cell(page, "edge", "e1", 4)).to_have_text("1")  # passed: the counters moved
    expect(cell(page, "edge", "e2", 4)).to_have_text("1")
    expect(cell(page, "node", "double", 7)).to_have_text("0")  # no errors

    page.get_by_role("button", name="Pause").click()
    expect(page.locator("#execution-state")).to_have_text("paused")
    expect(page.get_by_role("button", name="Pause")).to_be_disabled()
    page.get_by_role("button", name="Resume").click()
    expect(page.locator("#execution-state")).to_have_text("running")
    page.get_by_label("Value (JSON)").fill("50")
    page.get_by_role("button", name="Inject").click()
    expect(log).to_contain_text("value 100")
    expect(cell(page, "edge", "e2", 4)).to_have_text("2")

    page.screenshot(path=str(shots / "dashboard-execution.png"), full_page=True)
    assert (shots / "dashboard-execution.png").stat().st_size > 10_000

    # A value the port cannot take is refused in the page, with the reason.
    page.get_by_label("Value (JSON)").fill("{not json")
    page.get_by_role("button", name="Inject").click()
    expect(page.locator("#inject-error")).to_contain_text("not JSON")

    page.get_by_role("link", name="Executions").click()
    listed = page.locator("#executions tbody tr").first
    expect(listed).to_contain_text("Simple Pipeline")
    expect(listed).to_contain_text("running")
    # The lists refresh every two seconds in place: keyboard focus stays where it was.
    execute = page.get_by_role("button", name="Execute Simple Pipeline").first
    execute.focus()
    seen = page.evaluate("() => window.arachneDashboard.refreshes")
    page.wait_for_function(f"() => window.arachneDashboard.refreshes >= {seen + 2}")
    expect(execute).to_be_focused()


def test_a_stalled_node_is_the_cause_and_resizing_its_edge_frees_the_producer(
    server: Server, page: Page, shots: Path
) -> None:
    execution_id = server.load(STALLED)
    page.goto(f"{server.url}/#/executions/{execution_id}")
    expect(row(page, "edge", "feed")).to_be_visible()
    for value in range(5):  # 1 waits in slow, 2 fill feed, 1 holds input back, 1 queues
        server.api.post(
            f"/api/executions/{execution_id}/inject",
            json={"nodeId": "input", "port": "in", "value": value},
        ).raise_for_status()

    expect(row(page, "edge", "feed")).to_have_class(re.compile(r"\bblocked\b"))
    expect(cell(page, "edge", "feed", 7)).to_have_text("blocked by slow")
    expect(cell(page, "edge", "feed", 2)).to_contain_text("2 / 2")
    expect(row(page, "node", "slow")).to_have_class(re.compile(r"\bcause\b"))
    expect(cell(page, "node", "slow", 8)).to_have_text("backpressure cause")
    page.wait_for_function(
        "() => window.arachneDashboard.cy.getElementById('slow').hasClass('cause')"
    )
    assert graph_class(page, "feed", "blocked")
    assert not graph_class(page, "input", "cause")
    assert not row(page, "node", "input").evaluate("r => r.classList.contains('cause')")
    page.locator("#graph-wrap").screenshot(path=str(shots / "dashboard-graph.png"))
    assert (shots / "dashboard-graph.png").stat().st_size > 5_000

    # Resize the full edge from the page: preview the change, then commit it.
    row(page, "edge", "feed").get_by_role("button", name="feed").click()
    expect(page.locator("#edge-name")).to_have_text("Edge feed")
    page.get_by_label("Capacity").fill("100")
    page.get_by_role("button", name="Preview change").first.click()
    expect(page.locator("#preview-text")).to_have_text("~ link feed capacity 2 -> 100")
    assert (
        server.api.get(f"/api/executions/{execution_id}/graph").json()["running"]["edges"][0][
            "capacity"
        ]
        == 2
    ), "a preview changes nothing"
    page.get_by_role("button", name="Commit").click()
    expect(page.locator("#log")).to_contain_text("committed: ~ link feed capacity 2 -> 100")
    expect(page.get_by_label("Capacity")).to_have_value("100")  # the editor shows what runs

    # The producer is free: everything it held went into the edge, nothing is blocked.
    expect(cell(page, "edge", "feed", 2)).to_contain_text("4 / 100")
    expect(row(page, "edge", "feed")).not_to_have_class(re.compile(r"\bblocked\b"))
    expect(row(page, "node", "slow")).not_to_have_class(re.compile(r"\bcause\b"))
    page.wait_for_function(
        "() => !window.arachneDashboard.cy.getElementById('slow').hasClass('cause')"
    )
    assert page.evaluate("() => window.arachneDashboard.layouts") == 1, "a resize re-laid out"
    view = server.api.get(f"/api/executions/{execution_id}/view").json()
    assert view["nodes"]["input"]["emitted"] == 5
    assert view["causes"] == []


def test_a_node_config_is_previewed_then_hot_reloaded(server: Server, page: Page) -> None:
    execution_id = server.load(json.loads(QUICK))
    page.goto(f"{server.url}/#/executions/{execution_id}")
    row(page, "node", "double").get_by_role("button", name="double").click()
    config = page.get_by_label("Config (JSON)")
    expect(config).to_have_value(re.compile(r'"expression": "value \* 2"'))
    config.fill('{"expression": "value * 10"}')
    page.locator("#node-form").get_by_role("button", name="Preview change").click()
    expect(page.locator("#preview-text")).to_have_text(
        "~ node double config expression: 'value * 2' -> 'value * 10'"
    )
    page.get_by_role("button", name="Commit").click()
    expect(page.locator("#log")).to_contain_text("committed: ~ node double config")
    page.get_by_label("Value (JSON)").fill("4")
    page.get_by_role("button", name="Inject").click()
    expect(page.locator("#log")).to_contain_text("double:out → output:in value 40")

    # A preview answers for what is on screen: edited after it, it goes.
    config.fill('{"expression": "value * 100"}')
    page.locator("#node-form").get_by_role("button", name="Preview change").click()
    expect(page.locator("#preview")).to_be_visible()
    config.fill('{"expression": "value * 1000"}')
    expect(page.locator("#preview")).to_be_hidden()

    # A config the component refuses is shown before anything changes, and so is one that
    # does not compile; a failed preview leaves nothing to commit, even with no edit between
    # (the text set as a script would, without the edit that hides a preview).
    for wrong, said in (
        ('{"expresion": "value"}', "expresion"),
        ('{"expression": "value *"}', "JavaScript"),
    ):
        page.locator("#node-form").get_by_role("button", name="Preview change").click()
        expect(page.locator("#preview")).to_be_visible()
        page.evaluate("(text) => { document.getElementById('node-config').value = text; }", wrong)
        expect(page.locator("#preview")).to_be_visible()
        page.locator("#node-form").get_by_role("button", name="Preview change").click()
        expect(page.locator("#change-error")).to_contain_text(said)
        expect(page.locator("#preview")).to_be_hidden()
        config.fill('{"expression": "value * 1000"}')


def test_a_selected_node_shows_where_its_outputs_came_from(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/#/load")
    page.get_by_label("Graph document").fill(QUICK)
    page.locator("#load-lineage").check()
    page.get_by_role("button", name="Load and execute").click()
    page.wait_for_url(re.compile(r".*#/executions/exec-.*"))
    for value in ("21", "50"):
        page.get_by_label("Value (JSON)").fill(value)
        page.get_by_role("button", name="Inject").click()
    expect(page.locator("#log")).to_contain_text("value 100")
    row(page, "node", "output").get_by_role("button", name="output").click()
    items = page.locator("#lineage-list li")
    expect(items).to_have_text(
        [
            "inject 50 at input → input → double → output",
            "inject 21 at input → input → double → output",
        ]
    )

    # An execution started without it says how to turn it on.
    page.get_by_role("link", name="Executions").click()
    page.get_by_role("button", name="Execute Simple Pipeline").first.click()
    page.wait_for_url(re.compile(r".*#/executions/exec-.*"))
    row(page, "node", "double").get_by_role("button", name="double").click()
    expect(page.locator("#lineage-note")).to_contain_text("Lineage is off for this execution")
    expect(items).to_have_count(0)


def test_problems_are_shown_at_their_json_path(server: Server, page: Page) -> None:
    page.goto(f"{server.url}/#/load")
    broken = {
        "arachne": "1.0",
        "name": "broken",
        "nodes": [{"id": "a", "component": "arachne.core.passthrough"}, {"id": "b"}],
        "edges": [{"id": "e", "source": "a:out", "target": "nowhere:in"}],
    }
    page.get_by_label("Graph document").fill(json.dumps(broken, indent=2))
    page.get_by_role("button", name="Validate").click()
    problems = page.locator("#problems li")
    expect(problems).to_have_count(2)
    expect(problems.nth(0).locator("code")).to_have_text("nodes[1].component")
    expect(problems.nth(1).locator("code")).to_have_text("edges[0].target.node")
    expect(problems.nth(1)).to_contain_text("unknown node 'nowhere'")
    page.get_by_role("button", name="Load", exact=True).click()  # refused the same way
    expect(problems).to_have_count(2)

    # A file chosen is read into the page and checked at once.
    page.get_by_label("Or a file").set_input_files(
        str(ROOT / "examples" / "documents" / "large_orders.yaml")
    )
    expect(page.get_by_label("Graph document")).to_have_value(re.compile(r"Large orders", re.I))
    expect(page.locator("#load-result")).to_have_text("Valid: it would load.")
    expect(problems).to_have_count(0)

    # YAML loads as JSON does.
    page.get_by_label("Graph document").fill(
        "arachne: '1.0'\nname: from YAML\nnodes:\n  - id: only\n"
        "    component: arachne.core.passthrough\nedges: []\n"
    )
    page.get_by_role("button", name="Load", exact=True).click()
    expect(page.locator("#load-result")).to_contain_text("Loaded from YAML")


def test_a_viewer_sees_but_cannot_steer(page: Page) -> None:
    # (its own service: one with credentials)
    keys = ",".join(f"{key}={role}" for key, role in KEYS.items())
    secured = Server(env={"API_KEYS": keys})
    try:
        _viewer_walk(secured, page)
    finally:
        page.goto("about:blank")  # (the page goes first: a stopped server is no page error)
        secured.stop()


def _viewer_walk(secured: Server, page: Page) -> None:
    execution_id = secured.load(json.loads(QUICK), key="admin-key-0123456789")
    page.goto(f"{secured.url}/#/executions/{execution_id}")
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.locator("#login-error")).to_be_empty()  # (asked, not yet refused)
    page.get_by_label("API key or token").fill("not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-error")).to_contain_text("not known")

    page.get_by_label("API key or token").fill("viewer-key-0123456789")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text("viewer")
    expect(row(page, "edge", "e1")).to_be_visible()
    for name in ("Pause", "Resume", "Stop", "Inject"):
        expect(page.get_by_role("button", name=name)).to_be_disabled()
    expect(page.locator("#readonly")).to_contain_text("Read-only")
    expect(page.get_by_label("Value (JSON)")).to_be_disabled()
    row(page, "edge", "e1").get_by_role("button", name="e1").click()
    expect(page.get_by_role("button", name="Preview change").first).to_be_disabled()
    # What the viewer sees still moves.
    secured.api.post(
        f"/api/executions/{execution_id}/inject",
        json={"nodeId": "input", "port": "in", "value": 21},
        headers={"X-API-Key": "operator-key-0123456789"},
    ).raise_for_status()
    expect(page.locator("#log")).to_contain_text("value 42")
    # The service refuses a viewer whatever the page shows: the page is not the guard.
    refused = secured.api.post(
        f"/api/executions/{execution_id}/pause", headers={"X-API-Key": "viewer-key-0123456789"}
    )
    assert refused.status_code == 403

    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("API key or token").fill("operator-key-0123456789")
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#who")).to_contain_text("operator")
    expect(page.get_by_role("button", name="Inject")).to_be_enabled()
    expect(page.get_by_role("button", name="Pause")).to_be_enabled()


def test_the_page_works_in_a_narrow_window(server: Server, page: Page) -> None:
    execution_id = server.load(json.loads(QUICK))
    page.set_viewport_size({"width": 420, "height": 800})
    page.goto(f"{server.url}/#/executions/{execution_id}")
    expect(row(page, "edge", "e1")).to_be_visible()
    inject = page.get_by_role("button", name="Inject")
    inject.scroll_into_view_if_needed()
    expect(inject).to_be_visible()
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 420, f"the page is {width} px wide in a 420 px window"
    # A row chosen anywhere selects it and brings the editor into view.
    row(page, "edge", "e2").locator("td").nth(1).click()
    expect(page.locator("#edge-name")).to_have_text("Edge e2")
    expect(page.locator("#edge-name")).to_be_in_viewport()
    # Keyboard only: tab to the first node's button and choose it with Enter.
    page.locator("#nodes .rowbutton").first.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#node-name")).to_have_text("Node input")


def test_dead_letters_are_listed_and_replayed_after_a_fix(server: Server, page: Page) -> None:
    execution_id = server.load(LETTERS)
    page.goto(f"{server.url}/#/executions/{execution_id}")
    expect(page.get_by_role("heading", name="Dead letters")).to_be_visible()
    page.get_by_label("Value (JSON)").fill('{"a": {"b": 1}}')
    page.get_by_role("button", name="Inject").click()
    expect(page.locator("#log")).to_contain_text("calc:out → output:in value 1")
    page.get_by_label("Value (JSON)").fill("7")
    page.get_by_role("button", name="Inject").click()

    records = page.locator("#dead tbody tr")
    expect(records).to_have_count(1)
    expect(records.first).to_contain_text("calc:in")
    expect(records.first).to_contain_text("TypeError")
    expect(records.first.locator("td").nth(3)).to_have_text("7")
    expect(cell(page, "node", "calc", 7)).to_have_text("1")  # counted as an error, kept

    # Replayed unchanged, it fails again and comes back as a new record.
    page.get_by_role("button", name="Replay all").click()
    expect(page.locator("#log")).to_contain_text("replayed 1 dead letter")
    expect(records.first.locator("td").first).to_have_text("2")

    # Fixed live, the replay goes through and the list empties.
    row(page, "node", "calc").get_by_role("button", name="calc").click()
    page.get_by_label("Config (JSON)").fill(
        json.dumps({"expression": "typeof value === 'number' ? value * 10 : value.a.b"})
    )
    page.locator("#node-form").get_by_role("button", name="Preview change").click()
    page.get_by_role("button", name="Commit").click()
    expect(page.locator("#log")).to_contain_text("committed: ~ node calc config")
    page.get_by_role("button", name="Replay all").click()
    expect(page.locator("#log")).to_contain_text("calc:out → output:in value 70")
    expect(records).to_have_count(0)
    expect(page.locator("#dead-none")).to_be_visible()


def test_subgraphs_are_groups_and_frames_never_move_the_layout(page: Page) -> None:
    registry = Registry.default()
    register_document(
        registry,
        read_document(ROOT / "examples" / "documents" / "large_orders.yaml"),
        id="acme.composite.orders",
    )
    shop = parse_document(
        {
            "arachne": "1.0",
            "name": "shop",
            "nodes": [
                {"id": "feed", "component": "arachne.core.passthrough"},
                {"id": "orders", "component": "acme.composite.orders"},
            ],
            "edges": [{"source": "feed:out", "target": "orders:in"}],
        }
    )
    runtime = Runtime()
    runtime.register(build(shop, registry))
    board = RunDashboard(runtime, runtime.execution, shop, registry)
    try:
        runtime.start()
        page.goto(board.url)
        expect(row(page, "node", "orders/double")).to_be_visible()
        page.wait_for_function("() => window.arachneDashboard.cy !== null")
        parents = page.evaluate(
            "() => Object.fromEntries(window.arachneDashboard.cy.nodes().map("
            "(n) => [n.id(), n.parent().nonempty() ? n.parent().id() : null]))"
        )
        assert parents["orders/double"] == "group:orders"
        assert parents["feed"] is None
        assert parents["group:orders"] is None

        def positions() -> dict[str, Any]:
            found: dict[str, Any] = page.evaluate(
                "() => Object.fromEntries(window.arachneDashboard.cy.nodes()"
                ".map((n) => [n.id(), n.position()]))"
            )
            return found

        before = positions()
        painted = page.evaluate("() => window.arachneDashboard.frames")
        for value in range(20):
            runtime.execution.inject("feed", "in", {"amount": value * 100})
        page.wait_for_function(  # the frames tell of the flow: all 20 passed the first edge
            "() => [...document.querySelectorAll('#edges tbody tr')]"
            ".some((row) => Number(row.cells[4].textContent) >= 20)"
        )
        page.wait_for_function(f"() => window.arachneDashboard.frames >= {painted + 4}")
        assert positions() == before, "a live frame moved the layout"
        assert page.evaluate("() => window.arachneDashboard.layouts") == 1

        page.get_by_role("button", name="Stop").click()
        expect(page.locator("#execution-state")).to_have_text("completed")
        for name in ("Pause", "Resume", "Stop", "Inject"):
            expect(page.get_by_role("button", name=name)).to_be_disabled()
    finally:
        page.goto("about:blank")  # (the page goes first: a stopped server is no page error)
        board.close()
        runtime.shutdown(timeout=5)


def test_a_long_graph_is_shown_at_a_readable_size(server: Server, page: Page) -> None:
    nodes = [{"id": f"n{i}", "component": "arachne.core.passthrough"} for i in range(35)]
    edges = [{"source": f"n{i}:out", "target": f"n{i + 1}:in"} for i in range(34)]
    execution_id = server.load({"arachne": "1.0", "name": "long", "nodes": nodes, "edges": edges})
    page.goto(f"{server.url}/#/executions/{execution_id}")
    page.wait_for_function("() => window.arachneDashboard.cy !== null")
    zoom = page.evaluate("() => window.arachneDashboard.cy.zoom()")
    assert zoom >= 0.6, f"35 nodes in a row drawn at zoom {zoom}: too small to read"
    first = page.evaluate(
        "() => window.arachneDashboard.cy.getElementById('n0').renderedPosition()"
    )
    assert 0 < first["x"] < 300, "the graph's start is in view"
    page.get_by_role("button", name="Fit").click()
    fitted = page.evaluate("() => window.arachneDashboard.cy.zoom()")
    assert fitted < zoom, "Fit shows the whole graph, smaller"
    page.get_by_role("button", name="Zoom in").click()
    assert page.evaluate("() => window.arachneDashboard.cy.zoom()") > fitted
