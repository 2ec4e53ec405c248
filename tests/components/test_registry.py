"""The component registry: ids and aliases, config checked before building, entry points."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from arachne import Input, Message, Node, Output, SpecError
from arachne.components import ComponentDefinition, PortDoc, Registry


class Scale(Node):
    """Multiplies by ``factor``."""

    inp = Input(int, name="in")
    out = Output(float)

    def on_message(self, port: str, msg: Message) -> None:
        self.emit("out", msg.payload * self.context.config["factor"])


SCALE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"factor": {"type": "number", "default": 2}, "mode": {"enum": ["a", "b"]}},
    "additionalProperties": False,
}


def definition(component_id: str = "acme.math.scale", **extra: Any) -> ComponentDefinition:
    return ComponentDefinition(
        id=component_id,
        factory=lambda config: Scale(config=config),
        config_schema=SCALE_SCHEMA,
        **extra,
    )


def test_ids_and_aliases_resolve_to_one_definition() -> None:
    registry = Registry([definition(aliases=("legacy.scale",))])
    assert registry.resolve("legacy.scale") is registry.resolve("acme.math.scale")
    assert "legacy.scale" in registry
    assert len(registry) == 1
    registry.unregister("legacy.scale")
    assert "acme.math.scale" not in registry
    assert "legacy.scale" not in registry


def test_a_taken_id_or_alias_is_refused_unless_replaced() -> None:
    registry = Registry([definition()])
    with pytest.raises(ValueError, match="already registered"):
        registry.register(definition("other.scale", aliases=("acme.math.scale",)))
    replacement = definition(version="2.0.0")
    registry.register(replacement, replace=True)
    assert registry.resolve("acme.math.scale").version == "2.0.0"


@pytest.mark.parametrize("bad", ["scale", "acme..scale", "acme.ma th", "acme.é"])
def test_ids_must_be_namespaced_words(bad: str) -> None:
    with pytest.raises(ValueError, match="namespaced"):
        definition(bad)


def test_unknown_categories_and_uncallable_factories_are_refused() -> None:
    with pytest.raises(ValueError, match="category"):
        definition(category="misc")
    with pytest.raises(TypeError, match="callable"):
        ComponentDefinition(id="a.b", factory="nope")  # type: ignore[arg-type]


def test_an_unknown_id_suggests_close_ones() -> None:
    registry = Registry([definition()])
    with pytest.raises(SpecError, match=r"nodes\[3\]: unknown component 'acme.math.scal'; did"):
        registry.resolve("acme.math.scal", where="nodes[3]")
    with pytest.raises(SpecError, match="arachne components"):
        registry.resolve("zzz.zzz")


def test_config_is_checked_and_defaults_filled_before_the_factory_runs() -> None:
    registry = Registry([definition()])
    node = registry.create("acme.math.scale", {})
    assert isinstance(node, Scale)
    assert dict(node.context.config) == {"factor": 2}
    with pytest.raises(SpecError) as caught:
        registry.create("acme.math.scale", {"factor": "x", "mode": "c", "extra": 1}, where="n")
    text = str(caught.value)
    assert "n.config: Additional properties" in text
    assert "known settings: factor, mode" in text
    assert "n.config.factor: found 'x', expected type 'number'" in text
    assert "n.config.mode: found 'c', expected one of 'a', 'b'" in text
    with pytest.raises(SpecError, match="expected an object, found list"):
        registry.create("acme.math.scale", [1], where="n")  # type: ignore[arg-type]


def test_a_factory_that_rejects_its_config_becomes_a_spec_error() -> None:
    def picky(config: Mapping[str, Any]) -> Node:
        raise ValueError("factor must be odd")

    registry = Registry([ComponentDefinition(id="acme.picky", factory=picky)])
    with pytest.raises(SpecError, match=r"nodes\[0\].config: factor must be odd"):
        registry.create("acme.picky", {}, where="nodes[0]")


def test_node_classes_register_with_ports_read_from_the_class() -> None:
    registry = Registry()
    made = registry.register_node(Scale, id="acme.scale", config_schema=SCALE_SCHEMA)
    assert made.inputs == (PortDoc("in", {"type": "integer"}),)
    assert made.outputs == (PortDoc("out", {"type": "number"}),)
    assert made.description == "Multiplies by ``factor``."
    data = made.to_dict()
    assert data["name"] == "Scale"
    assert data["ports"]["inputs"][0]["name"] == "in"
    assert data["config"] == SCALE_SCHEMA
    with pytest.raises(TypeError, match="Node subclass"):
        registry.register_node(dict, id="acme.dict")  # type: ignore[arg-type]


def test_iteration_is_by_category_then_id() -> None:
    registry = Registry(
        [definition("z.a", category="core"), definition("a.z", category="io"), definition("b.b")]
    )
    assert [d.id for d in registry] == ["z.a", "b.b", "a.z"]


def test_the_default_registry_has_the_builtins_under_both_names() -> None:
    registry = Registry.default()
    assert registry.resolve("symbia.core.map").id == "arachne.core.map"
    assert registry.resolve("symbia.io.http-request").id == "arachne.io.http-request"
    assert registry.resolve("symbia.data.json-transform").id == "arachne.data.json-transform"


# -- entry points: a real installed distribution, written into a folder on sys.path ---------


PLUGIN = """
from arachne.components import ComponentDefinition
from arachne import Node

def _make(config):
    return Node(config=config)

ONE = ComponentDefinition(id="plug.one", factory=_make)
MANY = [ComponentDefinition(id="plug.two", factory=_make),
        ComponentDefinition(id="plug.three", factory=_make)]

def install(registry):
    registry.register(ComponentDefinition(id="plug.four", factory=_make))

BROKEN = 42
"""


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "arachne_plugin_demo.py").write_text(PLUGIN)
    info = tmp_path / "arachne_plugin_demo-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: arachne-plugin-demo\nVersion: 1.0\n"
    )
    (info / "entry_points.txt").write_text(
        "[arachne.components]\n"
        "one = arachne_plugin_demo:ONE\n"
        "many = arachne_plugin_demo:MANY\n"
        "install = arachne_plugin_demo:install\n"
        "broken = arachne_plugin_demo:BROKEN\n"
        "missing = arachne_plugin_demo:NOPE\n"
    )
    sys.path.insert(0, str(tmp_path))
    try:
        yield tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("arachne_plugin_demo", None)


def test_installed_packages_add_components_and_a_broken_one_is_skipped(
    plugin: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registry = Registry()
    assert registry.load_entry_points() == 4
    assert {d.id for d in registry} == {"plug.one", "plug.two", "plug.three", "plug.four"}
    skipped = [r.getMessage() for r in caplog.records if "could not be loaded" in r.getMessage()]
    assert len(skipped) == 2
    default = Registry.default()
    assert "plug.one" in default
    assert "arachne.core.map" in default


class Needy(Node):
    """Takes a required argument, as the built-ins do."""

    inp = Input(int, name="in")

    def __init__(self, *, factor: int, config: Mapping[str, Any] | None = None) -> None:
        super().__init__(config=config)
        self.factor = factor


def test_node_classes_with_required_arguments_register_by_their_class_ports() -> None:
    made = Registry().register_node(Needy, id="acme.needy")
    assert [port.name for port in made.inputs] == ["in"]
