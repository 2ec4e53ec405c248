"""The public surface: sorted ``__all__``, every name resolves, every public name documented."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from types import ModuleType

import pytest

import arachne

MODULES = sorted(
    name
    for _, name, _ in pkgutil.walk_packages(arachne.__path__, prefix="arachne.")
    if not name.rsplit(".", 1)[-1].startswith("_")
)


def isort_key(name: str) -> tuple[int, str]:
    """Constants, then classes, then functions, as ruff's RUF022 sorts ``__all__``."""
    if name.isupper():
        return (0, name)
    return (1, name) if name[0].isupper() else (2, name)


def public_modules() -> list[ModuleType]:
    return [arachne, *(importlib.import_module(name) for name in MODULES)]


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_all_is_sorted_and_resolves(module: ModuleType) -> None:
    names = getattr(module, "__all__", None)
    assert names is not None, f"{module.__name__} has no __all__"
    assert list(names) == sorted(names, key=isort_key), f"{module.__name__}.__all__ is not sorted"
    for name in names:
        assert hasattr(module, name), f"{module.__name__}.{name} does not resolve"


@pytest.mark.parametrize("module", public_modules(), ids=lambda m: m.__name__)
def test_every_public_name_has_a_docstring(module: ModuleType) -> None:
    assert module.__doc__, f"module {module.__name__} has no docstring"
    for name in module.__all__:
        obj = getattr(module, name)
        if not (inspect.isclass(obj) or inspect.isfunction(obj)):
            continue
        assert inspect.getdoc(obj), f"{module.__name__}.{name} has no docstring"
        if inspect.isclass(obj):
            for attr, member in vars(obj).items():
                if attr.startswith("_"):
                    continue
                target = member.fget if isinstance(member, property) else member
                if inspect.isfunction(target) or isinstance(member, classmethod | staticmethod):
                    func = target.__func__ if hasattr(target, "__func__") else target
                    assert inspect.getdoc(func), f"{obj.__qualname__}.{attr} has no docstring"


def test_the_blueprint_import_path_works() -> None:
    from arachne.core import Message, Node, PortSpec, Scheduler, Subgraph  # noqa: F401

    assert Scheduler is arachne.Runtime
