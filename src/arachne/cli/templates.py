"""The files ``arachne new`` writes: a node or subgraph module and its test, ready to run."""

from __future__ import annotations

from string import Template
from typing import Final

__all__ = ["NODE_MODULE", "NODE_TEST", "SUBGRAPH_MODULE", "SUBGRAPH_TEST"]

NODE_MODULE: Final = Template('''\
"""$title: a node made with `arachne new node`."""

from __future__ import annotations

from arachne import Input, Message, Node, Output


class $cls(Node):
    """Double each integer that arrives on ``in`` and emit it on ``out``."""

    inp = Input(int, name="in")
    out = Output(int)

    def on_message(self, port: str, msg: Message) -> None:
        """Handle one message from ``port``."""
        self.emit("out", msg.payload * 2)
''')

NODE_TEST: Final = Template('''\
"""Tests for $cls, run through a real graph."""

from __future__ import annotations

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph$gap
from $module import $cls


class Collect(Node):
    """Keep every payload that arrives."""

    inp = Input(name="in")

    def __init__(self) -> None:
        """Start with nothing collected."""
        super().__init__(name="collect")
        self.payloads: list[object] = []

    def on_message(self, port: str, msg: Message) -> None:
        """Keep the payload."""
        self.payloads.append(msg.payload)


def test_${module}_doubles_what_arrives() -> None:
    """Every integer comes out doubled, in order."""
    graph = Subgraph()
    sink = Collect()
    graph.add_node(IterSource([1, 2, 3], name="source", schema=int))
    graph.add_node($cls(name="$module"))
    graph.add_node(sink)
    graph.connect(("source", "out"), ("$module", "in"))
    graph.connect(("$module", "out"), ("collect", "in"))
    assert graph.validate() == []
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [2, 4, 6]
''')

SUBGRAPH_MODULE: Final = Template('''\
"""$title: a subgraph made with `arachne new subgraph`."""

from __future__ import annotations

from arachne import Subgraph, node


@node
def parse(text: str) -> int:
    """Read an integer from text."""
    return int(text.strip())


@node(filter=True)
def positive(value: int) -> bool:
    """Keep values above zero."""
    return value > 0


def $function() -> Subgraph:
    """Return the subgraph: text in on ``in``, positive integers out on ``out``."""
    graph = Subgraph("$module")
    graph.add_node(parse())
    graph.add_node(positive())
    graph.connect(("parse", "out"), ("positive", "in"))
    graph.expose_input("in", ("parse", "in"))
    graph.expose_output("out", ("positive", "out"))
    return graph
''')

SUBGRAPH_TEST: Final = Template('''\
"""Tests for the $module subgraph, run through a real graph."""

from __future__ import annotations

from arachne import Input, IterSource, Message, Node, Runtime, Subgraph$gap
from $module import $function


class Collect(Node):
    """Keep every payload that arrives."""

    inp = Input(name="in")

    def __init__(self) -> None:
        """Start with nothing collected."""
        super().__init__(name="collect")
        self.payloads: list[object] = []

    def on_message(self, port: str, msg: Message) -> None:
        """Keep the payload."""
        self.payloads.append(msg.payload)


def test_${module}_keeps_positive_numbers() -> None:
    """Text becomes integers and only the positive ones come out."""
    inner = $function()
    assert inner.validate() == []
    graph = Subgraph()
    sink = Collect()
    graph.add_node(IterSource(["3", " -1", "7 "], name="source", schema=str))
    graph.add_node(inner)
    graph.add_node(sink)
    graph.connect(("source", "out"), ("$module", "in"))
    graph.connect(("$module", "out"), ("collect", "in"))
    runtime = Runtime()
    runtime.register(graph)
    runtime.run()
    assert sink.payloads == [3, 7]
''')
