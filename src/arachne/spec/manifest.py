"""The manifest of a graph document: built from the document, its edges named by what they join.

The manifest itself (records, canonical JSON, digest, reading back, diff) is
:mod:`arachne.model.manifest`; this module builds one from a document and a registry.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from arachne.model.flatten import flatten
from arachne.model.manifest import Manifest, manifest_of
from arachne.spec.build import build

if TYPE_CHECKING:
    from arachne.components.registry import Registry
    from arachne.spec.document import GraphDocument

__all__ = ["document_manifest"]


def document_manifest(doc: GraphDocument, registry: Registry) -> Manifest:
    """Return the manifest of the graph ``doc`` describes, built from ``registry``.

    An edge the author gave no id is named by what it joins (``big.out->double.in``), not by
    the ``e<n>`` its position got: moving it in the text does not change the manifest.
    """
    flat = flatten(build(doc, registry))
    named = {
        edge.id: f"{edge.source.node}.{edge.source.port}->{edge.target.node}.{edge.target.port}"
        for edge in doc.edges
        if edge.generated
    }
    made = manifest_of(flat.graph, registry=registry, instances=flat.instances, name=doc.name)
    edges = tuple(
        sorted(
            (replace(edge, id=named.get(edge.id, edge.id)) for edge in made.edges),
            key=lambda e: e.id,
        )
    )
    return replace(made, edges=edges)
