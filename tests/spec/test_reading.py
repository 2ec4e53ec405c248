from __future__ import annotations

import json
from pathlib import Path

import pytest

from arachne import SpecError
from arachne.spec import loads_document, parse_document, read_document
from arachne.spec.limits import MAX_FLOW_DEPTH, MAX_TEXT_SIZE, MAX_YAML_SIZE
from tests.spec.components import chain

YAML = """\
arachne: "1.0"
name: yaml chain
nodes:
  - {id: numbers, component: test.io.numbers}
  - id: scale
    component: test.math.scale
    config: {factor: 3}
edges:
  - {source: "numbers:out", target: "scale:in"}
"""


def error_of(text: str, fmt: str | None = None) -> str:
    with pytest.raises(SpecError) as info:
        loads_document(text, format=fmt)  # type: ignore[arg-type]
    return str(info.value)


def test_json_and_yaml_texts_give_the_same_document() -> None:
    from_json = loads_document(json.dumps(chain()))
    from_yaml = loads_document(json.dumps(chain()), format="yaml")
    assert from_json == from_yaml == parse_document(chain())


def test_yaml_is_the_default_for_text_not_starting_with_a_brace() -> None:
    parsed = loads_document(YAML)
    assert parsed.name == "yaml chain"
    assert parsed.nodes[1].config == {"factor": 3}


def test_json_syntax_errors_give_line_and_column() -> None:
    assert error_of('{\n  "name": "x",\n  "nodes": [}') == (
        "JSON syntax error at line 3, column 13: Expecting value"
    )


def test_yaml_syntax_errors_give_line_and_column() -> None:
    assert error_of("name: [x\nnodes: 1\n").startswith("YAML syntax error at line 2, column")


def test_json_duplicate_keys_are_named_with_their_path() -> None:
    text = (
        '{"arachne": "1.0", "name": "a", "name": "b", "nodes": [{"id": "x", "id": "y", '
        '"component": "test.core.relay"}]}'
    )
    message = error_of(text)
    assert "document: key 'name' appears more than once; keep one" in message
    assert "nodes[0]: key 'id' appears more than once; keep one" in message


def test_yaml_duplicate_keys_are_named_with_their_lines() -> None:
    text = YAML + "name: again\n"
    assert error_of(text) == (
        "document: key 'name' appears more than once (lines 2 and 10); keep one"
    )
    assert (
        error_of("{a: 1, a: 2}", "yaml")
        == "document: key 'a' appears more than once (line 1); keep one"
    )
    nested = YAML.replace("config: {factor: 3}", "config: {factor: 3, factor: 4}")
    assert error_of(nested).startswith("nodes[1].config: key 'factor' appears more than once")


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_json_nan_and_infinity_are_refused(constant: str) -> None:
    text = json.dumps(chain()).replace('"test"', constant, 1)
    assert error_of(text) == (
        f"JSON: {constant} is not valid JSON; write a finite number, a string or null"
    )


def test_yaml_nan_and_huge_numbers_are_refused() -> None:
    assert "found nan; numbers must be finite" in error_of(YAML + "metadata: {x: .nan}\n")
    assert "numbers must be finite" in error_of(
        '{"arachne": "1.0", "name": "x", "nodes": [], "metadata": {"x": 1e999}}'
    )
    huge = "9" * 5000
    assert error_of(f'{{"name": {huge}}}').startswith("JSON: Exceeds the limit")
    assert error_of(f"name: {huge}\n").startswith("YAML: Exceeds the limit")


def test_yaml_values_json_lacks_are_refused() -> None:
    message = error_of(YAML + "metadata: {when: 2024-01-02, blob: !!binary aGk=, 1: one}\n")
    assert "metadata.when: found a date, which JSON cannot represent" in message
    assert "metadata.blob: found a bytes" in message
    assert "metadata: key 1 is a int, not a string; quote it" in message


def test_yaml_cannot_construct_python_objects() -> None:
    message = error_of(YAML + "metadata: !!python/object/apply:os.system ['echo hi']\n")
    assert message.startswith("YAML syntax error")
    assert "could not determine a constructor" in message


@pytest.mark.parametrize("fmt", ["json", "yaml"])
def test_hostile_nesting_is_a_spec_error_not_a_recursion_error(fmt: str) -> None:
    message = error_of("[" * 20_000 + "]" * 20_000, fmt)
    assert message.startswith(f"{fmt.upper()}: ")
    assert "nest" in message


@pytest.mark.parametrize("levels", [70, 5000])
def test_block_style_yaml_nesting_is_bounded(levels: int) -> None:
    text = "- " * levels + "x\n"
    assert error_of(text).startswith(
        "[0][0][0]" if levels < 900 else "YAML: nested too deeply (documents may nest 64"
    )
    assert "nested" in error_of(text)


def test_a_yaml_alias_bomb_is_stopped() -> None:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    message = error_of("\n".join(lines) + "\n")
    assert message.startswith("document has more than 500,000 values")


def test_text_over_the_size_limit_is_refused_before_parsing() -> None:
    message = error_of(" " * (MAX_TEXT_SIZE + 1), "json")
    assert message.startswith("JSON document is 4,194,305 characters long; the limit is 4,194,")
    message = error_of(" " * (MAX_YAML_SIZE + 1))
    assert message.startswith("YAML document is 262,145 characters long; the limit is 262,144")


def test_deep_yaml_flow_nesting_is_refused_before_parsing() -> None:
    text = "a: " + "[" * (MAX_FLOW_DEPTH + 1) + "]" * (MAX_FLOW_DEPTH + 1)
    assert error_of(text).startswith("YAML: brackets nest more than 32 levels deep")


def test_multiple_yaml_documents_and_empty_text() -> None:
    assert "expected a single document" in error_of(YAML + "---\n" + YAML)
    assert error_of("") == (
        "document: expected an object with 'arachne', 'name' and 'nodes', found null"
    )


def test_loads_document_wants_text() -> None:
    with pytest.raises(TypeError, match="takes str"):
        loads_document(b"{}")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown format 'toml'"):
        loads_document("{}", format="toml")  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [".json", ".yaml", ".yml", ".JSON"])
def test_read_document_picks_the_format_from_the_suffix(tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"graph{suffix}"
    path.write_text(json.dumps(chain()), encoding="utf-8")
    assert read_document(path) == parse_document(chain())
    assert read_document(str(path)) == parse_document(chain())


def test_read_document_errors_name_the_file(tmp_path: Path) -> None:
    unknown = tmp_path / "graph.txt"
    unknown.write_text("{}")
    with pytest.raises(SpecError, match=r"graph.txt: cannot tell the format from the suffix"):
        read_document(unknown)
    bad = tmp_path / "bad.yaml"
    bad.write_text(YAML.replace("test.math.scale", "''"))
    with pytest.raises(SpecError, match=r"bad.yaml: nodes\[1\].component: must not be empty"):
        read_document(bad)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"name": "caf\xe9"}')
    with pytest.raises(SpecError, match=r"latin.json: not UTF-8 text \(bad byte at offset 13\)"):
        read_document(latin)
    with pytest.raises(FileNotFoundError):
        read_document(tmp_path / "missing.json")


def test_a_utf8_bom_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(chain()).encode())
    assert read_document(path).name == "test"
    assert loads_document("\ufeff" + json.dumps(chain())).name == "test"
