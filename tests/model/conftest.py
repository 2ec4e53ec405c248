"""Fixtures for the model tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from arachne.model.node import Node
from tests.model.fakes import RecordingBinding


@pytest.fixture
def bind() -> Callable[[Node], RecordingBinding]:
    """Return a function that installs a fresh recorder on a node and returns the recorder."""

    def attach(node: Node) -> RecordingBinding:
        recorder = RecordingBinding()
        node._arachne_binding = recorder
        return recorder

    return attach
