"""The dashboard: its pages (web.pages), its static files (web.assets), the API docs page with
Swagger UI served from rhythm, the browser's session routes (/web/session, /web/account),
which sign in and out with the cookies of identity.cookies instead of handing the page a token,
and the API routes that serve one page from several contexts at once (/api/v1/me/today).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Cookie, Query, Request, Response, status
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse

from rhythm.focus.standings_cache import Standings
from rhythm.identity import cookies
from rhythm.identity import service as identity_service
from rhythm.identity.cache import AuthCache
from rhythm.identity.dependencies import AuthRateLimit, ReadUser, SessionUser
from rhythm.identity.schemas import LoginRequest, RegisterRequest, UserOut
from rhythm.platform.database import ReadSession
from rhythm.platform.errors import NotFound, Unauthorized
from rhythm.platform.http.dependencies import DbSession
from rhythm.platform.http.problems import problem_doc
from rhythm.platform.http.shared import shared
from rhythm.platform.ratelimit import RateLimits
from rhythm.platform.resources import Resources
from rhythm.platform.settings import Settings
from rhythm.platform.timezones import TimeZoneName
from rhythm.web.assets import PREFIX, Assets
from rhythm.web.pages import PAGES, Page, Shell
from rhythm.web.schemas import Today
from rhythm.web.today import today

pages_router = APIRouter(include_in_schema=False)
session_router = APIRouter(prefix="/web", tags=["dashboard"], responses=problem_doc(429))
api_router = APIRouter(tags=["dashboard"], responses=problem_doc(401, 429))
NO_STORE = {"Cache-Control": "no-store"}
IMMUTABLE = {"Cache-Control": "public, max-age=31536000, immutable"}
DEVICE_NAME_LIMIT = 100


class AssetNotFound(NotFound, what="Static file"):
    pass


def _user_out(user: object) -> UserOut:
    return UserOut.model_validate(user, from_attributes=True)


def _device_name(request: Request) -> str:
    agent = "".join(c for c in request.headers.get("user-agent", "") if c.isprintable())
    return f"Dashboard · {agent}"[:DEVICE_NAME_LIMIT] if agent else "Dashboard"


def _page_route(page: Page) -> None:
    async def serve(request: Request) -> Response:
        if not page.public and cookies.ACCESS not in request.cookies:
            target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return RedirectResponse(f"/signin?next={target}", status.HTTP_303_SEE_OTHER)
        shell = shared(request, Shell)
        return HTMLResponse(
            shell.pages[page.path],
            headers={"Content-Security-Policy": shell.csp, **NO_STORE},
        )

    pages_router.add_api_route(page.path, serve, methods=["GET"], name=f"page_{page.name}")


for _page in PAGES:
    _page_route(_page)


@pages_router.get(PREFIX + "/{version}/{path:path}", name="static")
async def static_file(request: Request, version: str, path: str) -> Response:
    assets = shared(request, Assets)
    asset = assets.files.get(path)
    if asset is None:
        raise AssetNotFound(f"There is no static file {path!r}.")
    headers = dict(IMMUTABLE if version == assets.version else {"Cache-Control": "no-cache"})
    headers["Vary"] = "Accept-Encoding"
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@pages_router.get("/docs")
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI, its script and styles served by rhythm (pinned in scripts/vendor.py), so the
    page works offline."""
    assets = shared(request, Assets)
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="rhythm API",
        swagger_js_url=assets.url("vendor/swagger-ui-bundle.js"),
        swagger_css_url=assets.url("vendor/swagger-ui.css"),
        swagger_favicon_url=assets.url("favicon.svg"),
    )


@session_router.post(
    "/session",
    response_model=UserOut,
    dependencies=[AuthRateLimit],
    responses={
        200: {"description": "Signed in: the session cookies are set (HttpOnly, SameSite)."},
        **problem_doc(401, 403, 422),
    },
    summary="Sign the browser in (the dashboard's device session, held in cookies)",
    description="As `POST /api/v1/auth/login`, but the tokens go into HttpOnly cookies and the "
    "body holds only the user. A request from another site's page (its `Origin`) is a 403 "
    "`csrf`.",
)
async def sign_in(body: LoginRequest, request: Request, db: DbSession) -> Response:
    cookies.check_origin(request)
    user, tokens = await identity_service.login(
        db,
        shared(request, identity_service.TokenIssuer),
        shared(request, RateLimits),
        email=body.email,
        password=body.password,
        device_name=body.device_name or _device_name(request),
    )
    return _signed_in(request, user, tokens, status.HTTP_200_OK)


@session_router.post(
    "/account",
    status_code=status.HTTP_201_CREATED,
    response_model=UserOut,
    dependencies=[AuthRateLimit],
    responses={
        201: {"description": "Registered and signed in: the session cookies are set."},
        **problem_doc(403, 409, 422),
    },
    summary="Create an account and sign the browser in",
    description="As `POST /api/v1/auth/register`, with the tokens in HttpOnly cookies.",
)
async def register(body: RegisterRequest, request: Request, db: DbSession) -> Response:
    cookies.check_origin(request)
    user, tokens = await identity_service.register(
        db,
        shared(request, identity_service.TokenIssuer),
        email=body.email,
        password=body.password,
        name=body.name,
        timezone=body.timezone,
        visibility=body.visibility or shared(request, Settings).default_visibility,
    )
    return _signed_in(request, user, tokens, status.HTTP_201_CREATED)


@session_router.post(
    "/session/refresh",
    status_code=status.HTTP_204_NO_CONTENT,
    dependencies=[AuthRateLimit],
    responses=problem_doc(401, 403),
    summary="Rotate the browser's tokens (its refresh cookie)",
    description="The page calls this when the API answers 401: the access cookie lasts "
    "15 minutes (RHYTHM_ACCESS_TOKEN_TTL_SECONDS), its device session much longer. Needs the "
    "`X-CSRF-Token` header. A refresh cookie used twice revokes the session, as "
    "`/api/v1/auth/refresh` does.",
)
async def refresh(
    request: Request,
    db: DbSession,
    rhythm_refresh: Annotated[str | None, Cookie(max_length=256)] = None,
) -> Response:
    if not rhythm_refresh:
        raise Unauthorized("The browser holds no session: sign in again.")
    cookies.check_csrf(request)
    issuer = shared(request, identity_service.TokenIssuer)
    tokens = await identity_service.refresh(db, issuer, rhythm_refresh)
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    cookies.set_session(
        request, response, tokens.access_token, tokens.refresh_token, _refresh_ttl(issuer)
    )
    return response


@session_router.delete(
    "/session",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_doc(401, 403),
    summary="Sign the browser out: revokes its device session and clears its cookies",
)
async def sign_out(principal: SessionUser, request: Request, db: DbSession) -> Response:
    await identity_service.logout(db, shared(request, AuthCache), principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT, headers=NO_STORE)
    cookies.clear_session(request, response)
    return response


def _refresh_ttl(issuer: identity_service.TokenIssuer) -> int:
    return int(issuer.refresh_ttl.total_seconds())


def _signed_in(
    request: Request, user: object, tokens: identity_service.Tokens, status_code: int
) -> Response:
    body = _user_out(user).model_dump_json().encode()
    response = Response(body, status_code, media_type="application/json", headers=NO_STORE)
    issuer = shared(request, identity_service.TokenIssuer)
    cookies.set_session(
        request, response, tokens.access_token, tokens.refresh_token, _refresh_ttl(issuer)
    )
    return response


@api_router.get(
    "/me/today",
    response_model=Today,
    responses=problem_doc(422),
    summary="Your day at a glance: last night, today's focus and screen time, friends' nights",
    description="What the dashboard's Today page shows, in one call: last night's sleep (the "
    "ongoing night, else the one that ended today), today's focused minutes with your "
    "streaks and freezes, today's active screen time with its top 5 apps and categories, and "
    "the nights of the people you follow that ended today. Each part is what its own route "
    "answers (`/sleep/records`, `/users/{user_id}/streak`, `/usage/report`, "
    "`/sleep/following`), on today's date in `timezone`.",
)
async def me_today(
    principal: ReadUser,
    request: Request,
    timezone: Annotated[
        TimeZoneName | None,
        Query(description="IANA zone whose today this is, e.g. Europe/Paris; defaults to yours."),
    ] = None,
) -> Today:
    async with ReadSession(shared(request, Resources).session_factory) as db:
        return await today(
            db,
            shared(request, Standings),
            principal,
            timezone or principal.timezone,
            shared(request, Settings).focus_qualify_minutes,
        )
