"""The process-global registries share one shape (`tessera.registry`): a name registered twice is refused with
DuplicateName naming the kind of thing and the name, `replace=True` replaces, and an unknown name looked up strictly
raises KeyError("unknown <what> '<name>'")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tessera.actions import ActionType, action_type, action_types
from tessera.actions import register as register_action_type
from tessera.actions import registry as actions_registry
from tessera.formula import Function, sig
from tessera.formula.functions import registry as functions
from tessera.meta import dependencies as deps
from tessera.meta.fieldtypes import FieldType, field_type, field_types
from tessera.meta.fieldtypes import base as fieldtypes_base
from tessera.meta.fieldtypes import register as register_field_type
from tessera.registry import DuplicateName, Registry

# -- the generic registry -------------------------------------------------------------------


def test_register_returns_the_item_and_lookups_find_it() -> None:
    colours: Registry[int] = Registry("colour")
    assert colours.register("red", 1) == 1
    assert colours.get("red") == 1 and colours["red"] == 1
    assert "red" in colours and "blue" not in colours and 7 not in colours
    assert list(colours) == ["red"] and len(colours) == 1 and colours.as_dict() == {"red": 1}


def test_a_duplicate_name_raises_duplicate_name_naming_the_kind_and_the_name() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    with pytest.raises(DuplicateName, match=r"^colour 'red' is already registered$"):
        colours.register("red", 2)
    assert colours["red"] == 1


def test_duplicate_name_is_a_value_error() -> None:
    assert issubclass(DuplicateName, ValueError)


def test_replace_true_replaces() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    assert colours.register("red", 2, replace=True) == 2
    assert colours["red"] == 2 and len(colours) == 1


def test_an_unknown_name_raises_key_error_naming_the_kind_and_the_name() -> None:
    colours: Registry[int] = Registry("colour")
    with pytest.raises(KeyError) as raised:
        colours["mauve"]
    assert raised.value.args == ("unknown colour 'mauve'",)
    assert colours.get("mauve") is None


def test_unregister_removes_a_name_and_ignores_an_unknown_one() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    colours.unregister("red")
    colours.unregister("red")
    assert "red" not in colours
    colours.register("red", 3)
    assert colours["red"] == 3


def test_a_key_function_normalises_every_name_and_messages_quote_the_normalised_name() -> None:
    words: Registry[str] = Registry("word", key=str.upper)
    words.register("hello", "hi")
    assert words["Hello"] == "hi" and words.get("HELLO") == "hi" and "hElLo" in words
    assert list(words) == ["HELLO"]
    with pytest.raises(DuplicateName, match=r"^word 'HELLO' is already registered$"):
        words.register("Hello", "hey")
    with pytest.raises(KeyError) as raised:
        words["bye"]
    assert raised.value.args == ("unknown word 'BYE'",)
    words.unregister("hello")
    assert len(words) == 0


def test_listings_are_copies_the_registry_does_not_share() -> None:
    colours: Registry[int] = Registry("colour")
    colours.register("red", 1)
    names = iter(colours)
    copy = colours.as_dict()
    colours.register("blue", 2)
    copy["green"] = 3
    assert list(names) == ["red"]
    assert colours.as_dict() == {"red": 1, "blue": 2}


# -- formula functions ----------------------------------------------------------------------


def _function(name: str, doc: str = "test") -> Function:
    return Function(name, "test", f"{name}(n)", doc, sig("number", returns="number"), python=lambda n: n)


def test_a_duplicate_formula_function_raises_duplicate_name() -> None:
    with pytest.raises(DuplicateName, match=r"^function 'LOWER' is already registered$"):
        functions.register(_function("lower"))
    assert functions.get("LOWER") is not None and functions.get("LOWER").python_inline == "lower"  # type: ignore[union-attr]


def test_a_formula_function_registered_with_replace_true_replaces() -> None:
    functions.register(_function("TEST_TWICE", "first"))
    try:
        functions.register(_function("test_twice", "second"), replace=True)
        assert functions.get("Test_Twice").doc == "second"  # type: ignore[union-attr]
        assert functions.all_functions()["TEST_TWICE"].doc == "second"
    finally:
        functions.unregister("TEST_TWICE")
    assert functions.get("TEST_TWICE") is None


# -- field types ----------------------------------------------------------------------------


@pytest.fixture
def forget_field_types() -> Iterator[list[str]]:
    """Names of test field types to remove again, so other tests see only the real ones."""
    names: list[str] = []
    yield names
    for name in names:
        fieldtypes_base._REGISTRY.unregister(name)


def test_a_duplicate_field_type_raises_duplicate_name() -> None:
    built_in = field_type("text")
    with pytest.raises(DuplicateName, match=r"^field type 'text' is already registered$"):

        @register_field_type
        class Shadow(FieldType):
            name = "text"
            label = "Shadow"

    assert field_type("text") is built_in


def test_a_field_type_registered_with_replace_true_replaces(forget_field_types: list[str]) -> None:
    forget_field_types.append("test_stars")

    @register_field_type
    class Stars(FieldType):
        name = "test_stars"
        label = "Stars"

    @register_field_type(replace=True)
    class BetterStars(FieldType):
        name = "test_stars"
        label = "Better stars"

    assert isinstance(field_type("test_stars"), BetterStars)
    assert field_types()["test_stars"].label == "Better stars"
    assert Stars.label == "Stars"  # the decorator hands back the class itself


def test_an_unknown_field_type_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError) as raised:
        field_type("no_such_type")
    assert raised.value.args == ("unknown field type 'no_such_type'",)


# -- actions --------------------------------------------------------------------------------


class _Shout(ActionType):
    name = "notify"
    label = "Shout"

    def run(self, step: Any, ctx: Any) -> dict[str, Any]:
        return {"shouted": True}


def test_a_duplicate_action_raises_duplicate_name() -> None:
    built_in = action_type("notify")
    with pytest.raises(DuplicateName, match=r"^action 'notify' is already registered$"):
        register_action_type(_Shout())
    assert action_type("notify") is built_in


def test_an_action_registered_with_replace_true_replaces() -> None:
    built_in = action_type("notify")
    assert built_in is not None
    shout = _Shout()
    try:
        assert register_action_type(shout, replace=True) is shout
        assert action_type("notify") is shout and action_types()["notify"] is shout
    finally:
        register_action_type(built_in, replace=True)
    assert action_type("notify") is built_in


def test_an_unknown_action_is_none_and_the_registry_is_one_for_both_engines() -> None:
    assert action_type("no_such_action") is None
    assert actions_registry.register is register_action_type


# -- dependency-graph references --------------------------------------------------------------


def _no_references(doc: Any) -> list[deps.Reference]:
    return []


def _other_rewrite(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
    doc["rewritten"] = True


@pytest.fixture
def forget_reference_kinds() -> Iterator[list[str]]:
    """Document kinds of test references to remove again."""
    kinds: list[str] = []
    yield kinds
    for kind in kinds:
        deps._EXTRACTORS.pop(kind, None)


def test_a_duplicate_reference_with_another_rewriter_raises_duplicate_name(
        forget_reference_kinds: list[str]) -> None:
    forget_reference_kinds.append("test_kind")
    with pytest.raises(DuplicateName, match=r"^reference 'lookup_target' is already registered$"):
        deps.register("test_kind", "lookup_target", _no_references, _other_rewrite)
    assert deps._EXTRACTORS.get("test_kind") is None  # nothing of a refused registration stays


def test_a_reference_registered_again_with_the_same_rewriter_is_fine(forget_reference_kinds: list[str]) -> None:
    forget_reference_kinds.append("test_kind")
    deps.register("test_kind", "test_shared_via", _no_references, _other_rewrite)
    deps.register("test_kind", "test_shared_via", _no_references, _other_rewrite)
    try:
        doc: dict[str, Any] = {}
        deps.rewrite(doc, deps.Reference("test_shared_via", "p", "deal"), deps.Rename("deal", "a", "b", True))
        assert doc == {"rewritten": True}
    finally:
        deps._REWRITERS.unregister("test_shared_via")


def test_a_reference_registered_with_replace_true_replaces(forget_reference_kinds: list[str]) -> None:
    forget_reference_kinds.append("test_kind")

    def first(doc: dict[str, Any], ref: deps.Reference, rename: deps.Rename) -> None:
        doc["by"] = "first"

    deps.register("test_kind", "test_replaced_via", _no_references, first)
    try:
        deps.register("test_kind", "test_replaced_via", _no_references, _other_rewrite, replace=True)
        doc: dict[str, Any] = {}
        deps.rewrite(doc, deps.Reference("test_replaced_via", "p", "deal"), deps.Rename("deal", "a", "b", True))
        assert doc == {"rewritten": True}
    finally:
        deps._REWRITERS.unregister("test_replaced_via")


def test_rewriting_an_unknown_reference_raises_key_error_naming_it() -> None:
    with pytest.raises(KeyError) as raised:
        deps.rewrite({}, deps.Reference("no_such_via", "p", "deal"), deps.Rename("deal", "a", "b", True))
    assert raised.value.args == ("unknown reference 'no_such_via'",)

