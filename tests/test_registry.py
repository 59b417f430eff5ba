"""The generic Registry."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mvlm.errors import ConfigError, DuplicateNameError, MvlmError, UnknownNameError
from mvlm.registry import Registry, config_field


def test_register_get_aliases_and_names():
    registry: Registry[int] = Registry("widget")

    @registry.register("alpha", aliases=("a", "first"))
    def alpha() -> int:
        return 1

    registry.register("beta", 2)
    assert registry.get("alpha") is alpha and registry.get("a") is alpha and registry.get("first") is alpha
    assert registry.get("beta") == 2
    assert registry.names() == ["alpha", "beta"]
    assert registry.aliases() == {"a": "alpha", "first": "alpha"}
    assert registry.canonical_name("first") == "alpha"
    assert "a" in registry and "gamma" not in registry and 3 not in registry
    assert list(registry) == ["alpha", "beta"] and len(registry) == 2


def test_lookup_is_exact():
    registry: Registry[int] = Registry("widget")
    registry.register("Alpha", 1)
    with pytest.raises(UnknownNameError, match="did you mean 'Alpha'"):
        registry.get("alpha")


def test_duplicates_raise_and_leave_the_registry_unchanged():
    registry: Registry[int] = Registry("widget")
    registry.register("alpha", 1, aliases=("a",))
    for name, aliases in (("alpha", ()), ("a", ()), ("new", ("a",)), ("new2", ("x", "x"))):
        with pytest.raises(DuplicateNameError):
            registry.register(name, 2, aliases=aliases)
    assert registry.names() == ["alpha"] and registry.aliases() == {"a": "alpha"}


def test_unknown_name_error_lists_close_matches_and_all_names():
    registry: Registry[int] = Registry("widget")
    for name in ("ldpnet", "ldpnetv2", "linear"):
        registry.register(name, 0)
    with pytest.raises(UnknownNameError) as info:
        registry.get("ldpnte")
    message = str(info.value)
    assert "unknown widget 'ldpnte'" in message and "'ldpnet'" in message
    assert "Known widget names: ldpnet, ldpnetv2, linear" in message
    assert isinstance(info.value, MvlmError) and isinstance(info.value, LookupError)


def test_patterns():
    registry: Registry[str] = Registry("widget")

    @registry.register_pattern(r"size(\d+)", display="size{N}", examples=("size2",))
    def sized(match):
        return f"built {match.group(1)}"

    assert registry.get("size12") == "built 12" and "size3" in registry
    assert registry.names() == ["size{N}"]
    with pytest.raises(DuplicateNameError, match="size\\{N\\}"):
        registry.register("size4", "x")
    with pytest.raises(UnknownNameError, match="size2"):
        registry.get("sise2")
    with pytest.raises(DuplicateNameError):
        registry.register_pattern(r"other", display="size{N}")(sized)


def test_unregister():
    registry: Registry[int] = Registry("widget")
    registry.register("alpha", 1, aliases=("a",))
    assert registry.unregister("alpha") == 1
    assert "a" not in registry and registry.names() == []
    with pytest.raises(UnknownNameError):
        registry.unregister("alpha")


def test_bad_names():
    registry: Registry[int] = Registry("widget")
    with pytest.raises(ConfigError):
        registry.register("", 1)


@given(st.lists(st.text(min_size=1, max_size=8), min_size=1, max_size=20, unique=True))
def test_every_registered_name_resolves_to_its_own_object(names):
    registry: Registry[int] = Registry("widget")
    for index, name in enumerate(names):
        registry.register(name, index)
    assert [registry.get(name) for name in names] == list(range(len(names)))
    assert registry.names() == sorted(names)


def test_build_calls_the_component_with_checked_arguments():
    registry: Registry = Registry("widget")

    @registry.register("pair", aliases=("couple",))
    def pair(first: int, second: int = 0, *, scale: int = 1) -> tuple[int, int]:
        return (first * scale, second * scale)

    assert registry.build("pair", 1, second=2) == (1, 2)
    assert registry.build("couple", 1, 2, scale=3) == (3, 6)
    with pytest.raises(
        ConfigError, match=r"widget 'pair' does not take options \['scael'\].*it accepts: second, scale"
    ):
        registry.build("pair", 1, scael=3)
    with pytest.raises(ConfigError, match="it accepts: first, second, scale"):
        registry.build("pair", size=3)
    with pytest.raises(UnknownNameError, match="did you mean 'pair'"):
        registry.build("pairs", 1)


def test_build_uses_pattern_families_and_refuses_what_cannot_be_called():
    registry: Registry = Registry("widget")

    @registry.register_pattern(r"times(\d+)", display="times{N}")
    def times(match):
        return lambda value: value * int(match.group(1))

    registry.register("constant", 3)
    assert registry.build("times4", 2) == 8
    with pytest.raises(ConfigError, match="it accepts: value"):
        registry.build("times4", valeu=2)
    with pytest.raises(
        ConfigError, match=r"registered as a int, which cannot be built; read it with get\('constant'\)"
    ):
        registry.build("constant")


def test_register_subclass_checks_the_base_class():
    class Widget:
        pass

    registry: Registry = Registry("widget")

    @registry.register_subclass("small", Widget, aliases=("tiny",))
    class Small(Widget):
        pass

    assert registry.get("tiny") is Small
    with pytest.raises(ConfigError, match=r"register_widget\('other'\) expects a subclass of my\.Widget, got"):
        registry.register_subclass("other", Widget, base_name="my.Widget")(int)
    with pytest.raises(DuplicateNameError):
        registry.register_subclass("small", Widget)(Small)
    assert registry.names() == ["small"]


def test_config_field_reads_objects_and_mappings():
    class Config:
        mm_projector_type = "ldpnet"

    for config in (Config(), {"mm_projector_type": "ldpnet"}):
        assert config_field(config, "mm_projector_type", needed_by="a projector") == "ldpnet"
        assert config_field(config, "mm_hidden_size", None, needed_by="a projector") is None
        with pytest.raises(ConfigError, match="the config has no 'mm_hidden_size' field, which a projector needs"):
            config_field(config, "mm_hidden_size", needed_by="a projector")
