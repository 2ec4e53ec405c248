"""Validation of a subgraph: every problem, each named with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from arachne.model.error_record import ERROR_PORT
from arachne.model.flatten import ERROR_PORT_SPEC, exposed_specs, flow_pairs
from arachne.model.node import Node
from arachne.model.schema import compatible
from arachne.model.topology import find_cycles
from arachne.model.validation import Issue

if TYPE_CHECKING:
    from arachne.model.composition import Endpoint, SubgraphView
    from arachne.model.port import PortSpec

__all__ = ["check_subgraph"]


def check_subgraph(sub: SubgraphView) -> list[Issue]:
    """Return the issues of ``sub`` and everything nested in it, errors first."""
    issues = _check(sub, "")
    issues.extend(_cycles(sub))
    return sorted(issues, key=lambda issue: issue.severity != "error")


def _check(sub: SubgraphView, prefix: str) -> list[Issue]:
    issues: list[Issue] = []
    seen: set[str] = set()
    claimed: set[str] = set()  # former names, from renamed_from
    units: dict[str, Node | SubgraphView] = {}
    for member in sub.members:
        if member.id in seen:
            issues.append(
                Issue(
                    "error",
                    "duplicate-node",
                    f"two nodes are named {prefix + member.id!r}; pass name= to add_node() "
                    "to give one of them another name",
                    prefix + member.id,
                )
            )
        seen.add(member.id)
        units[member.id] = member.unit
        for old in member.renamed_from:
            why = "another node says so too" if old in claimed else "it is still taken"
            if old in claimed or any(other.id == old for other in sub.members):
                issues.append(
                    Issue(
                        "error",
                        "renamed-from-taken",
                        f"{prefix + member.id!r} says it was renamed from {prefix + old!r}, "
                        f"but {why}; "
                        "a name can be the former name of one node that no longer has it",
                        prefix + member.id,
                    )
                )
            claimed.add(old)
        if not isinstance(member.unit, Node):
            issues.extend(_check(member.unit, f"{prefix}{member.id}/"))
    ports = _Ports(units, prefix, issues)
    used_in: set[tuple[str, str]] = set()
    used_out: set[tuple[str, str]] = set()
    for conn in sub.connections:
        (src, src_port), (dst, dst_port) = conn.source, conn.target
        where = f"{prefix}{src}.{src_port} -> {prefix}{dst}.{dst_port}"
        out = ports.find(conn.source, "output", where)
        inp = ports.find(conn.target, "input", where)
        used_out.add(conn.source)
        used_in.add(conn.target)
        if out is not None and inp is not None and not compatible(out.adapter, inp.adapter):
            issues.append(
                Issue(
                    "error",
                    "incompatible-schema",
                    f"port {conn.source[1]!r} of node {prefix + conn.source[0]!r} emits "
                    f"{out.schema_name} but port {conn.target[1]!r} of node "
                    f"{prefix + conn.target[0]!r} expects {inp.schema_name}; add a map node "
                    "between them or change one of the schemas",
                    where,
                )
            )
    for name, endpoints in sub.exposed_inputs.items():
        for endpoint in endpoints:
            ports.find(endpoint, "input", f"exposed input {prefix}{name}")
            used_in.add(endpoint)
    for name, endpoint in sub.exposed_outputs.items():
        ports.find(endpoint, "output", f"exposed output {prefix}{name}")
        used_out.add(endpoint)
    issues.extend(ports.unconnected(used_in, used_out))
    return issues


class _Ports:
    """Looks up ports of a subgraph's members, recording what it cannot find."""

    def __init__(
        self, units: dict[str, Node | SubgraphView], prefix: str, issues: list[Issue]
    ) -> None:
        self.units, self.prefix, self.issues = units, prefix, issues
        self.specs: dict[tuple[str, str], dict[str, PortSpec] | None] = {}

    def all(self, name: str, direction: Literal["input", "output"]) -> dict[str, PortSpec] | None:
        key = (name, direction)
        if key not in self.specs:
            unit = self.units[name]
            try:
                if isinstance(unit, Node):
                    specs = (
                        unit.input_specs()
                        if direction == "input"
                        else {**unit.output_specs(), ERROR_PORT: ERROR_PORT_SPEC}
                    )
                else:
                    specs = exposed_specs(unit, direction)
            except (TypeError, ValueError) as exc:
                self.issues.append(
                    Issue("error", "bad-ports", f"node {self.prefix + name!r}: {exc}", name)
                )
                specs = None
            self.specs[key] = specs
        return self.specs[key]

    def find(
        self, endpoint: Endpoint, direction: Literal["input", "output"], where: str
    ) -> PortSpec | None:
        name, port = endpoint
        if name not in self.units:
            known = ", ".join(sorted(self.units)) or "none"
            self.issues.append(
                Issue(
                    "error",
                    "unknown-node",
                    f"{where}: unknown node {self.prefix + name!r}; add it with add_node() "
                    f"or fix the name (known nodes: {known})",
                    self.prefix + name,
                )
            )
            return None
        specs = self.all(name, direction)
        if specs is None:
            return None
        if port not in specs:
            known = ", ".join(sorted(specs)) or "none"
            self.issues.append(
                Issue(
                    "error",
                    "unknown-port",
                    f"{where}: node {self.prefix + name!r} has no {direction} port {port!r}; "
                    f"its {direction}s are: {known}",
                    f"{self.prefix}{name}.{port}",
                )
            )
            return None
        return specs[port]

    def unconnected(self, used_in: set[Endpoint], used_out: set[Endpoint]) -> list[Issue]:
        issues: list[Issue] = []
        sides: tuple[tuple[Literal["input", "output"], set[Endpoint]], ...] = (
            ("input", used_in),
            ("output", used_out),
        )
        for name, unit in self.units.items():
            if not isinstance(unit, Node):
                continue
            for direction, used in sides:
                for port in self.all(name, direction) or {}:
                    if (name, port) not in used and not (
                        direction == "output" and port == ERROR_PORT
                    ):
                        issues.append(
                            Issue(
                                "warning",
                                f"unconnected-{direction}",
                                f"{direction} port {port!r} of node {self.prefix + name!r} is "
                                "not connected; "
                                + (
                                    "it will never receive messages"
                                    if direction == "input"
                                    else "what it emits is counted and dropped"
                                ),
                                f"{self.prefix}{name}.{port}",
                            )
                        )
        return issues


def _cycles(sub: SubgraphView) -> list[Issue]:
    upstream: dict[str, set[str]] = {}
    for source, target in flow_pairs(sub):
        upstream.setdefault(source, set())
        upstream.setdefault(target, set()).add(source)
    return [
        Issue(
            "error",
            "cycle",
            f"cycle {' -> '.join(cycle)}; remove one of these links (a graph must be acyclic)",
            cycle[0],
        )
        for cycle in find_cycles(upstream)
    ]
