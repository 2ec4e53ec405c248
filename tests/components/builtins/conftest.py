"""Fixtures for the built-in component tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.components.builtins.http_server import LocalServer


@pytest.fixture
def server() -> Iterator[LocalServer]:
    """A fresh HTTP server on 127.0.0.1 (a free port), stopped after the test."""
    with LocalServer() as running:
        yield running
