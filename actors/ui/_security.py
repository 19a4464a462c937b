"""The dashboard's guards: which hosts it answers, the access token, and cross-site checks.

- **Host**: bound to loopback without a token, it answers only requests addressed to a
  loopback name, so a web page elsewhere cannot reach it by pointing a DNS name at
  127.0.0.1 (DNS rebinding).
- **Token**: with a token every request must carry it: ``Authorization: Bearer TOKEN``,
  or the cookie set when a browser first opens ``/?token=TOKEN`` (the token then leaves
  the address bar). The cookie is HttpOnly and SameSite=Strict.
- **Cross-site requests**: every action is a POST that must carry the page's CSRF token
  in the ``X-CSRF-Token`` header or a ``csrf`` form field, and whose ``Origin``, when the
  browser sends one, is the dashboard's own. Another site can neither read the token
  (same-origin policy) nor send the header without the dashboard's consent (CORS).
- **Other sites' requests**: a browser says which site a request comes from
  (``Sec-Fetch-Site``); another site's page may open the dashboard (a link) but not
  fetch from it (an image, a script, ``fetch()``), which costs the store reads and lets
  it time the answers.
- **Headers**: every answer forbids framing (clickjacking), content-type sniffing and
  referrers to other sites, and its Content-Security-Policy lets a page run only the
  scripts the package serves (no inline script, nothing from elsewhere).
- **Logs**: see ``actors.ui._server_log``.
"""

from __future__ import annotations

import hmac
import re
from html import escape
from urllib.parse import quote, urlencode, urlsplit

from starlette.datastructures import URL
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Match, Router
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = [
    "LOOPBACK_HOSTS",
    "MIN_TOKEN",
    "SECURITY_HEADERS",
    "TOKEN_COOKIE",
    "Guard",
    "SecurityHeaders",
    "csrf_ok",
    "failed",
    "from_this_site",
    "host_name",
    "local_path",
    "same_origin",
    "slash_redirects",
    "token_problem",
]

TOKEN_COOKIE = "actors_ui_token"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
MIN_TOKEN = 16  # characters; `actors ui` keeps its own copy, as the ui extra may be missing
# Scripts only from the package (htmx and Mermaid need no eval with the attributes the
# templates use); inline styles are allowed, as Mermaid's drawings carry their own.
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": _CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def token_problem(token: str) -> str | None:
    """Why ``token`` cannot be the access token (``None``: it can).

    It travels in a cookie and an ``Authorization`` header, whose values a server reads
    as Latin-1: a token of other characters (``€``, a Cyrillic letter) could never sign
    in (a sign-in link answered 500). So is a space or a control character, which a
    header trims or cannot hold.
    """
    if len(token) < MIN_TOKEN:
        return f"must be at least {MIN_TOKEN} characters, got {len(token)}"
    for at, char in enumerate(token):
        if not "!" <= char <= "~":
            return (
                f"must be printable ASCII without spaces (as `openssl rand -hex 24` "
                f"makes), got {char!r} at position {at}"
            )
    return None


# A Host header: a name or IPv4 address, or an IPv6 address in brackets, then an optional
# port of digits. Nothing else: no user info, no path, no second port, no spaces.
_HOST = re.compile(r"(?:\[([0-9a-f:.]+)\]|([a-z0-9.\-]+))(?::([0-9]{1,5}))?")


def host_name(host_header: str) -> str:
    """The name in a ``Host`` header, without its port (``[::1]:8400`` -> ``::1``).

    ``""`` for a header that is not just a host and a port (``127.0.0.1:80@evil.example``,
    ``localhost:8400junk``): no host list holds it.
    """
    found = _HOST.fullmatch(host_header.strip().lower())
    if found is None or (found.group(3) is not None and int(found.group(3)) > 65535):
        return ""
    return found.group(1) or found.group(2)


# Not a path on this site: not rooted, or //host, or a backslash (read as a slash), or
# a control character (some browsers drop them: "/\t/host" is "//host").
_OFF_SITE = re.compile(r"^(?!/)|^/[/\\]|\\|[\x00-\x1f\x7f]")


def local_path(request: Request) -> str:
    r"""The request's path if a redirect to it stays on the dashboard, else its root.

    ``//host/...`` and ``/\host/...`` are read by browsers as another site's address, so a
    sign-in link must not send the browser back to such a path. The path is given back
    as the browser sent it, its escapes kept: decoded, ``/cases/50%25off`` led to
    ``/cases/50%off``, and ``/cases/a%252Fb`` to the case ``a/b``.
    """
    decoded = str(request.scope.get("path", ""))
    raw = request.scope.get("raw_path")
    # Bytes outside the path's characters (a raw UTF-8 byte, a backslash) are escaped;
    # escapes the browser made are kept as they are (a server that gives no raw path:
    # the decoded one, escaped again).
    if isinstance(raw, bytes):
        path = quote(raw, safe="/%:@!$&'()*+,;=~")
    else:
        path = quote(decoded, safe="/:@!$&'()*+,;=~")
    if not any(_OFF_SITE.search(p) for p in (path, decoded)):
        return path
    return str(request.scope.get("root_path", "")).rstrip("/") + "/"


def slash_redirects(router: Router) -> None:
    """Have ``router`` redirect a path a page's differs from by a trailing slash, by path.

    Starlette's own redirect (``/find/`` to ``/find``) names the host the request
    gave: behind a proxy that passes on another, it led the browser there.
    """
    not_found = router.default
    router.redirect_slashes = False

    async def default(scope: Scope, receive: Receive, send: Send) -> None:
        path = str(scope.get("path", ""))
        if scope["type"] == "http" and path != "/":
            other = {**scope, "path": path.rstrip("/") if path.endswith("/") else f"{path}/"}
            if any(route.matches(other)[0] is not Match.NONE for route in router.routes):
                request = Request(scope)
                target = local_path(request)
                target = target.rstrip("/") if path.endswith("/") else f"{target}/"
                if target.startswith("/") and not target.startswith("//"):
                    query = request.scope.get("query_string", b"").decode("latin-1")
                    response = RedirectResponse(f"{target}?{query}" if query else target)
                    await response(scope, receive, send)
                    return
        await not_found(scope, receive, send)

    router.default = default


def from_this_site(request: Request) -> bool:
    """Whether the browser's ``Sec-Fetch-*`` headers let the request in (none: they do).

    A page of another site (another port of 127.0.0.1 included) may open the dashboard,
    a link followed, but not have the browser fetch its pages as images, scripts or
    ``fetch()``: without a token on loopback, any site its user visits could otherwise
    make the dashboard read every case at each request, or time its answers to learn
    which case ids exist.
    """
    site = request.headers.get("sec-fetch-site")
    if site is None or site in ("same-origin", "none"):
        return True
    return (
        request.method == "GET"
        and request.headers.get("sec-fetch-mode") == "navigate"
        and request.headers.get("sec-fetch-dest", "document") == "document"
    )


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (if any) names the host it was sent to."""
    origin = request.headers.get("origin")
    if origin is None:
        return True  # not sent by every browser for same-origin forms; the CSRF token decides
    if origin == "null":
        return False
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def failed(request: Request, exc: Exception) -> Response:
    """The answer to an error the dashboard did not expect: 500, with the headers.

    Starlette answers it outside every middleware, so ``SecurityHeaders`` did not add
    them; the server logs the error (masked) after this answer.
    """
    return PlainTextResponse(
        "Internal Server Error",
        status_code=500,
        headers={**SECURITY_HEADERS, "Cache-Control": "no-store"},
    )


class SecurityHeaders:
    """ASGI middleware: ``SECURITY_HEADERS`` on every HTTP answer (refusals included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.headers = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {name for name, _ in self.headers}
                kept = [(k, v) for k, v in message.get("headers", []) if k.lower() not in names]
                message = {**message, "headers": [*kept, *self.headers]}
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _equal(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


class Guard:
    """ASGI middleware: the host check and the access token (see the module docstring)."""

    def __init__(self, app: ASGIApp, *, token: str | None, hosts: frozenset[str] | None) -> None:
        self.app = app
        self.token = token
        self.hosts = hosts  # None: any host (a token guards the dashboard)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        response = self._check(request)
        if response is not None:
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _check(self, request: Request) -> Response | None:
        if self.hosts is not None and host_name(request.headers.get("host", "")) not in self.hosts:
            return PlainTextResponse(
                "This dashboard answers only requests addressed to 127.0.0.1 or localhost.",
                status_code=400,
            )
        if not from_this_site(request):
            return PlainTextResponse(
                "This dashboard answers another site's page only when it opens it (a link).",
                status_code=403,
            )
        token = self.token
        if token is None:
            return None
        bearer = request.headers.get("authorization", "")
        if bearer.lower().startswith("bearer ") and _equal(bearer[7:].strip(), token):
            return None
        if _equal(request.cookies.get(TOKEN_COOKIE), token):
            return None
        given = request.query_params.get("token")
        if request.method == "GET" and _equal(given, token):
            # Keep the token in a cookie and out of the address bar and its history.
            rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
            target = URL(path=local_path(request), query=urlencode(rest))
            response = _signed_in(request, str(target))
            response.set_cookie(
                TOKEN_COOKIE,
                token,
                httponly=True,
                samesite="strict",
                secure=_over_tls(request),
            )
            return response
        return PlainTextResponse(
            "This dashboard needs its access token: open /?token=TOKEN once, or send "
            "'Authorization: Bearer TOKEN'.",
            status_code=401,
        )


def _signed_in(request: Request, target: str) -> Response:
    """The answer to a sign-in: on to ``target`` (a path), where the cookie is sent.

    A browser that followed a link from another site (a chat, a mail) sends no
    SameSite=Strict cookie along a redirect of that navigation, nor at a reload: it
    was refused there. It is sent a page that opens ``target`` itself instead, a
    navigation of the dashboard's own (no script: a refresh, and a link).
    """
    if request.headers.get("sec-fetch-site", "none") in ("same-origin", "none"):
        return RedirectResponse(target, status_code=303)
    shown = escape(target.replace("'", "%27").replace('"', "%22"))
    page = (
        f'<!doctype html><meta charset="utf-8"><meta http-equiv="refresh" content="0; '
        f'url={shown}"><title>Signed in · actors dashboard</title>'
        f'<p>Signed in. <a href="{shown}">Open the dashboard</a>.</p>'
    )
    return HTMLResponse(page, headers={"Cache-Control": "no-store"})


# The first proto= of a Forwarded header (RFC 7239): ``for=...;proto=https, ...``.
_FORWARDED_PROTO = re.compile(r'(?i)^[^,]*?(?:^|;)\s*proto\s*=\s*"?([a-z]+)')


def _over_tls(request: Request) -> bool:
    """Whether the browser reached the dashboard over HTTPS, directly or through a proxy.

    A proxy on another machine is not trusted by the server, which then reads the scheme
    as ``http``: the proxy's ``X-Forwarded-Proto`` or ``Forwarded`` is read here for the
    cookie alone, as a ``Secure`` cookie only narrows where the browser sends it.
    """
    if request.url.scheme == "https":
        return True
    given = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    found = _FORWARDED_PROTO.search(request.headers.get("forwarded", ""))
    return given == "https" or (found is not None and found.group(1).lower() == "https")


def csrf_ok(request: Request, expected: str, form_value: str | None) -> bool:
    """Whether a POST carries the CSRF token and comes from the dashboard's own pages."""
    given = request.headers.get("x-csrf-token") or form_value
    return same_origin(request) and _equal(given, expected)
