"""``arachne.core.dedupe``: let each value through once, by a key; repairs ``retried``."""

from __future__ import annotations

import json
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, ClassVar, Final

from arachne.components.builtins._defs import ANY_VALUE, keyword_factory, strict_object
from arachne.components.builtins._expression import EXPRESSION_TEXT, compile_expression
from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.node import Node
from arachne.model.port import Input, Output

if TYPE_CHECKING:
    from arachne.components.expressions import Expression
    from arachne.model.message import Message

__all__ = ["DEDUPE", "DEFAULT_REMEMBER", "Dedupe"]

DEFAULT_REMEMBER: Final = 10_000
"""The keys a dedupe remembers by default; past them the oldest is forgotten."""


class Dedupe(Node):
    """Send each value to ``out`` the first time its key is seen, to ``duplicates`` after.

    The key is the value itself (as canonical JSON), or what the JavaScript expression ``key``
    makes of it (``"value.id"``). The last ``remember`` keys are kept, the oldest forgotten
    first. Because what leaves by ``out`` is never sent twice, the node repairs the
    ``retried`` and ``replayed`` taints: they do not go on past it (docs/query-plane.md).
    Checkpointed, it saves the keys it remembers.
    """

    default_name = "dedupe"
    repairs: ClassVar[frozenset[str]] = frozenset({"retried", "replayed"})
    stateful: ClassVar[bool | None] = True
    inp = Input(None, name="in", description="Any value")
    out = Output(None, description="Values whose key was not seen before")
    duplicates = Output(None, description="Values whose key was seen before")

    def __init__(
        self, *, key: str | None = None, remember: int = DEFAULT_REMEMBER, name: str | None = None
    ) -> None:
        if isinstance(remember, bool) or not isinstance(remember, int) or remember < 1:
            raise ValueError(f"remember must be an int >= 1, got {remember!r}")
        config: dict[str, Any] = {"remember": remember}
        if key is not None:
            config["key"] = key
        super().__init__(name=name, config=config)
        self.key: Expression | None = None if key is None else compile_expression(key)
        self.remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()

    def on_message(self, port: str, msg: Message) -> None:
        """Send the value on by whether its key is new."""
        value = msg.payload
        key = self._key(value)
        seen = self._seen
        if key in seen:
            seen.move_to_end(key)
            self.emit("duplicates", value)
            return
        seen[key] = None
        if len(seen) > self.remember:
            seen.popitem(last=False)
        self.emit("out", value)

    def _key(self, value: Any) -> str:
        made = value if self.key is None else self.key(value)
        try:
            return json.dumps(made, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError):
            raise TypeError(
                f"dedupe {self.name()!r} keys by JSON, and {type(made).__name__} is not JSON "
                "data; give a 'key' expression that picks a field"
            ) from None

    def snapshot(self) -> dict[str, Any]:
        """Return the keys remembered, oldest first."""
        return {"seen": list(self._seen)}

    def restore(self, state: Any) -> None:
        """Remember the keys a checkpoint saved."""
        seen = state.get("seen") if isinstance(state, dict) else None
        if not isinstance(seen, list) or not all(isinstance(key, str) for key in seen):
            raise ValueError(f"a saved dedupe state is {{'seen': [keys...]}}, got {state!r}")
        self._seen = OrderedDict.fromkeys(seen[-self.remember :])


DEDUPE = ComponentDefinition(
    id="arachne.core.dedupe",
    factory=keyword_factory(Dedupe),
    name="Dedupe",
    category="core",
    description="Let each value through once by a key; repairs the retried taint",
    inputs=(PortDoc("in", ANY_VALUE, "Any value"),),
    outputs=(
        PortDoc("out", ANY_VALUE, "Values whose key was not seen before"),
        PortDoc("duplicates", ANY_VALUE, "Values whose key was seen before"),
    ),
    config_schema=strict_object(
        {
            "key": {
                **EXPRESSION_TEXT,
                "description": "JavaScript expression of `value` giving its key, e.g. 'value.id'",
            },
            "remember": {
                "type": "integer",
                "minimum": 1,
                "description": f"Keys kept, oldest forgotten first (default {DEFAULT_REMEMBER})",
            },
        },
    ),
)
"""The dedupe component."""
