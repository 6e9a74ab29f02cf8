"""The browser's credentials: a device session held in cookies the page's scripts cannot read,
and the CSRF check on every state-changing request that rides on them.

- `rhythm_access`: the session's access token. HttpOnly, SameSite=Strict, Path=/.
- `rhythm_refresh`: its refresh token. HttpOnly, SameSite=Strict, sent only to the dashboard's
  session routes (/web/session).
- `rhythm_csrf`: a random value the page reads and echoes in `X-CSRF-Token` on every request
  that changes state (double submit); a request carried by the cookies without it, or with
  another value, is refused with 403 `csrf`.

All three are `Secure` unless the request came to a loopback host (`make run` on a laptop is
plain HTTP). A request that sends `Authorization` is judged by that header alone: the API's
bearer and API-key auth is unchanged, and cookies never add to it.
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import Response

from rhythm.platform.errors import RhythmError

ACCESS = "rhythm_access"
REFRESH = "rhythm_refresh"
CSRF = "rhythm_csrf"
CSRF_HEADER = "x-csrf-token"
REFRESH_PATH = "/web/session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class CsrfRefused(RhythmError):
    status = 403
    slug = "csrf"
    title = "Cross-site request refused"


def is_loopback(request: Request) -> bool:
    host = (request.url.hostname or "").strip("[]")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_origin(request: Request) -> None:
    """403 `csrf` when a browser says the request comes from another site's page: the sign-in
    and registration routes, which no cookie protects yet, refuse to be driven cross-site."""
    origin = request.headers.get("origin")
    if origin is None:
        return
    if urlsplit(origin).netloc.lower() != request.headers.get("host", "").lower():
        raise CsrfRefused("This request came from another site's page.")


def check_csrf(request: Request) -> None:
    """403 `csrf` unless the request echoes the CSRF cookie in its header (or only reads)."""
    if request.method in SAFE_METHODS:
        return
    check_origin(request)
    cookie = request.cookies.get(CSRF, "")
    header = request.headers.get(CSRF_HEADER, "")
    if not cookie or not hmac.compare_digest(cookie.encode(), header.encode()):
        raise CsrfRefused(
            "This request came with the dashboard's session cookie but without its "
            "X-CSRF-Token header. Reload the page and try again."
        )


def cookie_authorization(request: Request) -> str | None:
    """The browser's access token as an Authorization value, once the CSRF check passed; None
    when the request carries no session cookie."""
    token = request.cookies.get(ACCESS)
    if not token:
        return None
    check_csrf(request)
    return f"Bearer {token}"


def set_session(
    request: Request, response: Response, access: str, refresh: str, refresh_ttl: int
) -> None:
    """Hand the browser a device session (and a new CSRF value)."""
    secure = not is_loopback(request)
    common = {"httponly": True, "samesite": "strict", "secure": secure}
    response.set_cookie(ACCESS, access, max_age=refresh_ttl, path="/", **common)  # type: ignore[arg-type]
    response.set_cookie(REFRESH, refresh, max_age=refresh_ttl, path=REFRESH_PATH, **common)  # type: ignore[arg-type]
    response.set_cookie(
        CSRF,
        secrets.token_urlsafe(24),
        max_age=refresh_ttl,
        path="/",
        secure=secure,
        httponly=False,
        samesite="strict",
    )


def clear_session(request: Request, response: Response) -> None:
    secure = not is_loopback(request)
    for name, path in ((ACCESS, "/"), (REFRESH, REFRESH_PATH), (CSRF, "/")):
        response.delete_cookie(name, path=path, secure=secure, httponly=name != CSRF)
