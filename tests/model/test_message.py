from __future__ import annotations

import pickle

import pytest

from arachne.model.message import (
    EMPTY_HEADERS,
    Headers,
    Message,
    new_message,
    well_known_header_keys,
)

# -- Headers ---------------------------------------------------------------------------------


def test_headers_merge_mapping_and_keywords_keywords_win() -> None:
    headers = Headers({"trace_id": "a", "seq": 1}, seq=2, ts=10)
    assert dict(headers) == {"trace_id": "a", "seq": 2, "ts": 10}
    assert len(headers) == 3
    assert list(headers) == ["trace_id", "seq", "ts"]
    assert headers["ts"] == 10


def test_headers_do_not_alias_the_given_dict() -> None:
    data = {"seq": 1}
    headers = Headers(data)
    data["seq"] = 2
    assert headers["seq"] == 1


def test_headers_reject_non_string_keys() -> None:
    with pytest.raises(TypeError, match=r"header keys must be str, got 1; convert it with str\(\)"):
        Headers({1: "x"})


def test_headers_are_read_only() -> None:
    headers = Headers(seq=1)
    with pytest.raises(TypeError):
        headers["seq"] = 2  # type: ignore[index]
    with pytest.raises(AttributeError):
        headers.extra = 1  # type: ignore[attr-defined]


def test_headers_replace_returns_new_headers_and_keeps_the_original() -> None:
    original = Headers(trace_id="t", seq=1)
    changed = original.replace(seq=2, ts=5)
    assert dict(changed) == {"trace_id": "t", "seq": 2, "ts": 5}
    assert dict(original) == {"trace_id": "t", "seq": 1}
    assert isinstance(changed, Headers)


def test_headers_equal_by_content_and_to_plain_dicts() -> None:
    assert Headers(a=1, b=2) == Headers(b=2, a=1)
    assert Headers(a=1) == {"a": 1}
    assert Headers(a=1) != Headers(a=2)


def test_equal_headers_hash_equal_whatever_the_order() -> None:
    assert hash(Headers(a=1, b=2)) == hash(Headers(b=2, a=1))


def test_headers_with_unhashable_values_are_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Headers(tags=["x"]))


def test_headers_repr_shows_the_data() -> None:
    assert repr(Headers(seq=1)) == "Headers({'seq': 1})"


def test_trusted_headers_wrap_without_checking() -> None:
    data = {"seq": 1}
    headers = Headers.trusted(data)
    assert headers == {"seq": 1}
    # No key check: the runtime vouches for the keys.
    assert dict(Headers.trusted({1: "x"})) == {1: "x"}  # type: ignore[dict-item]


def test_headers_pickle_round_trip() -> None:
    headers = Headers(trace_id="t", seq=3)
    restored = pickle.loads(pickle.dumps(headers))  # noqa: S301  # our own bytes
    assert isinstance(restored, Headers)
    assert restored == headers


def test_empty_headers_and_well_known_keys() -> None:
    assert len(EMPTY_HEADERS) == 0
    assert well_known_header_keys() == (
        "trace_id",
        "ts",
        "seq",
        "schema_version",
        "content_type",
        "traceparent",
    )


# -- Message ---------------------------------------------------------------------------------


def test_message_defaults_share_the_empty_headers() -> None:
    msg = Message()
    assert msg.payload is None
    assert msg.headers is EMPTY_HEADERS


def test_message_keeps_a_headers_instance_as_is() -> None:
    headers = Headers(trace_id="t")
    assert Message(1, headers).headers is headers


def test_message_builds_headers_from_mapping_and_keywords() -> None:
    msg = Message("p", {"trace_id": "t"}, seq=4)
    assert isinstance(msg.headers, Headers)
    assert dict(msg.headers) == {"trace_id": "t", "seq": 4}
    assert dict(Message("p", seq=1).headers) == {"seq": 1}
    assert dict(Message("p", Headers(a=1), b=2).headers) == {"a": 1, "b": 2}


def test_message_rejects_non_string_header_keys() -> None:
    with pytest.raises(TypeError, match="header keys must be str"):
        Message(1, {2: "x"})


def test_message_is_immutable() -> None:
    msg = Message(1)
    with pytest.raises(AttributeError, match=r"immutable; use derive\(\) to change 'payload'"):
        msg.payload = 2
    with pytest.raises(AttributeError, match="immutable"):
        msg.headers = Headers()
    with pytest.raises(AttributeError, match="cannot delete 'payload'"):
        del msg.payload
    assert msg.payload == 1


def test_message_equality_compares_payload_and_headers() -> None:
    assert Message([1], {"seq": 1}) == Message([1], Headers(seq=1))
    assert Message(1, seq=1) != Message(1, seq=2)
    assert Message(1) != Message(2)
    assert Message(1) != 1
    assert Message(1).__eq__(1) is NotImplemented


def test_message_is_unhashable() -> None:
    with pytest.raises(TypeError):
        hash(Message(1))


def test_message_repr() -> None:
    assert repr(Message(1, seq=2)) == "Message(payload=1, headers={'seq': 2})"


def test_trace_id_is_a_string_or_none() -> None:
    assert Message(1).trace_id is None
    assert Message(1, trace_id="abc").trace_id == "abc"
    assert Message(1, trace_id=42).trace_id == "42"


def test_derive_shares_headers_when_unchanged() -> None:
    parent = Message(1, trace_id="t", seq=1)
    child = parent.derive(2)
    assert child.payload == 2
    assert child.headers is parent.headers


def test_derive_with_header_changes_leaves_the_parent_alone() -> None:
    parent = Message(1, trace_id="t", seq=1)
    child = parent.derive(2, seq=2)
    assert dict(child.headers) == {"trace_id": "t", "seq": 2}
    assert child.headers is not parent.headers
    assert dict(parent.headers) == {"trace_id": "t", "seq": 1}
    assert parent.payload == 1


def test_new_message_uses_the_headers_object_given() -> None:
    headers = Headers(seq=1)
    msg = new_message({"k": 1}, headers)
    assert msg.headers is headers
    assert msg == Message({"k": 1}, seq=1)
    with pytest.raises(AttributeError):
        msg.payload = 2


@pytest.mark.parametrize(
    "msg",
    [
        Message(),
        Message({"rows": [1, 2]}, trace_id="t", seq=9, ts=1_700_000_000_000_000_000),
        Message((1, "a"), Headers(custom="x")),
    ],
)
def test_message_pickle_round_trip(msg: Message) -> None:
    restored = pickle.loads(pickle.dumps(msg))  # noqa: S301  # our own bytes
    assert type(restored) is Message
    assert restored == msg
    assert isinstance(restored.headers, Headers)
    with pytest.raises(AttributeError):
        restored.payload = 0
