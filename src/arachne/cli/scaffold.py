"""``arachne new``: write a node or subgraph module and its passing test."""

from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from arachne.cli.templates import NODE_MODULE, NODE_TEST, SUBGRAPH_MODULE, SUBGRAPH_TEST

__all__ = ["Names", "names_for", "scaffold"]

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_TAKEN = frozenset({"arachne", "collect", "test", "tests", "conftest", "pytest"})


@dataclass(frozen=True, slots=True)
class Names:
    """The names one scaffold uses: ``Foo`` gives class ``Foo``, module ``foo``."""

    cls: str
    module: str
    function: str
    title: str


def names_for(name: str) -> Names:
    """Return the names for ``name`` (``OrderParser``, ``order-parser``, ``order_parser``).

    Raises ``ValueError`` naming the fix when ``name`` cannot become a Python identifier.
    """
    words = [w for w in re.split(r"[-_\s]+|(?<=[a-z0-9])(?=[A-Z])", name.strip()) if w]
    if not words or not all(_WORD.fullmatch(w) for w in words):
        raise ValueError(
            f"name {name!r} must be words of letters and digits, starting with a letter "
            "(e.g. OrderParser or order-parser)"
        )
    module = "_".join(w.lower() for w in words)
    if keyword.iskeyword(module):
        raise ValueError(f"name {name!r} gives the module name {module!r}, a Python keyword")
    if module in sys.stdlib_module_names or module in _TAKEN:
        raise ValueError(
            f"name {name!r} gives the module name {module!r}, which would shadow a module or "
            "a name the generated test uses; pick a more specific name"
        )
    cls = "".join(w[:1].upper() + w[1:] for w in words)
    return Names(cls=cls, module=module, function=f"build_{module}", title=" ".join(words))


def _arachne_root(directory: Path) -> bool:
    """Whether ``directory`` is the root of a project whose own package is ``arachne``."""
    return (directory / "pyproject.toml").is_file() and (directory / "src" / "arachne").is_dir()


def scaffold(kind: str, name: str, directory: Path, *, force: bool = False) -> list[Path]:
    """Write ``<module>.py`` and ``test_<module>.py`` for a ``node`` or ``subgraph``.

    Returns the paths written. Existing files are kept (``FileExistsError``) unless ``force``.
    """
    templates = {"node": (NODE_MODULE, NODE_TEST), "subgraph": (SUBGRAPH_MODULE, SUBGRAPH_TEST)}
    if kind not in templates:
        raise ValueError(f"cannot scaffold {kind!r}; choose 'node' or 'subgraph'")
    names = names_for(name)
    module, test = templates[kind]
    values = {
        "cls": names.cls,
        "module": names.module,
        "function": names.function,
        "title": names.title,
        # isort puts a first-party import in a group of its own, after third-party ones;
        # at the root of Arachne's own repository, arachne is first-party too: one group.
        "gap": "" if _arachne_root(directory) else "\n",
    }
    files = {
        directory / f"{names.module}.py": module.substitute(values),
        directory / f"test_{names.module}.py": test.substitute(values),
    }
    if not force:
        taken = [str(path) for path in files if path.exists()]
        if taken:
            raise FileExistsError(f"{', '.join(taken)} already exist(s); pass --force to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        path.write_text(text, encoding="utf-8")
    return list(files)
