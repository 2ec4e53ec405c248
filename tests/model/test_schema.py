# No `from __future__ import annotations` here: under it, Python 3.11's TypedDict cannot see
# NotRequired[...] in a string annotation and counts the key as required.

import dataclasses
import typing
from typing import Any, Literal, NotRequired, Optional, TypedDict, Union

import pydantic
import pytest

from arachne.model.schema import (
    AnySchema,
    NamedSchema,
    SchemaAdapter,
    TypedDictSchema,
    TypeSchema,
    adapt,
    compatible,
)


class Movie(TypedDict):
    title: str
    year: int


class RatedMovie(TypedDict):
    title: str
    year: int
    rating: float


class Sketch(TypedDict, total=False):
    title: str
    year: int


class MaybeYear(TypedDict):
    title: str
    year: NotRequired[int]


class Scored(TypedDict):
    score: float


class IntScored(TypedDict):
    score: int


class Tagged(TypedDict):
    tags: list[int]


class Shelf(TypedDict):
    movie: Movie


@dataclasses.dataclass
class Point:
    x: int
    y: int


@dataclasses.dataclass
class Point3(Point):
    z: int = 0


class User(pydantic.BaseModel):
    name: str
    age: int


class Admin(User):
    level: int = 1


# -- any --------------------------------------------------------------------------------------


@pytest.mark.parametrize("schema", [None, Any, object, "any", "Any", "object", "*"])
def test_any_spellings_adapt_to_any(schema: object) -> None:
    adapter = adapt(schema)
    assert isinstance(adapter, AnySchema)
    assert adapter.name == "any"


def test_any_validates_everything_unchanged_and_accepts_everything() -> None:
    adapter = AnySchema()
    value = object()
    assert adapter.validate(value) is value
    assert adapter.accepts(TypeSchema(int))
    assert adapter.accepts(NamedSchema("acme.Order"))


def test_any_equality_and_hash() -> None:
    assert AnySchema() == AnySchema()
    assert hash(AnySchema()) == hash(AnySchema())
    assert AnySchema() != TypeSchema(object)


def test_union_with_any_member_is_any() -> None:
    assert isinstance(adapt(Optional[Any]), AnySchema)  # noqa: UP045
    assert isinstance(adapt(Union[int, Any]), AnySchema)  # noqa: UP007


# -- plain types and names --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("int", int),
        ("float", float),
        ("str", str),
        ("bool", bool),
        ("bytes", bytes),
        ("dict", dict),
        ("list", list),
        ("tuple", tuple),
        ("set", set),
    ],
)
def test_builtin_type_names_adapt_to_the_type(name: str, cls: type) -> None:
    adapter = adapt(name)
    assert adapter == TypeSchema(cls)
    assert adapter == adapt(cls)
    assert adapter.name == name


def test_class_adapts_to_type_schema_named_by_module_and_qualname() -> None:
    assert adapt(Point).name == f"{__name__}.Point"
    assert adapt(Point3).name == f"{__name__}.Point3"
    assert adapt(int).name == "int"


def test_int_validates_ints_and_bools_only() -> None:
    adapter = adapt(int)
    assert adapter.validate(3) == 3
    assert adapter.validate(True) is True
    with pytest.raises(TypeError, match="expected int, got float"):
        adapter.validate(1.5)
    with pytest.raises(TypeError, match="expected int, got str"):
        adapter.validate("3")


def test_float_accepts_an_int_value_converted_to_float() -> None:
    result = adapt(float).validate(3)
    assert result == 3.0
    assert type(result) is float
    assert adapt(float).validate(2.5) == 2.5


def test_float_rejects_bool_and_str() -> None:
    with pytest.raises(TypeError, match="expected float, got bool"):
        adapt(float).validate(True)
    with pytest.raises(TypeError, match="expected float, got str"):
        adapt(float).validate("1.0")


def test_type_compatibility_follows_subclassing_and_int_to_float() -> None:
    assert adapt(float).accepts(adapt(int))
    assert adapt(int).accepts(adapt(bool))
    assert adapt(Point).accepts(adapt(Point3))
    assert not adapt(int).accepts(adapt(float))
    assert not adapt(Point3).accepts(adapt(Point))
    assert not adapt(int).accepts(adapt(str))


def test_type_schema_does_not_accept_any_or_an_unrelated_name() -> None:
    assert not adapt(int).accepts(AnySchema())
    assert not adapt(int).accepts(NamedSchema("acme.Order"))


def test_type_schema_accepts_a_named_schema_with_its_name() -> None:
    assert adapt(Point).accepts(NamedSchema(f"{__name__}.Point"))
    assert adapt(int | str).accepts(NamedSchema("int | str"))


def test_type_schema_needs_a_class() -> None:
    with pytest.raises(TypeError, match="at least one class"):
        TypeSchema()


def test_type_schema_equality_ignores_class_order() -> None:
    assert TypeSchema(int, str) == TypeSchema(str, int)
    assert hash(TypeSchema(int, str)) == hash(TypeSchema(str, int))
    assert TypeSchema(int) != TypeSchema(int, str)
    assert TypeSchema(int) != NamedSchema("int")


@pytest.mark.parametrize(
    ("schema", "name"),
    [(list[int], "list"), (dict[str, int], "dict"), (typing.List[int], "list")],  # noqa: UP006
)
def test_parametrised_generics_check_their_origin_only(schema: object, name: str) -> None:
    adapter = adapt(schema)
    assert adapter.name == name
    empty = [] if name == "list" else {}
    assert adapter.validate(empty) is empty
    with pytest.raises(TypeError, match=f"expected {name}, got tuple"):
        adapter.validate(())


def test_other_strings_are_named_schemas() -> None:
    adapter = adapt("acme.Order")
    assert adapter == NamedSchema("acme.Order")
    assert adapter.name == "acme.Order"
    value = {"anything": 1}
    assert adapter.validate(value) is value


def test_named_schema_accepts_only_its_own_name() -> None:
    named = NamedSchema("acme.Order")
    assert named.accepts(NamedSchema("acme.Order"))
    assert not named.accepts(NamedSchema("acme.Invoice"))
    assert not named.accepts(AnySchema())
    assert NamedSchema("int").accepts(TypeSchema(int))


def test_named_schema_equality_and_hash() -> None:
    assert NamedSchema("a") == NamedSchema("a")
    assert hash(NamedSchema("a")) == hash(NamedSchema("a"))
    assert NamedSchema("a") != NamedSchema("b")
    assert NamedSchema("a") != "a"


# -- unions -----------------------------------------------------------------------------------


def test_union_validates_each_member_and_rejects_others() -> None:
    adapter = adapt(int | str)
    assert adapter.name == "int | str"
    assert adapter.validate(1) == 1
    assert adapter.validate("a") == "a"
    with pytest.raises(TypeError, match=r"expected int \| str, got float"):
        adapter.validate(1.5)


def test_pep604_and_typing_union_are_equal() -> None:
    assert adapt(int | str) == adapt(Union[int, str])  # noqa: UP007


def test_union_accepts_each_member_and_subsets() -> None:
    union = adapt(int | str)
    assert union.accepts(adapt(int))
    assert union.accepts(adapt(str))
    assert union.accepts(adapt(bool))
    assert union.accepts(adapt(str | int))
    assert not adapt(int).accepts(union)
    assert not union.accepts(adapt(bytes))


def test_optional_accepts_none() -> None:
    adapter = adapt(Optional[int])  # noqa: UP045
    assert adapter == adapt(int | None)
    assert adapter.name == "int | NoneType"
    assert adapter.validate(None) is None
    assert adapter.validate(4) == 4
    with pytest.raises(TypeError):
        adapter.validate("4")
    assert adapter.accepts(adapt(int))
    assert not adapt(int).accepts(adapter)


def test_float_union_converts_ints() -> None:
    result = adapt(float | None).validate(2)
    assert result == 2.0
    assert type(result) is float


def test_union_members_are_deduplicated_in_order() -> None:
    adapter = adapt(Union[int, str, int])  # noqa: UP007
    assert isinstance(adapter, TypeSchema)
    assert adapter.classes == (int, str)


# -- TypedDict --------------------------------------------------------------------------------


def test_typed_dict_adapter_names_required_keys_and_fields() -> None:
    adapter = adapt(Movie)
    assert isinstance(adapter, TypedDictSchema)
    assert adapter.name == f"{__name__}.Movie"
    assert adapter.required == {"title", "year"}
    assert adapter.fields == {"title": TypeSchema(str), "year": TypeSchema(int)}


def test_typed_dict_validates_a_matching_dict_unchanged() -> None:
    value = {"title": "Alien", "year": 1979, "extra": "kept"}
    assert adapt(Movie).validate(value) is value


def test_typed_dict_rejects_non_dicts() -> None:
    with pytest.raises(TypeError, match=r"expected .*Movie \(a dict\), got list"):
        adapt(Movie).validate([("title", "Alien")])


def test_typed_dict_names_every_missing_required_key() -> None:
    with pytest.raises(ValueError, match="Movie is missing key"):
        adapt(Movie).validate({})
    with pytest.raises(ValueError, match=r"missing key\(s\) title, year$"):
        adapt(Movie).validate({})
    with pytest.raises(ValueError, match=r"missing key\(s\) year$"):
        adapt(Movie).validate({"title": "Alien"})


def test_typed_dict_checks_values_naming_the_key() -> None:
    with pytest.raises(TypeError, match=r"Movie\['year'\]: expected int, got str"):
        adapt(Movie).validate({"title": "Alien", "year": "1979"})


def test_typed_dict_optional_keys_may_be_missing_but_are_checked_when_present() -> None:
    assert adapt(Sketch).validate({}) == {}
    assert adapt(MaybeYear).validate({"title": "Alien"}) == {"title": "Alien"}
    assert adapt(MaybeYear).required == {"title"}
    with pytest.raises(TypeError, match=r"\['year'\]"):
        adapt(MaybeYear).validate({"title": "Alien", "year": 1979.5})


def test_typed_dict_value_checks_are_shallow() -> None:
    # list[int] checks only that the value is a list.
    assert adapt(Tagged).validate({"tags": ["not", "ints"]}) == {"tags": ["not", "ints"]}
    with pytest.raises(TypeError, match=r"Tagged\['tags'\]: expected list, got tuple"):
        adapt(Tagged).validate({"tags": (1,)})


def test_typed_dict_field_of_typed_dict_is_checked() -> None:
    with pytest.raises(TypeError, match=r"Shelf\['movie'\]: .*Movie is missing key"):
        adapt(Shelf).validate({"movie": {"title": "Alien"}})


def test_typed_dict_accepts_itself_and_structural_supersets() -> None:
    assert adapt(Movie).accepts(adapt(Movie))
    assert adapt(Movie).accepts(adapt(RatedMovie))
    assert not adapt(RatedMovie).accepts(adapt(Movie))


def test_typed_dict_rejects_providers_whose_required_key_is_optional() -> None:
    assert not adapt(Movie).accepts(adapt(MaybeYear))
    assert not adapt(Movie).accepts(adapt(Sketch))
    assert adapt(MaybeYear).accepts(adapt(Movie))


def test_typed_dict_compares_required_field_types() -> None:
    assert adapt(Scored).accepts(adapt(IntScored))
    assert not adapt(IntScored).accepts(adapt(Scored))


def test_typed_dict_against_other_schemas() -> None:
    assert adapt(Movie).accepts(NamedSchema(f"{__name__}.Movie"))
    assert not adapt(Movie).accepts(NamedSchema("Movie"))
    assert not adapt(Movie).accepts(adapt(dict))
    assert not adapt(Movie).accepts(AnySchema())


def test_typed_dict_equality_is_by_class() -> None:
    assert adapt(Movie) == adapt(Movie)
    assert hash(adapt(Movie)) == hash(adapt(Movie))
    assert adapt(Movie) != adapt(RatedMovie)
    assert adapt(Movie) != NamedSchema(f"{__name__}.Movie")


# -- dataclasses and pydantic -----------------------------------------------------------------


def test_dataclass_validates_instances_and_subclasses() -> None:
    adapter = adapt(Point)
    point = Point(1, 2)
    assert adapter.validate(point) is point
    assert adapter.validate(Point3(1, 2, 3)) == Point3(1, 2, 3)


def test_dataclass_does_not_build_from_a_dict() -> None:
    with pytest.raises(TypeError, match=r"expected .*Point, got dict"):
        adapt(Point).validate({"x": 1, "y": 2})


def test_pydantic_model_validates_instances_unchanged() -> None:
    user = User(name="ada", age=36)
    assert adapt(User).validate(user) is user


def test_pydantic_model_is_built_from_a_dict() -> None:
    result = adapt(User).validate({"name": "ada", "age": "36"})
    assert result == User(name="ada", age=36)


def test_pydantic_model_reports_invalid_dicts_as_value_errors() -> None:
    with pytest.raises(ValueError, match="age"):
        adapt(User).validate({"name": "ada"})


def test_pydantic_model_rejects_non_dicts() -> None:
    with pytest.raises(TypeError, match=r"expected .*User, got list"):
        adapt(User).validate([("name", "ada")])


def test_pydantic_model_compatibility_follows_subclassing() -> None:
    assert adapt(User).accepts(adapt(Admin))
    assert not adapt(Admin).accepts(adapt(User))
    assert adapt(User).name == f"{__name__}.User"


# -- adapters, rejects, compatible -----------------------------------------------------------


@pytest.mark.parametrize("adapter", [AnySchema(), NamedSchema("x"), TypeSchema(int), adapt(Movie)])
def test_adapters_satisfy_the_protocol_and_pass_through(adapter: SchemaAdapter) -> None:
    assert isinstance(adapter, SchemaAdapter)
    assert adapt(adapter) is adapter


def test_custom_adapter_passes_through() -> None:
    class Even:
        name = "even"

        def validate(self, value: object) -> object:
            if not isinstance(value, int) or value % 2:
                raise ValueError(f"{value!r} is not even")
            return value

        def accepts(self, other: SchemaAdapter) -> bool:
            return other.name == "even"

    even = Even()
    assert adapt(even) is even
    assert adapt(even).name == "even"


def test_json_schema_dict_is_rejected_with_the_alternatives() -> None:
    with pytest.raises(TypeError, match="JSON Schema dicts are not accepted") as info:
        adapt({"type": "integer"})
    assert "use a Python type, TypedDict, dataclass or pydantic model" in str(info.value)


@pytest.mark.parametrize("garbage", [3, 2.5, [int], Literal["a"]])
def test_garbage_is_rejected_naming_the_value_and_the_choices(garbage: object) -> None:
    with pytest.raises(TypeError, match="as a port schema") as info:
        adapt(garbage)
    message = str(info.value)
    assert repr(garbage) in message
    assert "a type name such as 'int'" in message
    assert "None for any value" in message


def test_compatible_is_gradual_for_any_on_either_side() -> None:
    assert compatible(AnySchema(), adapt(int))
    assert compatible(adapt(int), AnySchema())
    assert compatible(AnySchema(), adapt(Movie))


def test_compatible_otherwise_asks_the_consumer() -> None:
    assert compatible(adapt(int), adapt(float))
    assert not compatible(adapt(float), adapt(int))
    assert compatible(adapt(RatedMovie), adapt(Movie))
    assert not compatible(adapt(Movie), adapt(RatedMovie))
