"""The primitive builder: a contract defined once, installed into any graph as ordinary nodes.

``Primitive.define(...)`` returns a frozen :class:`Contract`: the primitive's name and
version, its layer, the capabilities it ``requires`` and ``provides``, the state it owns, its
policy knobs, its failure semantics (one :class:`FailureRow` per case it claims to handle), its
maturity, an ``installer`` and its ``validation``. ``contract.fragment(name, **options)`` is
pure: it checks the options, runs the installer and returns a :class:`Fragment`, a nested
``Subgraph`` marked as the primitive (``model.primitive_mark``). ``contract.install(graph,
name, **options)`` adds that fragment to ``graph`` once the capabilities it requires are there,
and returns an :class:`Installed` whose ports are what ``graph.connect`` takes. Installed, a
primitive still reads as itself: the manifest lists it (``Manifest.primitives``), its wiring
checks run in ``Subgraph.validate`` before any execution, and the query plane reads its health.

Every contract defined is kept by name (:func:`contracts`), so ``arachne primitives`` lists
them and their documentation pages are generated from the contracts themselves
(:meth:`Contract.doc`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final, Literal, TypeVar

from arachne.model.errors import ArachneError
from arachne.model.node import Node
from arachne.model.policies import Retry, error_policy_to_data
from arachne.model.primitive_mark import Check, Health, PrimitiveMark, installed_primitives
from arachne.model.subgraph import Subgraph

__all__ = [
    "BASE_CAPABILITIES",
    "REQUIRED",
    "Contract",
    "FailureRow",
    "Fragment",
    "Installed",
    "Maturity",
    "Policy",
    "Primitive",
    "PrimitiveError",
    "contracts",
    "part",
]

Layer = Literal[
    "atom", "policy", "property", "capability", "local", "durable", "distributed", "application"
]
LAYERS: Final = (
    "atom",
    "policy",
    "property",
    "capability",
    "local",
    "durable",
    "distributed",
    "application",
)

FAILURE_CASES: Final = (
    "crash",
    "retry",
    "timeout",
    "duplicate",
    "stale_owner",
    "partition",
    "overload",
    "clock_skew",
    "cancel",
)
"""The failure cases a contract may speak to: the vision's six, overload, clock skew, and a
stop asked for on purpose (cancel)."""

BASE_CAPABILITIES: Final = frozenset(
    {"BoundedEdges", "Checkpoints", "ControlEdges", "RuntimeClock", "ErrorPolicies"}
)
"""What every Arachne graph provides, before any primitive is installed in it."""


class PrimitiveError(ArachneError, ValueError):
    """A primitive defined or installed wrongly; the message names the part and the fix."""


class Maturity(Enum):
    """How far a primitive has come, from a name to a stable contract (the vision's levels)."""

    NAMED = "named"  # documented, with its dependencies and intended contract
    INSTALLABLE = "installable"  # lowers into graph nodes, edges, stores and query
    VALIDATED = "validated"  # static checks reject invalid wiring and missing policies
    EXECUTABLE = "executable"  # tests run the installed primitive in real executions
    FAULT_TESTED = "fault-tested"  # each failure row has a simulation scenario over seeds
    STABLE = "stable"  # its contract and manifest form are under a compatibility policy


@dataclass(frozen=True, slots=True)
class FailureRow:
    """What the primitive does in one failure case, and the scenario that exercises it."""

    case: str  # one of FAILURE_CASES
    behaviour: str
    scenario: str = ""  # the test that checks it ("tests/...::test_name"); "" if none yet


@dataclass(frozen=True, slots=True)
class Policy:
    """One knob of a primitive: its name, default (``REQUIRED`` if it must be given), meaning.

    ``convert``, if given, turns a checked value into the one form the primitive keeps
    (``float`` for a rate: ``5`` and ``5.0`` are then the same option, digested alike).
    """

    name: str
    default: Any
    doc: str
    convert: Callable[[Any], Any] | None = field(default=None, compare=False)


REQUIRED: Final = object()
"""The default of a :class:`Policy` that must be given at installation."""

Installer = Callable[[str, Mapping[str, Any]], "Fragment"]
"""Lowers a primitive: its name and (checked) options to a :class:`Fragment`."""

Validation = Callable[[Mapping[str, Any]], Iterable[str]]
"""Checks installation options: yields each problem (with its fix), nothing if they are safe."""


@dataclass(frozen=True, slots=True)
class Fragment:
    """What an installer returns: the subgraph the primitive becomes, and how to read it.

    ``unit`` exposes the primitive's ports; ``checks`` are wiring checks over the whole graph
    it lands in (run by ``Subgraph.validate``); ``health`` reads its nodes for the query
    plane; ``provides`` adds capabilities these options bring (a store given: ``Durable``).
    """

    unit: Subgraph
    checks: tuple[Check, ...] = ()
    health: Health | None = None
    provides: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Installed:
    """A primitive installed in a graph: its name there and its contract; ports to connect."""

    name: str
    contract: Contract
    unit: Subgraph

    def __getitem__(self, port: str) -> tuple[str, str]:
        """Return ``(name, port)``: the endpoint ``graph.connect`` takes for ``port``."""
        if port not in self.unit.exposed_inputs and port not in self.unit.exposed_outputs:
            ports = sorted({*self.unit.exposed_inputs, *self.unit.exposed_outputs})
            raise KeyError(
                f"{self.contract.name} {self.name!r} has no port {port!r}; its ports: "
                f"{', '.join(ports)}"
            )
        return (self.name, port)

    def inner(self, port: str) -> tuple[str, str]:
        """Return the node and port inside that ``port`` is, by their ids in the run.

        What ``Execution.inject`` takes (``execution.inject(*switch.inner("control"), cmd)``),
        for a primitive installed at the top of the graph that runs.
        """
        self[port]  # (an unknown port is refused, naming the known ones)
        inputs = self.unit.exposed_inputs.get(port)
        node, inner = inputs[0] if inputs else self.unit.exposed_outputs[port]
        return (f"{self.name}/{node}", inner)


@dataclass(frozen=True)
class Contract:
    """A primitive defined once (see the module's text); frozen, and the source of its docs."""

    name: str
    version: int
    layer: Layer
    summary: str
    requires: tuple[str, ...]
    provides: tuple[str, ...]
    state: tuple[str, ...]
    policies: tuple[Policy, ...]
    failure_semantics: tuple[FailureRow, ...]
    maturity: Maturity
    installer: Installer = field(repr=False)
    validation: tuple[Validation, ...] = field(default=(), repr=False)

    def options(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """Return ``given`` over the policies' defaults, checked (``PrimitiveError`` if not)."""
        known = {policy.name: policy for policy in self.policies}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise PrimitiveError(
                f"{self.name} has no option {unknown[0]!r}; its options: "
                f"{', '.join(known) or 'none'}"
            )
        options = {name: given.get(name, policy.default) for name, policy in known.items()}
        missing = [name for name, value in options.items() if value is REQUIRED]
        if missing:
            raise PrimitiveError(
                f"{self.name} needs {', '.join(missing)}: "
                + "; ".join(f"{name}: {known[name].doc}" for name in missing)
            )
        problems = [problem for check in self.validation for problem in check(options)]
        if problems:
            raise PrimitiveError(f"{self.name}: " + "; ".join(problems))
        for name, policy in known.items():
            if policy.convert is not None:
                options[name] = policy.convert(options[name])
        return options

    def fragment(self, name: str, **given: Any) -> Fragment:
        """Return the primitive lowered under ``name`` with options ``given``; changes nothing."""
        options = self.options(given)
        fragment = self.installer(name, options)
        if not isinstance(fragment, Fragment):
            raise PrimitiveError(
                f"{self.name}'s installer returned {type(fragment).__name__}; it must return "
                "a Fragment"
            )
        fragment.unit.primitive = PrimitiveMark(
            contract=self.name,
            version=self.version,
            maturity=self.maturity.value,
            options=_shown(options),
            provides=tuple(sorted({*self.provides, *fragment.provides})),
            checks=fragment.checks,
            health=fragment.health,
        )
        return fragment

    def install(self, graph: Subgraph, name: str, **given: Any) -> Installed:
        """Add the primitive to ``graph`` as ``name``; return it, with its ports to connect.

        ``PrimitiveError`` if a capability it requires is missing from ``graph`` (named, with
        what would provide it) or an option is unsafe; nothing is added then.
        """
        missing = sorted(set(self.requires) - provided_by(graph))
        if missing:
            providers = {
                need: sorted(c.name for c in _CONTRACTS.values() if need in c.provides)
                for need in missing
            }
            raise PrimitiveError(
                f"{self.name} {name!r} requires "
                + "; ".join(
                    f"{need}, which nothing in the graph provides"
                    + (
                        f" (install {' or '.join(providers[need])} first)"
                        if providers[need]
                        else ""
                    )
                    for need in missing
                )
            )
        fragment = self.fragment(name, **given)
        graph.add_node(fragment.unit, name=name)
        return Installed(name, self, fragment.unit)

    def doc(self) -> str:
        """Return the primitive's documentation page (Markdown), made from the contract alone."""
        lines = [
            f"# {self.name}",
            "",
            "<!-- generated by `arachne primitives --docs`: edit the contract, not this page -->",
            "",
            self.summary,
            "",
            f"- **Contract:** `{self.name}@{self.version}`",
            f"- **Layer:** {self.layer}",
            f"- **Maturity:** {self.maturity.value}",
            f"- **Requires:** {_listed(self.requires)}",
            f"- **Provides:** {_listed(self.provides)}",
            f"- **State:** {_listed(self.state)}",
            "",
            "## Options",
            "",
            "| option | default | meaning |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| `{p.name}` | {'required' if p.default is REQUIRED else f'`{p.default!r}`'} "
            f"| {p.doc} |"
            for p in self.policies
        ]
        lines += [
            "",
            "## Failure semantics",
            "",
            "| case | behaviour | checked by |",
            "| --- | --- | --- |",
        ]
        lines += [
            f"| {row.case} | {row.behaviour} | "
            + (f"`{row.scenario}` |" if row.scenario else "not yet |")
            for row in self.failure_semantics
        ]
        return "\n".join(lines) + "\n"


class Primitive:
    """Where primitives are defined: ``Primitive.define(...)`` (see the module's text)."""

    @staticmethod
    def define(
        name: str,
        layer: Layer,
        requires: Iterable[str],
        provides: Iterable[str],
        state: Iterable[str],
        policies: Iterable[Policy],
        failure_semantics: Iterable[FailureRow],
        installer: Installer,
        validation: Iterable[Validation] = (),
        *,
        maturity: Maturity = Maturity.NAMED,
        version: int = 1,
        summary: str = "",
    ) -> Contract:
        """Return the frozen contract of primitive ``name``; ``PrimitiveError`` names a fault.

        A name is defined once per process (a second definition with another contract is
        refused). Maturity ``fault-tested`` or above needs a scenario on every failure row.
        """
        if not name.isidentifier():
            raise PrimitiveError(f"primitive name {name!r}: use a name like RateLimiter")
        if layer not in LAYERS:
            raise PrimitiveError(f"{name}: layer {layer!r} is not one of {', '.join(LAYERS)}")
        rows = tuple(failure_semantics)
        for row in rows:
            if row.case not in FAILURE_CASES:
                raise PrimitiveError(
                    f"{name}: failure case {row.case!r} is not one of {', '.join(FAILURE_CASES)}"
                )
        order = list(Maturity)
        if order.index(maturity) >= order.index(Maturity.FAULT_TESTED):
            bare = [row.case for row in rows if not row.scenario]
            if bare or not rows:
                raise PrimitiveError(
                    f"{name}: maturity {maturity.value} needs a scenario on every failure row; "
                    f"{'none has rows' if not rows else 'missing on ' + ', '.join(bare)}"
                )
        contract = Contract(
            name=name,
            version=version,
            layer=layer,
            summary=summary,
            requires=tuple(requires),
            provides=tuple(provides),
            state=tuple(state),
            policies=tuple(policies),
            failure_semantics=rows,
            maturity=maturity,
            installer=installer,
            validation=tuple(validation),
        )
        known = _CONTRACTS.get(name)
        if known is not None and _described(known) != _described(contract):
            raise PrimitiveError(
                f"primitive {name!r} is already defined (version {known.version}, from "
                f"{known.installer.__module__}) with another contract; give this one another "
                "name"
            )
        _CONTRACTS[name] = contract
        return contract


_CONTRACTS: dict[str, Contract] = {}


N = TypeVar("N", bound=Node)


def part(nodes: Mapping[str, Node], name: str, kind: type[N]) -> N:
    """Return the node ``name`` of a primitive's ``nodes`` (a health reader's), as ``kind``."""
    node = nodes[name]
    if not isinstance(node, kind):
        raise TypeError(f"a primitive's {name!r} is a {kind.__name__}, not {type(node).__name__}")
    return node


def contracts() -> list[Contract]:
    """Return every contract defined in this process, by name."""
    return [_CONTRACTS[name] for name in sorted(_CONTRACTS)]


def provided_by(graph: Subgraph) -> set[str]:
    """Return the capabilities ``graph`` provides: the base ones and its primitives'."""
    found = set(BASE_CAPABILITIES)
    for _, mark in installed_primitives(graph):
        found.update(mark.provides)
    return found


def _listed(names: tuple[str, ...]) -> str:
    return ", ".join(f"`{name}`" for name in names) if names else "nothing"


def _described(contract: Contract) -> tuple[Any, ...]:
    """Return what a contract says, leaving out the functions that carry it out."""
    return (
        contract.name,
        contract.version,
        contract.layer,
        contract.summary,
        contract.requires,
        contract.provides,
        contract.state,
        tuple((p.name, repr(p.default), p.doc) for p in contract.policies),
        contract.failure_semantics,
        contract.maturity,
    )


def _shown(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return ``options`` as JSON data, what the manifest digests; the same for the same options.

    Error policies as their data (``{"retry": {...}}``); a value with a ``to_data()`` (a
    window's kind) as what that returns; other values JSON cannot hold by their module and
    qualified name, never by an address.
    """
    shown: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Retry):
            shown[key] = error_policy_to_data(value)
            continue
        to_data = getattr(value, "to_data", None)
        if callable(to_data) and not isinstance(value, type):
            shown[key] = to_data()
            continue
        try:
            json.dumps(value)
            shown[key] = value
        except (TypeError, ValueError):
            name = getattr(value, "__qualname__", None) or type(value).__qualname__
            shown[key] = f"{getattr(value, '__module__', '')}.{name}"
    return shown
