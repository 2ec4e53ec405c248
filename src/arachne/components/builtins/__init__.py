"""The built-in components, registered by :meth:`arachne.components.Registry.default`."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from arachne.components.definition import ComponentDefinition

__all__ = ["BUILTINS"]

BUILTINS: tuple[ComponentDefinition, ...] = ()
"""Every built-in definition, in the order ``arachne components`` lists them."""
