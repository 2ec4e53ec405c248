"""http-request against a real server on 127.0.0.1: bodies, overrides, retries, limits."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from arachne import ErrorRecord
from arachne.components import Registry
from arachne.components.builtins import HttpRequest
from arachne.model.errors import SpecError
from tests.components.builtins.helpers import Collect, line, run, source
from tests.components.builtins.http_server import LocalServer


def fetch(values: list[Any], node: HttpRequest) -> tuple[list[Any], list[ErrorRecord]]:
    node_name = node.name()
    graph, sink = line(source(values), node, errors=node_name)
    run(graph)
    errors = next(m.unit for m in graph.members if m.id == "errors")
    assert isinstance(errors, Collect)
    return sink.payloads, errors.payloads


def test_a_json_response_is_decoded(server: LocalServer) -> None:
    [response], errors = fetch([None], HttpRequest(output="response", url=f"{server.url}/echo?x=1"))
    assert errors == []
    assert response["status"] == 200
    assert response["headers"]["content-type"] == "application/json"
    assert response["headers"]["x-test"] == "yes"
    assert response["body"]["method"] == "GET"
    assert response["body"]["query"] == {"x": "1"}


def test_a_text_response_is_decoded_by_its_charset(server: LocalServer) -> None:
    [response], _ = fetch([1], HttpRequest(output="response", url=f"{server.url}/text"))
    assert response["body"] == "café"


def test_the_input_value_shapes_the_request(server: LocalServer) -> None:
    node = HttpRequest(
        output="response",
        url=f"{server.url}/echo",
        headers={"x-base": "1"},
        params={"a": "1"},
        method="PUT",
    )
    values = [
        f"{server.url}/echo?from=string",
        {"method": "post", "body": {"k": [1, 2]}, "params": {"b": 2}, "headers": {"x-more": "2"}},
        {"body": "plain text"},
        42,
    ]
    responses, errors = fetch(values, node)
    assert errors == []
    bodies = [r["body"] for r in responses]
    assert bodies[0]["query"] == {"from": "string", "a": "1"}
    assert bodies[0]["method"] == "PUT"
    assert bodies[1]["method"] == "POST"
    assert bodies[1]["query"] == {"a": "1", "b": "2"}
    assert json.loads(bodies[1]["body"]) == {"k": [1, 2]}
    assert bodies[1]["headers"]["content-type"] == "application/json"
    assert bodies[1]["headers"]["x-base"] == "1"
    assert bodies[1]["headers"]["x-more"] == "2"
    assert bodies[2]["body"] == "plain text"
    assert bodies[3]["method"] == "PUT"


@pytest.mark.parametrize(
    ("value", "match"),
    [
        ({"uri": "x"}, "unknown request field\\(s\\) 'uri'; an input object may set url"),
        ({"method": "FETCH"}, "method 'FETCH' is not one of GET"),
        ({"headers": "x"}, "request field 'headers' must be an object"),
        ("ftp://example", "no http\\(s\\) URL to request"),
    ],
)
def test_a_bad_request_value_goes_to_error(server: LocalServer, value: Any, match: str) -> None:
    responses, [record] = fetch(
        [value, None], HttpRequest(output="response", url=f"{server.url}/echo")
    )
    assert len(responses) == 1
    assert record.error_type == "ValueError"
    assert record.payload == value
    assert re.search(match, record.error)


def test_without_a_url_anywhere_the_message_fails() -> None:
    responses, [record] = fetch([None], HttpRequest(output="response"))
    assert responses == []
    assert "set config.url or send {'url': 'https://host/path'}" in record.error


def test_responses_keep_input_order_with_requests_in_flight_at_once(server: LocalServer) -> None:
    waits = [30, 1, 20, 2, 10, 0, 5, 15]
    urls = [f"{server.url}/wait/{ms}" for ms in waits]
    node = HttpRequest(output="response", concurrency=4)
    assert node.mode == "async"
    assert node.concurrency == 4
    responses, errors = fetch(urls, node)
    assert errors == []
    assert [r["body"] for r in responses] == waits


def test_a_non_2xx_status_fails_without_retrying(server: LocalServer) -> None:
    responses, [record] = fetch(
        [None], HttpRequest(output="response", url=f"{server.url}/status/404", retries=3)
    )
    assert responses == []
    assert record.error_type == "HTTPStatusError"
    assert record.error == f"GET {server.url}/status/404 answered 404 Not Found: 'nope'"
    assert server.hits["/status/404"] == 1


def test_a_non_2xx_status_goes_out_when_raise_for_status_is_off(server: LocalServer) -> None:
    node = HttpRequest(output="response", url=f"{server.url}/status/404", raise_for_status=False)
    [response], errors = fetch([None], node)
    assert errors == []
    assert (response["status"], response["body"]) == (404, "nope")


def test_retryable_statuses_are_retried_with_backoff(server: LocalServer) -> None:
    node = HttpRequest(output="response", url=f"{server.url}/flaky/a/2", retries=2, backoff_ms=1)
    [response], errors = fetch([None], node)
    assert errors == []
    assert response["body"] == {"attempts": 3}


def test_retries_run_out_with_a_clear_error(server: LocalServer) -> None:
    node = HttpRequest(output="response", url=f"{server.url}/flaky/b/5", retries=1, backoff_ms=1)
    responses, [record] = fetch([None], node)
    assert responses == []
    assert record.error_type == "HTTPStatusError"
    assert "answered 503 Service Unavailable (after 2 attempts): 'busy'" in record.error
    assert server.hits["/flaky/b/5"] == 2


def test_a_slow_server_times_out_after_each_attempt(server: LocalServer) -> None:
    node = HttpRequest(
        output="response", url=f"{server.url}/slow", timeout_ms=50, retries=1, backoff_ms=1
    )
    responses, [record] = fetch([None], node)
    assert responses == []
    assert record.error_type == "TimeoutError"
    assert "no complete response within 50 ms (after 2 attempts); raise timeout_ms" in (
        record.error
    )
    # Two attempts were made (the message says so); the server counts a request once it has
    # read it, which a loaded machine may not do within an attempt's 50 ms.
    assert 1 <= server.hits["/slow"] <= 2


def test_a_refused_connection_is_retried_then_reported() -> None:
    with LocalServer() as gone:
        url = f"{gone.url}/echo"
    node = HttpRequest(output="response", url=url, retries=1, backoff_ms=1)
    responses, [record] = fetch([None], node)
    assert responses == []
    assert record.error_type == "ConnectionError"
    assert record.error.startswith(f"GET {url}: ")
    assert record.error.endswith("(after 2 attempts)")


@pytest.mark.parametrize(
    ("path", "detail"),
    [("/big/1000", "it declares 1000 bytes"), ("/stream/5000", "more than")],
)
def test_a_body_past_the_cap_fails_the_request(server: LocalServer, path: str, detail: str) -> None:
    node = HttpRequest(
        output="response", url=f"{server.url}{path}", max_response_bytes=300, retries=2
    )
    responses, [record] = fetch([None], node)
    assert responses == []
    assert record.error_type == "ValueError"
    assert "response body exceeds max_response_bytes=300" in record.error
    assert detail in record.error
    assert server.hits[path] == 1


def test_a_body_under_the_cap_is_read_whole(server: LocalServer) -> None:
    node = HttpRequest(output="response", url=f"{server.url}/stream/5000", max_response_bytes=5000)
    [response], _ = fetch([None], node)
    assert response["body"] == "y" * 5000


def test_a_json_content_type_with_a_broken_body_fails(server: LocalServer) -> None:
    responses, [record] = fetch([None], HttpRequest(output="response", url=f"{server.url}/badjson"))
    assert responses == []
    assert "content-type is application/json but the body is not JSON" in record.error


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"url": "ftp://x"}, r"config\.url: found 'ftp://x'"),
        ({"method": "FETCH"}, r"config\.method: found 'FETCH', expected one of 'GET'"),
        ({"timeout_ms": 0}, r"config\.timeout_ms"),
        ({"retries": -1}, r"config\.retries"),
        ({"max_response_bytes": 0}, r"config\.max_response_bytes"),
        ({"concurrency": 0}, r"config\.concurrency"),
        ({"headers": {"a": 1}}, r"config\.headers\.a"),
        ({"verify": False}, "known settings: backoff_ms, body, concurrency"),
    ],
)
def test_bad_config_is_a_spec_error(config: dict[str, Any], match: str) -> None:
    with pytest.raises(SpecError, match=match):
        Registry.default().create("symbia.io.http-request", config)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"timeout_ms": 0}, "timeout_ms and max_response_bytes must be > 0"),
        ({"retries": -1}, "retries >= 0"),
        ({"concurrency": 0}, "concurrency must be an int >= 1"),
        ({"url": "example.com"}, "no http\\(s\\) URL"),
        ({"url": "http://x", "method": "brew"}, "method 'BREW' is not one of"),
    ],
)
def test_the_python_constructor_checks_its_arguments(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        HttpRequest(**kwargs)


def test_the_body_alone_leaves_by_default(server: LocalServer) -> None:
    [body], errors = fetch([None], HttpRequest(url=f"{server.url}/echo?x=1"))
    assert errors == []
    assert body["query"] == {"x": "1"}


def test_configured_headers_go_only_to_the_configured_origin(server: LocalServer) -> None:
    node = HttpRequest(
        output="response",
        url=f"{server.url}/echo",
        headers={"authorization": "Bearer secret"},
        params={"key": "k1"},
    )
    with LocalServer() as other:  # another port: another origin
        responses, errors = fetch([None, f"{other.url}/echo", f"{server.url}/echo?x=1"], node)
    assert errors == []
    sent = [r["body"]["headers"].get("authorization") for r in responses]
    assert sent == ["Bearer secret", None, "Bearer secret"]
    assert [r["body"]["query"].get("key") for r in responses] == ["k1", None, "k1"]


def test_post_is_not_retried(server: LocalServer) -> None:
    node = HttpRequest(
        output="response", url=f"{server.url}/flaky/post/1", method="POST", retries=3
    )
    responses, [record] = fetch([None], node)
    assert responses == []
    assert "503" in record.error
    assert server.hits["/flaky/post/1"] == 1


@pytest.mark.parametrize("url", ["http://a b/", "http://[::1", "http://:80/x", "http://h:port/"])
def test_malformed_urls_are_refused_when_the_graph_is_built(url: str) -> None:
    with pytest.raises(SpecError, match="url|URL"):
        Registry.default().create("arachne.io.http-request", {"url": url}, where="n")


def test_a_traced_request_carries_its_spans_context_to_the_server(server: LocalServer) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from arachne import IterSource, Runtime, Subgraph
    from arachne.observability.tracing import OpenTelemetryTracer

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    sink = Collect()
    graph = Subgraph()
    graph.add_node(IterSource([None], name="trigger"))
    graph.add_node(HttpRequest(url=f"{server.url}/echo"), name="call")
    graph.add_node(sink, name="sink")
    graph.connect(("trigger", "out"), ("call", "in"))
    graph.connect(("call", "out"), ("sink", "in"))
    runtime = Runtime(tracer=OpenTelemetryTracer(provider))
    runtime.register(graph)
    runtime.run()
    [body] = sink.payloads
    [call] = [span for span in exporter.get_finished_spans() if span.name == "call"]
    _version, trace_id, span_id, _flags = body["headers"]["traceparent"].split("-")
    assert (trace_id, span_id) == (f"{call.context.trace_id:032x}", f"{call.context.span_id:016x}")
