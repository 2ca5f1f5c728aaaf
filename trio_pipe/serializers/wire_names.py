"""The closed registry of wire names: the only way a ``__type__`` tag becomes a class.

Pipecat resolves a tag by importing the module named on the wire. trio_pipe never does:
a tag is looked up in a :class:`WireRegistry`, and an unknown one is an error. The default
registry (:func:`default_registry`) holds the standard classes under Pipecat's names:

* every non-local message of :mod:`trio_pipe.bus.messages` as ``pipecat.bus.messages.<Class>``;
* ``WorkerRegistryEntry`` as ``pipecat.registry.types.WorkerRegistryEntry``;
* ``FrameDirection`` as ``pipecat.processors.frame_processor.FrameDirection``;
* ``bytes`` as ``bytes``;
* the frames of :mod:`trio_pipe.frames` as ``pipecat.frames.frames.<Class>``.

Applications add their own classes with :func:`register` (usable as a decorator), which
defaults the wire name to ``"<module>.<qualname>"``. Other trio_pipe modules register
theirs the same way at import (the UI carriers in ``trio_pipe.bus.ui`` use
``pipecat.bus.ui.messages.<Class>``).

Each registry owns a ``cattrs.Converter`` whose hooks for registered classes are the
functions that :mod:`trio_pipe.serializers.codegen` generates, kept by its
:class:`~trio_pipe.serializers.codec.Codec`. This module is the wire-name table (Pipecat
has none: it imports the module named on the wire); the serializer sits on top of it.
"""

from __future__ import annotations

import enum
import importlib
import inspect
from collections.abc import Callable, Iterable, Iterator
from typing import Any, TypeVar, overload

import attrs
import cattrs

from trio_pipe import frames
from trio_pipe.bus import messages
from trio_pipe.bus.messages import BusLocalMessage, WorkerRegistryEntry
from trio_pipe.processors import FrameDirection
from trio_pipe.serializers.codec import Codec
from trio_pipe.serializers.values import DEFAULT_MAX_DEPTH

__all__ = ["WireRegistry", "default_registry", "register"]

T = TypeVar("T", bound=type)

#: Frame fields that hold process-local objects; Pipecat writes nothing for them either.
_LOCAL_FRAME_FIELDS: dict[type, tuple[str, ...]] = {frames.ErrorFrame: ("processor", "exception")}


class WireRegistry:
    """Maps wire names to classes and back; owns the generated hooks for them."""

    def __init__(self, *, allow_nan: bool = False) -> None:
        #: Serializers using this registry write NaN and infinities as Pipecat does
        #: (``NaN``, ``Infinity``) instead of refusing them (unless told otherwise).
        self.allow_nan = allow_nan
        self._by_name: dict[str, type] = {}
        self._by_class: dict[type, str] = {}
        self._exclude: dict[type, frozenset[str]] = {}
        self.converter = cattrs.Converter()
        self.codec = Codec(self)
        self.converter.register_unstructure_hook_factory(
            self._is_registered_attrs, self._unstructure_factory
        )
        self.converter.register_structure_hook_factory(
            self._is_registered_attrs, self._structure_factory
        )

    # --- registration --------------------------------------------------------------------

    @overload
    def register(
        self, cls: T, wire_name: str | None = None, *, exclude: Iterable[str] = ()
    ) -> T: ...

    @overload
    def register(
        self, cls: None = None, wire_name: str | None = None, *, exclude: Iterable[str] = ()
    ) -> Callable[[T], T]: ...

    def register(
        self, cls: Any = None, wire_name: str | None = None, *, exclude: Iterable[str] = ()
    ) -> Any:
        """Register ``cls`` under ``wire_name`` (default ``"<module>.<qualname>"``).

        ``cls`` must be an attrs class or an ``Enum``. ``exclude`` names fields that are
        never written or read (process-local objects). Returns ``cls``, so this works as
        a decorator, bare or called: ``@register`` / ``@register(wire_name="app.Ping")``.

        Raises ValueError if the wire name or the class is already registered, and
        TypeError for a local message or a class the JSON codec cannot describe.
        """
        if cls is None or isinstance(cls, str):
            name = cls if isinstance(cls, str) else wire_name

            def decorate(c: T) -> T:
                return self.register(c, name, exclude=exclude)

            return decorate
        if not inspect.isclass(cls):
            raise TypeError(f"register() needs a class, got {cls!r}")
        if issubclass(cls, BusLocalMessage):
            raise TypeError(f"{cls.__qualname__} is a local message; it never goes on the wire")
        if not (attrs.has(cls) or issubclass(cls, enum.Enum) or cls is bytes):
            raise TypeError(f"{cls.__qualname__} is neither an attrs class nor an Enum")
        name = wire_name or f"{cls.__module__}.{cls.__qualname__}"
        if name in self._by_name:
            raise ValueError(
                f"wire name {name!r} is already registered for {self._by_name[name].__qualname__}"
            )
        if cls in self._by_class:
            raise ValueError(f"{cls.__qualname__} is already registered as {self._by_class[cls]!r}")
        excluded = frozenset(exclude)
        if excluded and attrs.has(cls):
            unknown = excluded - {a.name for a in attrs.fields(cls)}
            if unknown:
                raise ValueError(f"{cls.__qualname__} has no fields {sorted(unknown)}")
        self._by_name[name] = cls
        self._by_class[cls] = name
        self._exclude[cls] = excluded
        # A class seen (and rejected) before it was registered may have a cached hook.
        self.converter._unstructure_func.clear_cache()
        self.converter._structure_func.clear_cache()
        return cls

    def copy(self) -> WireRegistry:
        """A new registry with the same entries (fresh hooks), to extend in isolation."""
        other = WireRegistry(allow_nan=self.allow_nan)
        for cls, name in self._by_class.items():
            other.register(cls, name, exclude=self._exclude[cls])
        return other

    # --- lookups -------------------------------------------------------------------------

    def wire_name_of(self, cls: type) -> str | None:
        """The wire name of a registered class, else None."""
        return self._by_class.get(cls)

    def class_of(self, wire_name: str) -> type | None:
        """The class registered under ``wire_name``, else None. Never imports anything."""
        return self._by_name.get(wire_name)

    def excluded_fields(self, cls: type) -> frozenset[str]:
        """Fields of ``cls`` that never go on the wire."""
        return self._exclude.get(cls, frozenset())

    def __contains__(self, item: object) -> bool:
        return item in self._by_name or item in self._by_class

    def __iter__(self) -> Iterator[tuple[str, type]]:
        """Iterate over (wire name, class) pairs."""
        return iter(self._by_name.items())

    def __len__(self) -> int:
        return len(self._by_name)

    # --- cattrs hooks --------------------------------------------------------------------

    def _is_registered_attrs(self, tp: Any) -> bool:
        return isinstance(tp, type) and tp in self._by_class and attrs.has(tp)

    def _unstructure_factory(self, cls: type) -> Callable[[Any], Any]:
        return self.codec.make_encoder(cls)

    def _structure_factory(self, cls: type) -> Callable[[Any, Any], Any]:
        decoder = self.codec.make_decoder(cls)

        def structure(data: Any, _cls: Any) -> Any:
            return decoder(data, DEFAULT_MAX_DEPTH)

        structure.trio_pipe_decoder = decoder  # type: ignore[attr-defined]
        return structure


def _builtin_registry() -> WireRegistry:
    reg = WireRegistry()
    reg.register(bytes, "bytes")
    for name in messages.__all__:
        cls = getattr(messages, name)
        if (
            attrs.has(cls)
            and issubclass(cls, messages.BusMessage)
            and not issubclass(cls, BusLocalMessage)
        ):
            reg.register(cls, f"pipecat.bus.messages.{name}")
    reg.register(WorkerRegistryEntry, "pipecat.registry.types.WorkerRegistryEntry")
    reg.register(FrameDirection, "pipecat.processors.frame_processor.FrameDirection")
    for name in frames.__all__:
        cls = getattr(frames, name)
        if attrs.has(cls) and cls.__name__ == name:  # skip aliases (EndTaskFrame, ...)
            reg.register(
                cls,
                f"pipecat.frames.frames.{name}",
                exclude=_LOCAL_FRAME_FIELDS.get(cls, ()),
            )
    return reg


_DEFAULT = _builtin_registry()


def default_registry() -> WireRegistry:
    """The process-wide registry that serializers use unless given another."""
    return _DEFAULT


def register(cls: Any = None, wire_name: str | None = None, *, exclude: Iterable[str] = ()) -> Any:
    """Register a class in the default registry; see :meth:`WireRegistry.register`.

    For a module's own carriers, at import::

        @register("pipecat.bus.ui.messages.BusUIEventMessage")
        @attrs.define
        class BusUIEventMessage(BusUIDataMessage): ...
    """
    return _DEFAULT.register(cls, wire_name, exclude=exclude)


def _load_builtin_extensions() -> None:
    """Import trio_pipe's own modules that register standard classes at import.

    ``trio_pipe.bus.ui`` registers the UI carriers under ``pipecat.bus.ui.messages.*``,
    so that any process can decode them without having imported it. This is a fixed
    list of our own modules; nothing named on the wire is ever imported.

    Called at the end of ``trio_pipe/serializers/__init__.py``, once every public name of
    the package is bound, so such a module may import from the package or its modules.
    """
    for module in _BUILTIN_EXTENSIONS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


_BUILTIN_EXTENSIONS = ("trio_pipe.bus.ui",)
