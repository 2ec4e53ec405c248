"""Components: the registry of reusable nodes, the built-ins and the expression engine.

A component is a node factory registered under a namespaced id (``arachne.core.map``) with its
ports, a JSON Schema for its config, a version and a category. Graph documents name components
by id; :class:`Registry` resolves ids and aliases and checks config before building a node.
"""

from __future__ import annotations

from arachne.components.definition import CATEGORIES, ComponentDefinition, PortDoc
from arachne.components.registry import ENTRY_POINT_GROUP, Registry

__all__ = ["CATEGORIES", "ENTRY_POINT_GROUP", "ComponentDefinition", "PortDoc", "Registry"]
