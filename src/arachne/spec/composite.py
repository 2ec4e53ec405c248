"""Composition: a graph document registered as a component, usable as a node elsewhere."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Final

from arachne.components.definition import ComponentDefinition, PortDoc
from arachne.model.errors import SpecError
from arachne.spec.build import build
from arachne.spec.document import GraphDocument
from arachne.spec.limits import MAX_INCLUDE_DEPTH
from arachne.spec.topology import analyze

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from arachne.components.definition import Factory
    from arachne.components.registry import Registry
    from arachne.model.subgraph import Subgraph
    from arachne.spec.document import ExposedPortDoc

__all__ = ["register_document"]

_NO_CONFIG: Final[Mapping[str, Any]] = {"type": "object", "additionalProperties": False}

# The ids of the documents being built on this thread / task, outermost first: a document
# met again while it is being built would include itself for ever.
_BUILDING: ContextVar[tuple[str, ...]] = ContextVar("arachne_spec_building", default=())


def register_document(
    registry: Registry,
    doc: GraphDocument,
    *,
    id: str,  # the registry's name for a component id
    version: str | None = None,
    category: str = "composite",
) -> ComponentDefinition:
    """Register ``doc`` in ``registry`` as component ``id`` and return its definition.

    A node using ``id`` becomes a nested subgraph built from ``doc`` (with ``registry``'s
    components) each time a graph using it is built; its ports are the document's ``inputs``
    and ``outputs``, its node ids nest as ``parent/child``. It takes no config. ``version``
    defaults to the document's. A document that uses itself, directly or through other
    documents, raises ``SpecError`` (here if direct, else when built); a cycle in ``doc``
    raises here. An id already taken raises ``ValueError``, as ``Registry.register`` does.
    """
    if not isinstance(doc, GraphDocument):
        raise TypeError(f"register_document() takes a GraphDocument, got {type(doc).__name__}")
    for index, node in enumerate(doc.nodes):
        if node.component == id:
            raise SpecError(
                f"nodes[{index}].component: document {doc.name!r} uses itself ({id!r}); a "
                "document cannot contain itself, directly or through other documents"
            )
    analyze(doc)
    definition = ComponentDefinition(
        id=id,
        factory=_factory(registry, doc, id),
        name=doc.name,
        version=version or doc.version,
        category=category,
        description=doc.description or "",
        inputs=_ports(doc.inputs),
        outputs=_ports(doc.outputs),
        config_schema=_NO_CONFIG,
    )
    registry.register(definition)
    return definition


def _ports(exposed: Sequence[ExposedPortDoc]) -> tuple[PortDoc, ...]:
    docs: dict[str, PortDoc] = {}
    for port in exposed:  # an input exposed twice feeds both targets: one port
        docs.setdefault(port.name, PortDoc(port.name, {}, f"{port.node}:{port.port}"))
    return tuple(docs.values())


def _factory(registry: Registry, doc: GraphDocument, component_id: str) -> Factory:
    def build_document(config: Mapping[str, Any]) -> Subgraph:
        chain = _BUILDING.get()
        if component_id in chain:
            loop = " -> ".join([*chain[chain.index(component_id) :], component_id])
            raise SpecError(
                f"component {component_id!r} includes itself: {loop}; a document cannot "
                "contain itself, directly or through other documents"
            )
        if len(chain) >= MAX_INCLUDE_DEPTH:
            raise SpecError(
                f"component {component_id!r}: documents nest more than {MAX_INCLUDE_DEPTH} "
                f"levels deep ({' -> '.join(chain[:3])} -> ...); flatten some of them"
            )
        token = _BUILDING.set((*chain, component_id))
        try:
            return build(doc, registry)
        except SpecError as exc:
            raise SpecError(f"component {component_id!r}: {exc}", exc.issues) from None
        finally:
            _BUILDING.reset(token)

    return build_document
