"""The app's shared services (its connections, caches, writers, limits): one typed container on
`app.state`, filled by the app factory, read with `shared(request, Kind)` by FastAPI routes and
the fast lane alike.

Services are keyed by their type, so the platform needs to know none of the contexts' classes.
Two services of one type would need a type of their own each.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from starlette.requests import HTTPConnection

T = TypeVar("T")


class Services:
    """The shared services of one app, by type."""

    def __init__(self) -> None:
        self._by_type: dict[type[Any], object] = {}

    def add(self, kind: type[T], service: T) -> T:
        if kind in self._by_type:
            raise ValueError(f"A {kind.__name__} is already shared.")
        self._by_type[kind] = service
        return service

    def __getitem__(self, kind: type[T]) -> T:
        return cast(T, self._by_type[kind])

    def kinds(self) -> list[type[Any]]:
        return list(self._by_type)


def shared(connection: HTTPConnection, kind: type[T]) -> T:
    """The app's shared `kind` (KeyError if the app factory shares none: a wiring bug)."""
    services: Services = connection.app.state.services
    return services[kind]
