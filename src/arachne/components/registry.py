"""The component registry: ids and aliases to definitions, config checked before building."""

from __future__ import annotations

import difflib
import importlib
import inspect
import logging
import typing
from collections.abc import Iterable, Iterator, Mapping
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any, Final, Protocol

from arachne.components.config import check_config
from arachne.components.definition import ComponentDefinition
from arachne.components.files import DataRoot
from arachne.components.ports import port_docs
from arachne.model.errors import SpecError
from arachne.model.node import Node

if TYPE_CHECKING:
    from arachne.components.definition import Factory
    from arachne.model.subgraph import Subgraph

__all__ = ["ENTRY_POINT_GROUP", "CodeLoader", "Registry"]

ENTRY_POINT_GROUP: Final = "arachne.components"
"""Installed packages add components by naming an object in this entry-point group."""

log = logging.getLogger("arachne.components")

CODE_REFUSED: Final = (
    "code components are refused unless enabled, since they run third-party code: run with "
    "--allow-code (the service: ARACHNE_ALLOW_CODE=true; Python: "
    "arachne.components.code.enable_code(registry))"
)


class CodeLoader(Protocol):
    """Turns a code component's JSON definition into a definition (``components.code``)."""

    def definition(self, data: object, *, where: str) -> ComponentDefinition:
        """Return the checked definition, or raise ``ValueError`` naming the field at fault."""
        ...


class Registry:
    """Component definitions by id and alias.

    :meth:`default` holds the built-ins plus every installed entry point; a new ``Registry()``
    starts empty, which is what tests and embedding applications usually want.
    """

    def __init__(self, definitions: Iterable[ComponentDefinition] = ()) -> None:
        self._by_id: dict[str, ComponentDefinition] = {}
        self._names: dict[str, str] = {}
        self.files: DataRoot | None = None  # where file names in configs must lead (if set)
        self.code: CodeLoader | None = None  # code components are refused while unset
        for definition in definitions:
            self.register(definition)

    def confined(self, root: DataRoot) -> Registry:
        """Return a view of this registry whose configs name files inside ``root`` only.

        It shares the definitions: what is registered on either is seen by both.
        """
        view = Registry()
        view._by_id, view._names = self._by_id, self._names
        view.files, view.code = root, self.code
        return view

    def add_code(
        self, data: object, *, where: str = "component", replace: bool = False
    ) -> ComponentDefinition:
        """Register the code component ``data`` defines (JSON); refused unless code is enabled.

        Raises ``SpecError`` naming the field at fault (or how to enable code components).
        """
        if self.code is None:
            raise SpecError(f"{where}: {CODE_REFUSED}")
        try:
            definition = self.code.definition(data, where=where)
        except ValueError as exc:
            raise SpecError(str(exc)) from None
        try:
            self.register(definition, replace=replace)
        except ValueError as exc:
            raise SpecError(f"{where}.id: {exc}") from None
        return definition

    def with_code(self, items: Iterable[object], *, where: str = "components") -> Registry:
        """Return a view of this registry plus the code components ``items`` define.

        What the view registers stays in the view; an id already registered is refused
        (unless it is the same definition, registered before).
        """
        view = Registry()
        view._by_id, view._names = dict(self._by_id), dict(self._names)
        view.files, view.code = self.files, self.code
        for index, data in enumerate(items):
            at = f"{where}[{index}]"
            if view.code is None:
                raise SpecError(f"{at}: {CODE_REFUSED}")
            try:
                definition = view.code.definition(data, where=at)
            except ValueError as exc:
                raise SpecError(str(exc)) from None
            known = view._names.get(definition.id)
            if known is not None and view._by_id[known].document == definition.document:
                continue  # the same component, added before (``arachne components add``)
            if definition.id in view._names:
                raise SpecError(
                    f"{at}.id: {definition.id!r} is already a component (a different one); "
                    "give this document's component another id"
                )
            view.register(definition)
        return view

    @classmethod
    def default(cls) -> Registry:
        """Return a new registry with the built-ins and the installed entry points."""
        from arachne.components.builtins import BUILTINS  # lazy: built-ins pull in httpx

        registry = cls(BUILTINS)
        registry.load_entry_points()
        return registry

    def register(self, definition: ComponentDefinition, *, replace: bool = False) -> None:
        """Add ``definition``; an id or alias already taken raises unless ``replace``."""
        if not isinstance(definition, ComponentDefinition):
            raise TypeError(f"expected a ComponentDefinition, got {type(definition).__name__}")
        names = (definition.id, *definition.aliases)
        if not replace:
            for name in names:
                if name in self._names:
                    raise ValueError(
                        f"component id {name!r} is already registered (by "
                        f"{self._names[name]!r}); pick another id or pass replace=True"
                    )
        elif definition.id in self._by_id:
            self.unregister(definition.id)
        self._by_id[definition.id] = definition
        for name in names:
            self._names[name] = definition.id

    def register_node(
        self,
        cls: type[Node],
        *,
        id: str,
        version: str = "1.0.0",
        category: str = "custom",
        description: str = "",
        config_schema: Mapping[str, Any] | None = None,
        aliases: tuple[str, ...] = (),
        keywords: bool = False,
    ) -> ComponentDefinition:
        """Register a ``Node`` subclass as a component; its ports are read from the class.

        The node is built as ``cls(config=config)``, or with ``keywords`` as ``cls(**config)``.
        """
        if not (isinstance(cls, type) and issubclass(cls, Node)):
            raise TypeError(f"register_node expects a Node subclass, got {cls!r}")
        try:
            probe = cls()
        except TypeError:  # an __init__ with required arguments: ports from the class alone
            probe = cls.__new__(cls)
        definition = ComponentDefinition(
            id=id,
            factory=_keyword_factory(cls) if keywords else _class_factory(cls),
            name=cls.__name__,
            version=version,
            category=category,
            description=description or _first_line(cls.__doc__),
            inputs=port_docs(probe.input_specs()),
            outputs=port_docs(probe.output_specs()),
            config_schema=config_schema if config_schema is not None else {"type": "object"},
            aliases=aliases,
        )
        self.register(definition)
        return definition

    def unregister(self, component_id: str) -> None:
        """Remove a component and its aliases; unknown ids raise ``KeyError``."""
        definition = self._by_id.pop(self.resolve(component_id).id)
        for name in (definition.id, *definition.aliases):
            self._names.pop(name, None)

    def resolve(self, component_id: str, *, where: str = "component") -> ComponentDefinition:
        """Return the definition for an id or alias, or raise ``SpecError`` naming ``where``."""
        key = self._names.get(component_id) if isinstance(component_id, str) else None
        if key is None:
            text = str(component_id)
            hint = difflib.get_close_matches(text, list(self._names), n=3) or [
                name for name in self._by_id if name.rsplit(".", 1)[-1] == text
            ]
            module, colon, _ = text.partition(":")
            if hint:
                fix = f"did you mean {', '.join(map(repr, hint))}?"
            elif colon and module:
                fix = (
                    f"a class of module {module!r}: load it with `--components {module}` "
                    "(Registry.load_module from Python)"
                )
            else:
                fix = (
                    "see `arachne components`; a Node class of your own in module M is "
                    "component 'M:Class' once M is loaded (`arachne run --components M`)"
                )
            raise SpecError(f"{where}: unknown component {component_id!r}; {fix}")
        return self._by_id[key]

    def create(
        self, component_id: str, config: Mapping[str, Any] | None = None, *, where: str = "node"
    ) -> Node | Subgraph:
        """Check ``config`` against the component's schema and build a node from it."""
        definition = self.resolve(component_id, where=f"{where}.component")
        checked = self.check(definition, config or {}, where=f"{where}.config")
        try:
            return definition.factory(checked)
        except (ValueError, TypeError) as exc:
            if isinstance(exc, SpecError):
                raise
            raise SpecError(f"{where}.config: {exc}") from exc

    def check(
        self, definition: ComponentDefinition, config: object, *, where: str = "config"
    ) -> dict[str, Any]:
        """Return ``config`` checked against ``definition``'s schema, defaults filled in.

        In a :meth:`confined` view its file names are resolved inside the data root too.
        """
        checked = check_config(definition.config_schema, config, where=where)
        if self.files is not None:
            checked = self.files.confine(definition.config_schema, checked, where=where)
        return checked

    def load_entry_points(self, group: str = ENTRY_POINT_GROUP) -> int:
        """Register what installed packages name in ``group``; return how many were added.

        An entry point names a ``ComponentDefinition``, an iterable of them, or a callable
        that takes the registry. A broken entry point is logged and skipped, so one bad
        package cannot take the built-ins down with it.
        """
        added = 0
        for point in entry_points(group=group):
            try:
                added += self._add_loaded(point.load())
            except Exception:
                log.exception("component entry point %r could not be loaded; skipped", point.name)
        return added

    def load_module(self, name: str) -> list[str]:
        """Import module ``name`` and register the node classes it defines; return their ids.

        Each public ``Node`` subclass defined in the module (``@node`` functions included)
        becomes the component ``name:Class``, built with its config as keyword arguments; a
        module that holds ``COMPONENTS`` (definitions, as for an entry point) registers those
        instead. The module is found on ``sys.path`` (the command line puts the working
        directory there). Importing a module runs its code: load only modules you trust.
        """
        if not name or not all(part.isidentifier() for part in name.split(".")):
            raise SpecError(
                f"--components {name!r}: expected a module name such as my_nodes or pkg.nodes"
            )
        try:
            module = importlib.import_module(name)
        except ImportError as exc:
            missing = getattr(exc, "name", None)
            if missing is not None and name != missing and not name.startswith(f"{missing}."):
                raise SpecError(
                    f"--components {name!r}: the module was found but importing it failed: "
                    f"{exc}; install what it needs"
                ) from exc
            raise SpecError(
                f"--components {name!r}: cannot import it ({exc}); run from the folder that "
                "holds it, or put that folder on PYTHONPATH"
            ) from exc
        listed = getattr(module, "COMPONENTS", None)
        if listed is not None:
            before = set(self._by_id)
            self._add_loaded(listed)
            return sorted(set(self._by_id) - before)
        ids = []
        # A copy: building a class may add to the module (a warning registry, a global).
        for attr, cls in list(vars(module).items()):
            if not (
                isinstance(cls, type)
                and issubclass(cls, Node)
                and cls.__module__ == module.__name__
                and not attr.startswith("_")
            ):
                continue
            try:
                definition = self.register_node(
                    cls, id=f"{name}:{attr}", keywords=True, config_schema=signature_schema(cls)
                )
            except SpecError:
                raise
            except Exception as exc:
                raise SpecError(
                    f"--components {name!r}: class {attr} could not be loaded: "
                    f"{type(exc).__name__}: {exc}"
                ) from exc
            if not (definition.inputs or definition.outputs):  # a shared base: no component
                self.unregister(definition.id)
                continue
            ids.append(definition.id)
        if not ids:
            raise SpecError(
                f"--components {name!r}: the module defines no Node class (nor COMPONENTS)"
            )
        return ids

    def _add_loaded(self, obj: object) -> int:
        if isinstance(obj, ComponentDefinition):
            self.register(obj)
            return 1
        if callable(obj):
            before = len(self._by_id)
            obj(self)
            return len(self._by_id) - before
        if isinstance(obj, Iterable):
            items = list(obj)
            for item in items:
                self.register(item)
            return len(items)
        raise TypeError(f"entry point gave {type(obj).__name__}, not a ComponentDefinition")

    def __contains__(self, component_id: object) -> bool:
        return component_id in self._names

    def __iter__(self) -> Iterator[ComponentDefinition]:
        return iter(sorted(self._by_id.values(), key=lambda d: (d.category, d.id)))

    def __len__(self) -> int:
        return len(self._by_id)


def _class_factory(cls: type[Node]) -> Factory:
    def build(config: Mapping[str, Any]) -> Node:
        return cls(config=config)

    return build


_JSON_TYPES: Final[dict[object, str]] = {
    int: "integer",
    float: "number",
    str: "string",
    bool: "boolean",
    list: "array",
    dict: "object",
}


def signature_schema(cls: type[Node]) -> dict[str, Any]:
    """Return a config schema from ``cls.__init__``'s keyword parameters.

    Each parameter is a config key (required if it has no default); a plain annotation
    (``int``, ``float``, ``str``, ``bool``, ``list``, ``dict``, or one of them ``| None``)
    gives the key's JSON type. Unknown keys are refused, so a misspelt one is named, with
    the keys there are, before the node is built. A ``**kwargs`` parameter allows any key.
    """
    try:
        signature = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return {"type": "object"}
    try:
        hints = typing.get_type_hints(cls.__init__)
    except Exception:  # an annotation that does not resolve: keys without types
        hints = {}
    properties: dict[str, Any] = {}
    required = []
    closed = True
    for param in list(signature.parameters.values())[1:]:  # past self
        if param.kind is param.VAR_KEYWORD:
            closed = False
            continue
        if param.kind not in (param.POSITIONAL_OR_KEYWORD, param.KEYWORD_ONLY):
            continue
        spec: dict[str, Any] = {}
        kind = _json_type(hints.get(param.name))
        if kind is not None:
            spec["type"] = kind
        if param.default is param.empty:
            required.append(param.name)
        elif param.default is None or isinstance(param.default, int | float | str | bool):
            spec["default"] = param.default
        properties[param.name] = spec
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    return schema


def _json_type(hint: object) -> str | list[str] | None:
    if hint in _JSON_TYPES:
        return _JSON_TYPES[hint]
    args = typing.get_args(hint)
    if len(args) == 2 and type(None) in args:
        other = next(arg for arg in args if arg is not type(None))
        if other in _JSON_TYPES:
            return [_JSON_TYPES[other], "null"]
    return None


def _keyword_factory(cls: type[Node]) -> Factory:
    def build(config: Mapping[str, Any]) -> Node:
        return cls(**config)

    return build


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n", 1)[0]
