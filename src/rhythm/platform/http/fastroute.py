"""A hot route declared once (`fast_route`): its method, path, caller, path parameters, query
model, body model, response model, documented errors and words. From that one declaration come
the fast lane's endpoint (`FastRoute.serve`, dispatched by api.FastLane ahead of FastAPI) and
FastAPI's operation for the same route (the OpenAPI document, HEAD, and any request the fast
lane does not take). Both lanes validate with the same models and locate errors alike, so their
422 problems are the same.

The fast lane stays cheap: no dependency solving, and a query model is only validated when the
query string names one of its fields (otherwise the defaults, validated once, are reused).
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, TypeAdapter, ValidationError

Handler = Callable[..., Awaitable[Response]]


@dataclass(frozen=True)
class Caller:
    """Who may call a route: `find` is the check the fast lane awaits (it raises when the caller
    may not), `dependency` the FastAPI parameter annotation doing the same check on FastAPI's
    lane, which also documents the security scheme and scope."""

    find: Callable[[Request], Awaitable[Any]]
    dependency: Any


def located(exc: ValidationError, *location: str | int) -> list[dict[str, Any]]:
    """Pydantic's errors under `location`, as FastAPI reports a request's errors."""
    errors: list[dict[str, Any]] = []
    for error in exc.errors(include_url=False):
        moved = dict(error)
        moved["loc"] = (*location, *error.get("loc", ()))
        errors.append(moved)
    return errors


@dataclass(frozen=True, kw_only=True)
class FastRoute:
    """One hot route. `handler` is called with keyword arguments: `request`, then `caller` (the
    caller's principal) when a caller is declared, each path parameter by name, `query` (an
    instance of the query model) and `body` (an instance of the body model) when declared."""

    method: str
    path: str
    handler: Handler
    name: str
    caller: Caller | None = None
    path_params: Mapping[str, Any] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response_model: Any = None
    status_code: int | None = None
    responses: Mapping[int | str, dict[str, Any]] = field(default_factory=dict)
    summary: str | None = None
    description: str | None = None
    # Built once from the fields above.
    _path_adapters: Sequence[tuple[str, TypeAdapter[Any]]] = field(default=(), repr=False)
    _query_aliases: Sequence[str] = field(default=(), repr=False)
    _query_default: BaseModel | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        adapters = [(name, TypeAdapter(kind)) for name, kind in self.path_params.items()]
        object.__setattr__(self, "_path_adapters", tuple(adapters))
        if self.query is not None:
            object.__setattr__(self, "_query_aliases", _aliases(self.query))
            try:
                default = self.query.model_validate({})
            except ValidationError:
                default = None  # a required parameter: validated on every request
            object.__setattr__(self, "_query_default", default)

    def under(self, prefix: str) -> FastRoute:
        """The same route where its router is mounted (api.FAST_ROUTES)."""
        return replace(self, path=prefix + self.path)

    async def serve(self, request: Request) -> Response:
        """The fast lane's endpoint: the caller first, then every parameter, as FastAPI
        checks them (one 422 for all the path, query and body errors), then the handler."""
        arguments: dict[str, Any] = {"request": request}
        if self.caller is not None:
            arguments["caller"] = await self.caller.find(request)
        errors: list[dict[str, Any]] = []
        if self._path_adapters:
            values = request.path_params
            for name, adapter in self._path_adapters:
                try:
                    arguments[name] = adapter.validate_python(values[name])
                except ValidationError as exc:
                    errors.extend(located(exc, "path", name))
        if self.query is not None:
            arguments["query"] = self._query_of(request, errors)
        if self.body is not None:
            try:
                arguments["body"] = self.body.model_validate_json(await request.body())
            except ValidationError as exc:
                errors.extend(located(exc, "body"))
        if errors:
            raise RequestValidationError(errors)
        return await self.handler(**arguments)

    def _query_of(self, request: Request, errors: list[dict[str, Any]]) -> BaseModel | None:
        assert self.query is not None
        default = self._query_default
        if default is not None and not request.scope["query_string"]:
            return default
        # The values FastAPI hands a query model: each field's last value, when sent.
        params = request.query_params
        present = {alias: params[alias] for alias in self._query_aliases if alias in params}
        if default is not None and not present:
            return default
        try:
            return self.query.model_validate(present)
        except ValidationError as exc:
            errors.extend(located(exc, "query"))
            return None

    def endpoint(self) -> Callable[..., Awaitable[Response]]:
        """FastAPI's endpoint for this route: the same handler, its parameters declared for
        FastAPI to solve, validate and document."""
        handler = self.handler

        async def endpoint(**arguments: Any) -> Response:
            return await handler(**arguments)

        keyword = inspect.Parameter.KEYWORD_ONLY
        parameters = [inspect.Parameter("request", keyword, annotation=Request)]
        if self.caller is not None:
            parameters.append(
                inspect.Parameter("caller", keyword, annotation=self.caller.dependency)
            )
        parameters += [
            inspect.Parameter(name, keyword, annotation=kind)
            for name, kind in self.path_params.items()
        ]
        if self.query is not None:
            annotation = Annotated[self.query, Query()]  # type: ignore[name-defined]
            parameters.append(inspect.Parameter("query", keyword, annotation=annotation))
        if self.body is not None:
            parameters.append(inspect.Parameter("body", keyword, annotation=self.body))
        endpoint.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            parameters, return_annotation=Response
        )
        endpoint.__name__ = endpoint.__qualname__ = self.name
        endpoint.__doc__ = None  # FastAPI would take a docstring for the description
        return endpoint

    def include(self, router: APIRouter, path: str) -> None:
        """FastAPI's routes for this declaration on `router`: the documented operation and,
        for a GET, an undocumented HEAD."""
        endpoint = self.endpoint()
        options: dict[str, Any] = {
            "response_model": self.response_model,
            "responses": dict(self.responses),
            "summary": self.summary,
            "description": self.description,
            "name": self.name,
        }
        if self.status_code is not None:
            options["status_code"] = self.status_code
        router.add_api_route(path, endpoint, methods=[self.method], **options)
        if self.method == "GET":
            router.add_api_route(
                path, endpoint, methods=["HEAD"], include_in_schema=False, **options
            )


def _aliases(model: type[BaseModel]) -> tuple[str, ...]:
    """The query keys of a model's fields. Extra keys are ignored, as FastAPI's query models
    ignore them unless the model says otherwise, which a fast route's model may not."""
    if model.model_config.get("extra", "ignore") != "ignore":
        raise TypeError(f"{model.__name__}: a fast route's query model ignores extra keys")
    aliases = []
    for name, info in model.model_fields.items():
        alias = info.validation_alias or info.alias or name
        if not isinstance(alias, str):
            raise TypeError(f"{model.__name__}.{name}: one plain alias only")
        aliases.append(alias)
    return tuple(aliases)


def fast_route(
    router: APIRouter,
    method: str,
    path: str,
    *,
    caller: Caller | None = None,
    path_params: Mapping[str, Any] | None = None,
    query: type[BaseModel] | None = None,
    body: type[BaseModel] | None = None,
    response_model: Any = None,
    status_code: int | None = None,
    responses: Mapping[int | str, dict[str, Any]] | None = None,
    summary: str | None = None,
    description: str | None = None,
) -> Callable[[Handler], FastRoute]:
    """Declare a hot route on `router` (whose prefix, tags and responses it takes, as any of
    its routes): FastAPI's routes are added now, and the returned FastRoute is what the fast
    lane serves once it is listed in api.FAST_ROUTES."""

    def declare(handler: Handler) -> FastRoute:
        route = FastRoute(
            method=method,
            path=router.prefix + path,
            handler=handler,
            name=handler.__name__,
            caller=caller,
            path_params=dict(path_params or {}),
            query=query,
            body=body,
            response_model=response_model,
            status_code=status_code,
            responses=dict(responses or {}),
            summary=summary,
            description=description,
        )
        route.include(router, path)
        return route

    return declare
