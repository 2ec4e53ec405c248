from __future__ import annotations

import dataclasses

import pytest

from arachne.model.port import Input, Output, PortSpec, normalize_ports
from arachne.model.schema import AnySchema, NamedSchema, TypeSchema


def test_port_spec_adapts_its_schema() -> None:
    spec = PortSpec("out", int, "counts")
    assert spec.adapter == TypeSchema(int)
    assert spec.schema_name == "int"
    assert spec.description == "counts"
    assert isinstance(PortSpec("out").adapter, AnySchema)
    assert PortSpec("out").schema_name == "any"


@pytest.mark.parametrize("name", ["", 3, None])
def test_port_name_must_be_a_non_empty_string(name: object) -> None:
    with pytest.raises(ValueError, match="port name must be a non-empty str"):
        PortSpec(name)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["a/b", "a.b"])
def test_port_name_may_not_contain_path_separators(name: str) -> None:
    with pytest.raises(ValueError, match=rf"port name '{name}' may not contain '/' or '.'; rename"):
        PortSpec(name)


def test_port_spec_rejects_a_bad_schema() -> None:
    with pytest.raises(TypeError, match="as a port schema"):
        PortSpec("out", 42)


def test_port_specs_equal_by_name_and_schema_name() -> None:
    assert PortSpec("in", int) == PortSpec("in", "int")
    assert PortSpec("in", "acme.Order") == PortSpec("in", NamedSchema("acme.Order"))
    assert PortSpec("in", int, "one") == PortSpec("in", int, "two")
    assert hash(PortSpec("in", int)) == hash(PortSpec("in", "int"))
    assert PortSpec("in", int) != PortSpec("in", str)
    assert PortSpec("in", int) != PortSpec("out", int)
    assert PortSpec("in", int) != ("in", int)


def test_port_spec_is_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        PortSpec("in").name = "out"  # type: ignore[misc]


def test_declaration_takes_the_attribute_name() -> None:
    class Holder:
        count = Output(int, description="how many")
        raw = Input()

    assert Holder.count == PortSpec("count", int)
    assert Holder.count.description == "how many"
    assert Holder.raw == PortSpec("raw", None)
    assert Holder().count is Holder.count


def test_declaration_name_overrides_the_attribute_name() -> None:
    class Holder:
        inp = Input(int, name="in")

    assert Holder.inp.name == "in"
    assert Holder.inp.schema is int


def test_named_declaration_works_outside_a_class() -> None:
    assert Input(str, name="text").spec == PortSpec("text", str)


def test_unnamed_declaration_outside_a_class_has_no_spec() -> None:
    with pytest.raises(TypeError, match="needs a name= when not used as a class attribute"):
        _ = Output(int).spec


def test_declaration_rejects_a_bad_port_name_early() -> None:
    with pytest.raises(ValueError, match="may not contain"):
        Input(int, name="a.b")


def test_normalize_ports_accepts_schemas_names_none_and_specs() -> None:
    ports = normalize_ports(
        {"a": int, "b": "str", "c": None, "d": PortSpec("d", float, "x")}, owner="n.inputs()"
    )
    assert ports == {
        "a": PortSpec("a", int),
        "b": PortSpec("b", str),
        "c": PortSpec("c"),
        "d": PortSpec("d", float),
    }
    assert ports["d"].description == "x"
    assert list(ports) == ["a", "b", "c", "d"]


def test_normalize_ports_of_none_is_empty() -> None:
    assert normalize_ports(None, owner="n.outputs()") == {}


def test_normalize_ports_rejects_non_mappings_naming_the_owner() -> None:
    with pytest.raises(TypeError, match=r"n.outputs\(\) must return a dict .* got list"):
        normalize_ports(["out"], owner="n.outputs()")  # type: ignore[arg-type]


def test_normalize_ports_rejects_a_spec_under_another_key() -> None:
    with pytest.raises(ValueError, match=r"n.inputs\(\): key 'a' holds a PortSpec named 'b'"):
        normalize_ports({"a": PortSpec("b")}, owner="n.inputs()")


def test_normalize_ports_names_the_port_with_a_bad_schema() -> None:
    with pytest.raises(TypeError, match=r"n.inputs\(\): port 'a': cannot use 42"):
        normalize_ports({"a": 42}, owner="n.inputs()")
