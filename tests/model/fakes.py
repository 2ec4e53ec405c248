"""Test doubles for the model tests."""

from __future__ import annotations

from typing import Any


class RecordingBinding:
    """Stands in for the runtime's binding (the ``NodeBinding`` protocol) and records calls."""

    def __init__(self) -> None:
        self.emitted: list[tuple[str, Any]] = []
        self.finished = 0

    def emit(self, port: str, value: object) -> None:
        self.emitted.append((port, value))

    def finish(self) -> None:
        self.finished += 1

    def payloads(self, port: str = "out") -> list[Any]:
        return [value for name, value in self.emitted if name == port]
