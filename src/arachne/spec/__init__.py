"""Graph documents (JSON/YAML): parsing, checking, topology analysis and building.

A graph document declares nodes (by component id) and edges between their ports::

    doc = read_document("pipeline.yaml")   # or loads_document(text), parse_document(data)
    report = analyze(doc)                  # order, levels, inputs, outputs; cycles refused
    graph = build(doc)                     # a valid Subgraph, or one SpecError listing all

Every problem is a :class:`~arachne.model.errors.SpecError` whose message names the JSON
path, what was found and the fix. See ``docs/graph-documents.md``.
"""

from __future__ import annotations

from arachne.model.manifest import Manifest, manifest_of, subgraph_manifest
from arachne.spec.build import build, load
from arachne.spec.composite import register_document
from arachne.spec.document import (
    DEFAULT_CAPACITY,
    DEFAULT_VERSION,
    Dialect,
    EdgeDoc,
    ExposedPortDoc,
    GraphDocument,
    NodeDoc,
    PortRefDoc,
)
from arachne.spec.manifest import document_manifest
from arachne.spec.parse import parse_document
from arachne.spec.reading import (
    SUFFIXES,
    DocumentFormat,
    decode_text,
    loads_document,
    read_document,
)
from arachne.spec.schema import DOCUMENT_SCHEMA
from arachne.spec.topology import TopologyReport, analyze

__all__ = [
    "DEFAULT_CAPACITY",
    "DEFAULT_VERSION",
    "DOCUMENT_SCHEMA",
    "SUFFIXES",
    "Dialect",
    "DocumentFormat",
    "EdgeDoc",
    "ExposedPortDoc",
    "GraphDocument",
    "Manifest",
    "NodeDoc",
    "PortRefDoc",
    "TopologyReport",
    "analyze",
    "build",
    "decode_text",
    "document_manifest",
    "load",
    "loads_document",
    "manifest_of",
    "parse_document",
    "read_document",
    "register_document",
    "subgraph_manifest",
]
