"""Dead letters through the service's API: listed, replayed after a live fix, refusals kept.

A real server on loopback, as in test_api.py. The graph: ``calc`` (a map whose expression
throws on numbers) dead-letters into ``dead``, an ``arachne.core.dead-letters`` node.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from arachne.server import ServerSettings
from tests.server.test_api import Served, eventually

GRAPH: dict[str, Any] = {
    "arachne": "1.0",
    "name": "letters",
    "version": "1.0.0",
    "nodes": [
        {"id": "input", "component": "arachne.core.passthrough"},
        {
            "id": "calc",
            "component": "arachne.core.map",
            "config": {"expression": "value.a.b"},
            "errors": "dead_letter",
        },
        {"id": "output", "component": "arachne.core.logger"},
        {"id": "dead", "component": "symbia.core.dead-letters"},
    ],
    "edges": [
        {
            "id": "e1",
            "source": {"node": "input", "port": "out"},
            "target": {"node": "calc", "port": "in"},
        },
        {
            "id": "e2",
            "source": {"node": "calc", "port": "out"},
            "target": {"node": "output", "port": "in"},
        },
        {
            "id": "e3",
            "source": {"node": "calc", "port": "error"},
            "target": {"node": "dead", "port": "in"},
        },
    ],
}

FIXED = "typeof value === 'number' ? value * 10 : value.a.b"


def serve(settings: ServerSettings) -> Iterator[httpx.Client]:
    served = Served(settings)
    try:
        yield served.client
    finally:
        served.stop()


@pytest.fixture
def api() -> Iterator[httpx.Client]:
    yield from serve(ServerSettings())


@pytest.fixture
def small_queue() -> Iterator[httpx.Client]:
    """A service whose inputs queue one injected value each."""
    yield from serve(ServerSettings(max_backpressure_queue=1))


KEYS = {
    "viewer": "viewer-key-0123456789",
    "operator": "operator-key-0123456789",
    "admin": "admin-key-0123456789abc",
}


@pytest.fixture
def keyed() -> Iterator[httpx.Client]:
    """A service that lets in the callers of ``KEYS``, each with its role."""
    keys = ",".join(f"{key}={role}" for role, key in KEYS.items())
    yield from serve(ServerSettings(api_keys=SecretStr(keys)))


def started(
    api: httpx.Client, graph: dict[str, Any] = GRAPH, headers: dict[str, str] | None = None
) -> str:
    loaded = api.post("/api/graphs", json=graph, headers=headers)
    assert loaded.status_code == 201, loaded.text
    ex = api.post(f"/api/graphs/{loaded.json()['id']}/execute", headers=headers)
    base = f"/api/executions/{ex.json()['executionId']}"
    eventually(lambda: api.get(base, headers=headers).json()["state"] == "running")
    return base


def feed(api: httpx.Client, base: str, *values: Any) -> None:
    for value in values:
        sent = api.post(f"{base}/inject", json={"nodeId": "input", "port": "in", "value": value})
        assert sent.status_code == 202, sent.text


def letters(api: httpx.Client, base: str, **params: Any) -> dict[str, Any]:
    answer = api.get(f"{base}/dead-letters", params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def kept(api: httpx.Client, base: str, n: int) -> dict[str, Any]:
    """Wait until the sink keeps ``n`` records; return the listing."""
    return eventually(lambda: (got := letters(api, base))["sinks"][0]["kept"] == n and got)


def logged(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "arachne.node.output"]


def test_failed_values_are_listed_then_replayed_after_a_live_fix(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    base = started(api)
    assert letters(api, base)["records"] == []
    feed(api, base, {"a": {"b": 1}}, 5, 7)
    listed = kept(api, base, 2)
    assert listed["executionId"] == base.rsplit("/", 1)[1]
    assert listed["sinks"] == [{"nodeId": "dead", "kept": 2, "overflowed": 0}]
    first, second = listed["records"]
    assert {k: v for k, v in first.items() if k not in ("error", "headers")} == {
        "sink": "dead",
        "seq": 1,
        "nodeId": "calc",
        "port": "in",
        "errorType": "ExpressionError",
        "attempts": 1,
        "payload": 5,
        "truncated": False,
    }
    assert "b" in first["error"]
    assert "trace_id" in first["headers"]
    assert (second["seq"], second["payload"]) == (2, 7)  # newest last
    assert logged(caplog) == ["1"]

    fixed = api.patch(f"{base}/nodes/calc", json={"config": {"expression": FIXED}})
    assert fixed.status_code == 200, fixed.text
    replayed = api.post(f"{base}/dead-letters/replay", json={})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {
        "executionId": listed["executionId"],
        "replayed": 2,
        "remaining": 0,
    }
    eventually(lambda: logged(caplog) == ["1", "50", "70"])
    after = letters(api, base)
    assert after["records"] == []
    assert after["sinks"] == [{"nodeId": "dead", "kept": 0, "overflowed": 0}]


def test_a_replay_that_fails_again_comes_back_as_new_records(api: httpx.Client) -> None:
    base = started(api)
    feed(api, base, 5, 7, 9)
    kept(api, base, 3)
    chosen = api.post(f"{base}/dead-letters/replay", json={"sink": "dead", "seqs": [3, 1]})
    assert chosen.status_code == 202, chosen.text
    assert chosen.json()["replayed"] == 2
    assert chosen.json()["remaining"] in (1, 2, 3)  # the replayed ones may be back already
    again = kept(api, base, 3)
    # Record 2 is untouched; 1 and 3 came back, in the order they were replayed (arrival).
    assert [(r["seq"], r["payload"]) for r in again["records"]] == [(2, 7), (4, 5), (5, 9)]
    newest = letters(api, base, limit=1)
    assert [r["seq"] for r in newest["records"]] == [5]
    assert newest["sinks"][0]["kept"] == 3


def test_unknown_sinks_and_records_are_named_and_nothing_is_replayed(api: httpx.Client) -> None:
    base = started(api)
    feed(api, base, 5)
    kept(api, base, 1)
    url = f"{base}/dead-letters/replay"
    unknown_seq = api.post(url, json={"seqs": [1, 99]})
    assert unknown_seq.status_code == 400
    assert unknown_seq.json()["error"]["code"] == "invalid_replay"
    message = unknown_seq.json()["error"]["message"]
    assert message.startswith("seqs: sink 'dead' keeps no record 99")
    assert "/dead-letters lists the ones it keeps" in message
    unknown_sink = api.post(url, json={"sink": "calc"})
    assert unknown_sink.status_code == 400
    assert unknown_sink.json()["error"]["message"].startswith(
        "sink: 'calc' is not a dead-letter sink of execution"
    )
    assert "its sinks: dead" in unknown_sink.json()["error"]["message"]
    typo = api.post(url, json={"seq": [1]})
    assert typo.status_code == 422
    assert typo.json()["error"]["message"].startswith("seq: Extra inputs are not permitted")
    empty = api.post(url, json={"seqs": []})
    assert empty.status_code == 422
    too_many = api.get(f"{base}/dead-letters", params={"limit": 1001})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["message"].startswith("query.limit:")
    assert letters(api, base)["sinks"][0]["kept"] == 1  # nothing was replayed
    missing = api.get("/api/executions/exec-none/dead-letters")
    assert missing.status_code == 404


def test_a_graph_without_a_sink_or_with_two_is_told_which_to_name(api: httpx.Client) -> None:
    plain = {
        **GRAPH,
        "nodes": [{"id": "input", "component": "arachne.core.passthrough"}],
        "edges": [],
    }
    base = started(api, plain)
    assert letters(api, base) == {
        "executionId": base.rsplit("/", 1)[1],
        "sinks": [],
        "records": [],
    }
    none = api.post(f"{base}/dead-letters/replay")  # (no body: every record of the one sink)
    assert none.status_code == 400
    assert "has no dead-letter sink; link a node's error port" in none.json()["error"]["message"]

    two = {
        **GRAPH,
        "nodes": [*GRAPH["nodes"], {"id": "dead2", "component": "arachne.core.dead-letters"}],
    }
    base = started(api, two)
    both = api.post(f"{base}/dead-letters/replay", json={})
    assert both.status_code == 400
    assert both.json()["error"]["message"].endswith(
        "has 2 dead-letter sinks (dead, dead2); name one"
    )
    assert [s["nodeId"] for s in letters(api, base)["sinks"]] == ["dead", "dead2"]
    named = api.post(f"{base}/dead-letters/replay", json={"sink": "dead2"})
    assert named.status_code == 202, named.text
    assert named.json()["replayed"] == 0


def test_a_replay_refused_for_a_full_input_keeps_every_record(
    small_queue: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    api = small_queue
    base = started(api)
    feed(api, base, 5, 7)
    kept(api, base, 2)
    api.patch(f"{base}/nodes/calc", json={"config": {"expression": FIXED}})
    assert api.post(f"{base}/pause").status_code == 202
    eventually(lambda: api.get(base).json()["state"] == "paused")
    held = api.post(f"{base}/inject", json={"nodeId": "calc", "port": "in", "value": 1})
    assert held.status_code == 202  # the input's one place, taken while paused
    full = api.post(f"{base}/dead-letters/replay", json={})
    assert full.status_code == 429, full.text
    assert full.json()["error"]["code"] == "queue_full"
    assert "every record is kept" in full.json()["error"]["message"]
    assert [r["seq"] for r in letters(api, base)["records"]] == [1, 2]
    assert api.post(f"{base}/resume").status_code == 202
    eventually(lambda: logged(caplog) == ["10"])
    replayed = api.post(f"{base}/dead-letters/replay", json={"seqs": [1]})
    assert replayed.status_code == 202, replayed.text
    assert replayed.json() == {"executionId": base.rsplit("/", 1)[1], "replayed": 1, "remaining": 1}
    eventually(lambda: logged(caplog) == ["10", "50"])


def test_a_replay_into_a_node_that_is_gone_is_refused_and_keeps_every_record(
    api: httpx.Client,
) -> None:
    base = started(api)
    feed(api, base, 5)
    kept(api, base, 1)
    assert api.put(f"{base}/commit-mode", json={"mode": "manual"}).status_code == 200
    for edge in ("e1", "e2", "e3"):
        assert api.delete(f"{base}/edges/{edge}").status_code == 200
    assert api.delete(f"{base}/nodes/calc").status_code == 200
    committed = api.post(f"{base}/commit")
    assert committed.status_code == 200, committed.text
    refused = api.post(f"{base}/dead-letters/replay", json={})
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert error["code"] == "invalid_replay"
    assert error["message"].startswith("a record cannot be replayed, so none was and every")
    assert "unknown node 'calc'" in error["message"]
    assert [r["payload"] for r in letters(api, base)["records"]] == [5]


def test_an_ended_execution_shows_its_dead_letters_but_replays_none(api: httpx.Client) -> None:
    base = started(api)
    feed(api, base, 5)
    kept(api, base, 1)
    assert api.post(f"{base}/stop").status_code == 202
    eventually(lambda: api.get(base).json()["state"] == "completed")
    ended = api.post(f"{base}/dead-letters/replay", json={})
    assert ended.status_code == 409
    assert ended.json()["error"]["code"] == "execution_ended"
    assert "no longer replayed" in ended.json()["error"]["message"]
    assert [r["payload"] for r in letters(api, base)["records"]] == [5]


def test_a_long_payload_is_shown_cut_and_replayed_whole(
    api: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="arachne.node")
    base = started(api)
    long = "x" * 10_000
    feed(api, base, long)
    [record] = kept(api, base, 1)["records"]
    assert record["truncated"] is True
    assert record["payload"] == long[:8192]
    api.patch(f"{base}/nodes/calc", json={"config": {"expression": "value.length"}})
    assert api.post(f"{base}/dead-letters/replay", json={}).json()["replayed"] == 1
    eventually(lambda: logged(caplog) == ["10000"])


def test_a_viewer_reads_dead_letters_and_only_an_operator_replays(keyed: httpx.Client) -> None:
    api = keyed
    viewer, operator, admin = ({"X-API-Key": key} for key in KEYS.values())
    base = started(api, GRAPH, admin)
    assert api.get(f"{base}/dead-letters").status_code == 401
    read = api.get(f"{base}/dead-letters", headers=viewer)
    assert read.status_code == 200, read.text
    refused = api.post(f"{base}/dead-letters/replay", json={}, headers=viewer)
    assert refused.status_code == 403
    assert "needs the operator role" in refused.json()["error"]["message"]
    allowed = api.post(f"{base}/dead-letters/replay", json={}, headers=operator)
    assert allowed.status_code == 202, allowed.text
