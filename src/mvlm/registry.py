"""A small generic registry: names (and aliases) mapped to components.

One :class:`Registry` instance exists per kind of component (projectors, vision towers,
conversation templates, benchmarks...). Components register themselves with a decorator where they
are defined, and configs refer to them by name::

    PROJECTORS = Registry("projector")

    @PROJECTORS.register("my_proj", aliases=("mine",))
    class MyProjector(Projector): ...

    PROJECTORS.get("mine") is MyProjector   # True

Families whose names follow a pattern (``mlp2x_gelu``, ``mlp3x_gelu``, ...) register a factory
with :meth:`Registry.register_pattern`; the factory receives the regular-expression match.

:meth:`Registry.build` looks a name up and calls what is registered, after checking the keyword
options against its signature, so every factory (``create_projector``, ``create_vision_tower``...)
reports a misspelt option the same way::

    PROJECTORS.build("ldpnet", 1024, 2048, strides=2)
    # ConfigError: projector 'ldpnet' does not take options ['strides'] (...); it accepts: stride
"""

from __future__ import annotations

import difflib
import inspect
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast, overload

from mvlm.errors import ConfigError, DuplicateNameError, UnknownNameError

__all__ = ["Registry", "config_field"]

T = TypeVar("T")
C = TypeVar("C", bound=type)


@dataclass(frozen=True)
class _PatternEntry(Generic[T]):
    regex: re.Pattern[str]
    display: str
    examples: tuple[str, ...]
    factory: Callable[[re.Match[str]], T]


class Registry(Generic[T]):
    """Names and aliases mapped to components of one kind.

    Args:
        kind: What the registry holds, in words (``"projector"``); used in error messages.

    Lookups are exact (case-sensitive). An unknown name raises
    :class:`~mvlm.errors.UnknownNameError` listing the closest known names; registering a name or
    alias that is taken raises :class:`~mvlm.errors.DuplicateNameError`.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._aliases: dict[str, str] = {}
        self._patterns: list[_PatternEntry[T]] = []

    # ----------------------------------------------------------------------------- registering
    @overload
    def register(self, name: str, *, aliases: tuple[str, ...] | list[str] = ()) -> Callable[[T], T]: ...

    @overload
    def register(self, name: str, obj: T, *, aliases: tuple[str, ...] | list[str] = ()) -> T: ...

    def register(self, name: str, obj: Any = None, *, aliases: tuple[str, ...] | list[str] = ()) -> Any:
        """Register ``obj`` under ``name`` (and ``aliases``); usable as a decorator.

        Args:
            name: The canonical name, as configs spell it.
            obj: The component. Leave it out to use ``register`` as a decorator.
            aliases: Other names that resolve to the same component.

        Returns:
            ``obj`` itself (or a decorator that registers and returns its argument).

        Raises:
            DuplicateNameError: ``name`` or one of ``aliases`` is already registered.
        """
        if obj is None:

            def decorator(component: T) -> T:
                self._add(name, component, tuple(aliases))
                return component

            return decorator
        self._add(name, obj, tuple(aliases))
        return obj

    def register_subclass(
        self, name: str, base: type, *, aliases: tuple[str, ...] | list[str] = (), base_name: str = ""
    ) -> Callable[[C], C]:
        """A class decorator that registers a subclass of ``base`` under ``name`` (and ``aliases``).

        The decorators of the component kinds (``register_projector``, ``register_vision_tower``) are
        made with it, so every one refuses a class of the wrong kind the same way.

        Args:
            name: The canonical name, as configs spell it.
            base: The class every component of this registry derives from.
            aliases: Other names that resolve to the same class.
            base_name: How error messages name ``base`` (default: its module and class name).

        Returns:
            A decorator that registers its class and returns it unchanged.

        Raises:
            ConfigError: (when decorating) The object is not a subclass of ``base``.
            DuplicateNameError: (when decorating) ``name`` or one of ``aliases`` is already registered.
        """
        caller = "register_" + self.kind.replace(" ", "_")
        label = base_name or f"{base.__module__}.{base.__qualname__}"

        def decorator(cls: C) -> C:
            if not (isinstance(cls, type) and issubclass(cls, base)):
                raise ConfigError(f"{caller}('{name}') expects a subclass of {label}, got {cls!r}")
            self._add(name, cast("T", cls), tuple(aliases))
            return cls

        return decorator

    def register_pattern(
        self, pattern: str, *, display: str, examples: tuple[str, ...] = ()
    ) -> Callable[[Callable[[re.Match[str]], T]], Callable[[re.Match[str]], T]]:
        """Register a factory for every name that fully matches ``pattern``.

        Args:
            pattern: A regular expression; a name must match it entirely (``re.fullmatch``).
            display: How the family is listed, for example ``"mlp{N}x_gelu"``.
            examples: Concrete names of the family, offered as suggestions for misspelt names.

        Returns:
            A decorator taking ``factory(match) -> component``.
        """
        regex = re.compile(pattern)

        def decorator(factory: Callable[[re.Match[str]], T]) -> Callable[[re.Match[str]], T]:
            for existing in self._patterns:
                if existing.display == display:
                    raise DuplicateNameError(f"{self.kind} name pattern '{display}' is already registered")
            self._patterns.append(_PatternEntry(regex, display, tuple(examples), factory))
            return factory

        return decorator

    def unregister(self, name: str) -> T:
        """Remove ``name`` (a canonical name) and its aliases; returns the removed component."""
        if name not in self._entries:
            raise UnknownNameError(self._unknown_message(name))
        for alias in [a for a, target in self._aliases.items() if target == name]:
            del self._aliases[alias]
        return self._entries.pop(name)

    def _add(self, name: str, obj: T, aliases: tuple[str, ...]) -> None:
        for key in (name, *aliases):
            if not isinstance(key, str) or not key:
                raise ConfigError(f"{self.kind} names must be non-empty strings, got {key!r}")
            if key in self._entries or key in self._aliases:
                owner = self._aliases.get(key, key)
                raise DuplicateNameError(
                    f"{self.kind} name '{key}' is already registered (to '{owner}'); "
                    "pick another name, or unregister the existing one first"
                )
            for entry in self._patterns:
                if entry.regex.fullmatch(key):
                    raise DuplicateNameError(
                        f"{self.kind} name '{key}' is taken by the registered family '{entry.display}'"
                    )
        if len(set(aliases) | {name}) != len(aliases) + 1:
            raise DuplicateNameError(f"{self.kind} '{name}': repeated name among its aliases {aliases}")
        self._entries[name] = obj
        for alias in aliases:
            self._aliases[alias] = name

    # ----------------------------------------------------------------------------- looking up
    def get(self, name: str) -> T:
        """Return the component registered as ``name`` (a canonical name, an alias, or a pattern match).

        Raises:
            UnknownNameError: Nothing is registered under ``name``; the message lists close matches.
        """
        canonical = self._aliases.get(name, name)
        if canonical in self._entries:
            return self._entries[canonical]
        if isinstance(name, str):
            for entry in self._patterns:
                match = entry.regex.fullmatch(name)
                if match:
                    return entry.factory(match)
        raise UnknownNameError(self._unknown_message(name))

    def build(self, name: str, *args: Any, **options: Any) -> Any:
        """Build the component registered as ``name``: call it with ``args`` and ``options``.

        The arguments are checked against the registered callable's signature before it is called,
        so an option it does not take is reported as such, with the options it does take.

        Args:
            name: A canonical name, an alias, or a name of a registered family (see :meth:`get`).
            *args: Positional arguments, passed first (sizes, a config...).
            **options: Keyword options of that component.

        Returns:
            What the registered callable returns.

        Raises:
            UnknownNameError: Nothing is registered under ``name``; the message lists close matches.
            ConfigError: What is registered cannot be called, or does not take these arguments; the
                message names the options it accepts.

        Example:
            >>> widgets = Registry("widget")
            >>> _ = widgets.register("pair", lambda first, second=0: (first, second))
            >>> widgets.build("pair", 1, second=2)
            (1, 2)
        """
        factory: Any = self.get(name)
        if not callable(factory):
            raise ConfigError(
                f"{self.kind} '{name}' is registered as a {type(factory).__name__}, which cannot be built; "
                f"read it with get('{name}') instead"
            )
        try:
            signature = inspect.signature(factory)
        except (TypeError, ValueError):  # no signature to check (some builtins): the call itself checks
            return factory(*args, **options)
        try:
            signature.bind(*args, **options)
        except TypeError as error:
            accepted = _keyword_parameters(signature, skip=len(args))
            raise ConfigError(
                f"{self.kind} '{name}' does not take options {sorted(options)} ({error}); "
                f"it accepts: {', '.join(accepted) or 'no options'}"
            ) from None
        return factory(*args, **options)

    def canonical_name(self, name: str) -> str:
        """Return the canonical name for ``name`` (resolving aliases; pattern names are their own)."""
        self.get(name)
        return self._aliases.get(name, name)

    def names(self) -> list[str]:
        """Sorted canonical names, followed by the display form of each pattern family."""
        return sorted(self._entries) + [entry.display for entry in self._patterns]

    def aliases(self) -> dict[str, str]:
        """A copy of the alias table: ``{alias: canonical name}``."""
        return dict(self._aliases)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name in self._entries or name in self._aliases:
            return True
        return any(entry.regex.fullmatch(name) for entry in self._patterns)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._entries))

    def __len__(self) -> int:
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={self.names()})"

    def _unknown_message(self, name: object) -> str:
        known = [*self._entries, *self._aliases]
        for entry in self._patterns:
            known.extend(entry.examples)
        text = str(name)
        close = difflib.get_close_matches(text, known, n=4, cutoff=0.5)
        close += [k for k in known if k.lower() == text.lower() and k not in close]
        message = f"unknown {self.kind} '{name}'"
        if close:
            message += "; did you mean " + ", ".join(f"'{c}'" for c in close) + "?"
        message += f" Known {self.kind} names: {', '.join(self.names()) or '(none)'}"
        return message


def _keyword_parameters(signature: inspect.Signature, skip: int) -> list[str]:
    """Names of the parameters an option can set, less the first ``skip`` positional ones (given as arguments)."""
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = []
    for parameter in signature.parameters.values():
        if parameter.kind in positional and skip > 0:
            skip -= 1
        elif parameter.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY):
            names.append(parameter.name)
    return names


def config_field(config: Mapping[str, Any] | Any, key: str, default: Any = ..., *, needed_by: str) -> Any:
    """The field ``key`` of a config: an attribute of a config object, or an item of a mapping of its fields.

    The builders that read a component's registered name and options from a model config
    (:class:`~mvlm.projectors.AutoProjector`, :class:`~mvlm.vision.AutoVisionTower`) read them with it.

    Args:
        config: A config object (``MobileVLMConfig``...) or a mapping of its fields.
        key: The field.
        default: What a missing field reads as; leave it out for a required field.
        needed_by: What needs the field, in words, for the error message (``"a projector"``).

    Raises:
        ConfigError: A required field is missing.

    Example:
        >>> config_field({"mm_projector_type": "ldpnet"}, "mm_projector_type", needed_by="a projector")
        'ldpnet'
    """
    value = config.get(key, default) if isinstance(config, Mapping) else getattr(config, key, default)
    if value is ...:
        raise ConfigError(f"the config has no '{key}' field, which {needed_by} needs")
    return value
