"""A data root: every file name a config gives resolves inside it, or is refused by name."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arachne import SpecError
from arachne.components import Registry
from arachne.components.files import DataRoot, file_fields

PIECES = (
    "..",
    ".",
    "/",
    "//",
    "%2e",
    "%2E",
    "%2f",
    "%2F",
    "%252e",
    "%252f",
    "%00",
    "\x00",
    "\\",
    "%5c",
    "~",
    "-",
    "data",
    "a.jsonl",
    "out",
    "in",
    "deep/er",
    "é",
    " ",
    "%",
    "%%",
    "..%2f",
)
"""What the generated names are made of: the parts of every traversal trick, and plain ones."""


@pytest.fixture
def root(tmp_path: Path) -> DataRoot:
    """A root holding a file, a folder, a link inside and a link out of it."""
    inside = tmp_path / "root"
    (inside / "in").mkdir(parents=True)
    (inside / "a.jsonl").write_text("1\n")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("no\n")
    os.symlink(outside, inside / "out")
    os.symlink(inside / "in", inside / "data")
    return DataRoot(inside)


def check_confined(root: DataRoot, name: str) -> bool:
    """Return whether ``name`` was resolved (inside the root) rather than refused."""
    assert root.root is not None
    try:
        resolved = root.resolve(name)
    except SpecError as exc:
        refusal = str(exc)
    else:
        refusal = ""
    if refusal:
        assert refusal.startswith("path: ")  # names the field
        return False
    assert Path(resolved).is_absolute()
    assert Path(resolved).resolve().is_relative_to(root.root), (name, resolved)
    return True


def test_ten_thousand_generated_names_all_resolve_inside_the_root(root: DataRoot) -> None:
    rng = random.Random(14)
    names: set[str] = set()
    while len(names) < 10_000:
        names.add("".join(rng.choice(PIECES) for _ in range(rng.randint(1, 8))))
    resolved = sum(check_confined(root, name) for name in names)
    assert 0 < resolved < len(names)  # both outcomes were met, so the property was exercised


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, "x", "y"]), max_size=10).map("".join))
def test_any_name_resolves_inside_the_root(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> None:
    base = tmp_path_factory.getbasetemp() / "hypothesis-root"
    (base / "root").mkdir(parents=True, exist_ok=True)
    if not (base / "root" / "out").exists():
        (base / "elsewhere").mkdir(exist_ok=True)
        os.symlink(base / "elsewhere", base / "root" / "out")
    check_confined(DataRoot(base / "root"), name)


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("../etc/passwd", "climbs out with '..'"),
        ("in/../../x", "climbs out with '..'"),
        ("/etc/passwd", "is an absolute path"),
        ("%2e%2e/x", "climbs out with '..'"),
        ("%252e%252e%252fx", "climbs out with '..'"),
        ("..%2fx", "climbs out with '..'"),
        ("%2fetc%2fpasswd", "is an absolute path"),
        ("a\x00b", "NUL byte"),
        ("a%00b", "NUL byte"),
        ("..\\x", "backslash"),
        ("-", "standard input and output"),
        ("out/secret", "through a symbolic link"),
        ("out", "through a symbolic link"),
        ("", "expected a file name"),
        ("in", "is a folder"),
        (".", "is a folder"),
    ],
)
def test_each_trick_is_refused_with_its_reason(root: DataRoot, name: str, why: str) -> None:
    with pytest.raises(SpecError, match=why):
        root.resolve(name)


def test_a_loop_of_links_is_refused_not_a_crash(root: DataRoot) -> None:
    assert root.root is not None
    os.symlink(root.root / "loop", root.root / "loop")
    with pytest.raises(SpecError, match="'loop' cannot be resolved"):
        root.resolve("loop")


def test_names_inside_resolve_and_links_within_the_root_are_followed(root: DataRoot) -> None:
    assert root.root is not None
    assert root.resolve("a.jsonl") == str(root.root / "a.jsonl")
    assert root.resolve("./in/new.jsonl") == str(root.root / "in" / "new.jsonl")
    assert root.resolve("data/x") == str(root.root / "in" / "x")  # a link that stays inside


def test_without_a_root_no_file_is_given(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="sets DATA_ROOT"):
        DataRoot(None).resolve("a.jsonl")
    with pytest.raises(ValueError, match="is not a directory"):
        DataRoot(tmp_path / "nothing")


def test_a_confined_registry_resolves_file_fields_and_shares_definitions(root: DataRoot) -> None:
    registry = Registry.default()
    confined = registry.confined(root)
    source = confined.resolve("arachne.io.jsonl-source")
    assert file_fields(source.config_schema) == ["path"]
    node = confined.create("arachne.io.jsonl-source", {"path": "a.jsonl"}, where="nodes[0]")
    assert root.root is not None
    assert node.path == str(root.root / "a.jsonl")  # type: ignore[union-attr]
    with pytest.raises(SpecError, match=r"nodes\[0\]\.config\.path: .* climbs out"):
        confined.create("arachne.io.jsonl-sink", {"path": "../x"}, where="nodes[0]")
    local = registry.create("arachne.io.jsonl-sink", {"path": "-"})  # not confined: the user's
    assert local.path == "-"  # type: ignore[union-attr]
    assert len(confined) == len(registry)
