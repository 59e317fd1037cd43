"""One mechanism to map YAML names to classes: objectives, students, augmenters."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")


class Registry(Generic[T]):
    """A name -> class map filled by a ``@registry.register("name")`` decorator.

    ``listing`` and ``prefix_match`` shape :meth:`suggest`: the words before the list of names, and
    whether a shared prefix (``lr_rate`` -> ``lr``) counts as close when the spelling is not.
    """

    def __init__(self, kind: str, *, listing: str = "allowed: ", prefix_match: bool = True) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}
        self._listing = listing
        self._prefix_match = prefix_match

    def register(self, name: str) -> Callable[[T], T]:
        def add(item: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._items[name] = item
            return item

        return add

    def get(self, name: str) -> T | None:
        return self._items.get(name)

    def name_of(self, item: object) -> str | None:
        """The name ``item`` is registered under (each item is registered once), or None."""
        return next((n for n, i in self._items.items() if i is item), None)

    def names(self) -> list[str]:
        return sorted(self._items)

    def suggest(self, name: str) -> str:
        """A did-you-mean hint, or the list of allowed names."""
        from distill.core.schema import did_you_mean  # here: schema needs pydantic, a registry does not

        names = self.names()
        if self._prefix_match:
            close = did_you_mean(name, names)
        else:
            close = next(iter(difflib.get_close_matches(name, names, n=1)), None)
        return f"did you mean {close!r}?" if close else f"{self._listing}{', '.join(names)}"

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
