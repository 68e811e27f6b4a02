"""A registry of parts by name, and the record of how each part was built (standard library only).

Every kind of part (image encoder, text encoder, tokenizer, fusion, dataset source) has one `Registry`.
It lives in `fusion` because `fusion` stands alone (it imports torch and nothing from `vqa`); `vqa` reuses it
through `vqa.registry`. Registering a class gives it a stable `name` and makes each instance remember its constructor arguments in
`init_args`, so a trained model can be rebuilt from plain JSON (`{"name": ..., "init_args": {...}}`) without
unpickling anything.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """Raised when a registry is asked for a name it does not hold."""

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to classes of one kind.

    Args:
        kind: what the registered classes are, used in error messages (e.g. "fusion").
        base: the contract every registered class must subclass.
    """

    def __init__(self, kind: str, base: type[T]) -> None:
        self.kind = kind
        self.base = base
        self._classes: dict[str, type[T]] = {}

    def register(self, name: str) -> Callable[[type[T]], type[T]]:
        """Class decorator: register `cls` under `name` and record its constructor arguments per instance."""

        def decorator(cls: type[T]) -> type[T]:
            if not issubclass(cls, self.base):
                raise TypeError(f"{cls.__qualname__} must subclass {self.base.__qualname__} to be a {self.kind}")
            if name in self._classes and self._classes[name] is not cls:
                raise ValueError(f"{self.kind} name {name!r} is already taken by {self._classes[name].__qualname__}")
            cls.name = name
            _record_init_args(cls)
            self._classes[name] = cls
            return cls

        return decorator

    def get(self, name: str) -> type[T]:
        """The class registered as `name` (a registered name or a class path such as `fusion.EarlyFusion`)."""
        if name in self._classes:
            return self._classes[name]
        for cls in self._classes.values():
            if name in (f"{cls.__module__}.{cls.__qualname__}", cls.__qualname__):
                return cls
        raise UnknownNameError(f"unknown {self.kind} {name!r}; expected one of: {', '.join(sorted(self._classes))}")

    def create(self, name: str, *args: Any, **kwargs: Any) -> T:
        """Build the part registered as `name`."""
        return self.get(name)(*args, **kwargs)

    def names(self) -> list[str]:
        """All registered names, sorted."""
        return sorted(self._classes)

    def __contains__(self, name: str) -> bool:
        return name in self._classes

    def __iter__(self):
        return iter(self.names())


def _record_init_args(cls: type) -> None:
    """Wrap `cls.__init__` so every instance keeps its bound constructor arguments in `init_args`.

    Only the outermost constructor records: a subclass calling `super().__init__(...)` keeps its own arguments.
    """
    if getattr(cls.__init__, "_records_init_args", False) and "__init__" not in cls.__dict__:
        return
    original = cls.__init__
    signature = inspect.signature(original)

    @functools.wraps(original)
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if "init_args" not in self.__dict__:
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            arguments = dict(bound.arguments)
            arguments.pop(next(iter(signature.parameters)))  # self
            for param in signature.parameters.values():  # flatten **kwargs into the record
                if param.kind is inspect.Parameter.VAR_KEYWORD:
                    arguments.update(arguments.pop(param.name, {}))
            object.__setattr__(self, "init_args", arguments)
        original(self, *args, **kwargs)

    __init__._records_init_args = True  # type: ignore[attr-defined]
    cls.__init__ = __init__  # type: ignore[method-assign]


def part_config(part: Any) -> dict[str, Any]:
    """The JSON-ready recipe of a registered part: `{"name": ..., "init_args": {...}}`."""
    if not hasattr(part, "init_args"):
        raise TypeError(f"{type(part).__qualname__} is not a registered part; register it to save it with a model")
    return {"name": type(part).name, "init_args": dict(part.init_args)}
