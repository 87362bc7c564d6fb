"""Wall displays: a long-lived, revocable display token, kept by the display's browser.

A display is an API token of role "wall" (``AccountStore.create_token``; only its SHA-256
digest is stored), made by ``crisis displays add NAME``, which prints a link
``<base>/wall?display=<token>``. Opening that link once (``sign_in_by_url``, called by the
gate) checks the token, puts it in the ``crisis_display`` cookie (HttpOnly, a year and a
day, Secure when ``CRISIS_SECURE_COOKIES``) and sends the browser on to ``/wall`` without
the token in its address. From then on every request and every socket connection of that
browser is signed in by the cookie (``load_display``, Flask-Login's request loader): the
token is looked up in Redis each time, so the display stays signed in across server
restarts (nothing about it is held in a server process) and ``crisis displays revoke NAME``
ends it at once: its next request is refused, and its open sockets are closed by the
account-change re-check every live socket already gets (``AccountStore.refresh``).

Or a pairing code, for a screen where nobody can type a long link: the screen opens
``/wall/pair``, which shows a short code (valid ``PAIR_TTL_S``) and re-asks every few
seconds; an administrator runs ``crisis displays pair CODE NAME``; the screen's next ask
receives the cookie and goes to ``/wall``. The code alone is not enough: the answer goes
only to the browser holding the pairing cookie set when the code was shown, and a code
pairs once.

A display is a "wall": counts and anonymous points, never names
(``crisis.domain.access``). A display token can sign in nothing but a wall.
"""

from __future__ import annotations

import math
import secrets
import time
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Flask, Response, current_app, g, redirect, request, session
from flask_login import logout_user
from limits import parse as parse_limit

from crisis.adapters.accounts import Principal
from crisis.adapters.display_pairing import PAIR_TTL_S, PairingStore
from crisis.auth.principal import SessionUser, _accounts, _ctx, audit_request
from crisis.auth.refusals import _render

DISPLAY_ROLE = "wall"
DISPLAY_COOKIE = "crisis_display"
PAIR_COOKIE = "crisis_pair"
URL_PARAM = "display"
WALL_PATH = "/wall"
PAIR_PATH = "/wall/pair"
COOKIE_MAX_AGE_S = 366 * 86_400
PAIR_REFRESH_S = 3
# Paths a display without its cookie yet may open (the gate lets them through).
OPEN_PATHS = (PAIR_PATH, "/assets/wall.css")

INVALID_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Display link not valid - Crisis Coordination Centre</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card"><h1>This display link is not valid</h1>
<p class="login-error" role="alert">It was revoked, or it was copied wrongly.
An administrator can make a new one (crisis displays add NAME) or pair this screen with a code.</p>
<p><a href="/wall/pair">Pair this screen with a code</a></p></main></body></html>"""

TOO_MANY_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ wait }}">
<title>Too many pairing codes - Crisis Coordination Centre</title>
<link rel="stylesheet" href="/assets/wall.css"></head>
<body class="login-body"><main class="login-card"><h1>Too many pairing codes from this address</h1>
<p class="login-error" role="alert">Screens at this address asked for more new codes than allowed in a minute.
This page tries again in {{ wait }} s.</p></main></body></html>"""

PAIR_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="{{ refresh }}">
<title>Pair this display - Crisis Coordination Centre</title>
<link rel="stylesheet" href="/assets/wall.css"></head>
<body class="wall-pair-body"><main class="wall-pair">
<h1>Pair this wall display</h1>
<p>An administrator runs</p>
<p class="wall-pair-command">crisis displays pair <span id="pair-code">{{ code }}</span> NAME</p>
<p>This screen then signs in by itself. The code is valid for {{ minutes }} minutes.</p>
</main></body></html>"""


def is_display(principal: Principal | None) -> bool:
    return principal is not None and principal.via_token and principal.role == DISPLAY_ROLE


def display_principal(token: str | None) -> Principal | None:
    """The display a token signs in, or None (unknown, revoked, or not a wall's token)."""
    if not token:
        return None
    principal = _accounts().token(token)
    return principal if is_display(principal) else None


def load_display(_request: Any) -> SessionUser | None:
    """Flask-Login's request loader: a browser with no session but a display cookie."""
    principal = display_principal(request.cookies.get(DISPLAY_COOKIE))
    return SessionUser(principal) if principal is not None else None


def _set_display_cookie(response: Response, token: str) -> None:
    response.set_cookie(DISPLAY_COOKIE, token, max_age=COOKIE_MAX_AGE_S, path="/", httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), samesite="Lax")


def _start_display_session() -> None:
    """The display is who is signed in on this browser from now on: a person's session
    here ends (their other sessions go on)."""
    logout_user()
    session.clear()


def sign_in_by_url() -> Response:
    """``/wall?display=<token>``: sign this browser in as that display, then go to
    ``/wall`` (with the other parameters, e.g. panels and rotation) without the token."""
    token = request.args.get(URL_PARAM, "")
    principal = display_principal(token)
    if principal is None:
        return Response(_render(INVALID_PAGE), status=401, mimetype="text/html")
    _start_display_session()
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != URL_PARAM]
    response = redirect(WALL_PATH + ("?" + urlencode(rest) if rest else ""))
    _set_display_cookie(response, token)
    _audit_display("display.signed_in", principal)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _audit_display(action: str, principal: Principal) -> None:
    g.principal = principal
    audit_request(action, principal.name)


def _pairing() -> PairingStore:
    return PairingStore(_ctx().redis)


def pair_page() -> Response:
    """``/wall/pair``: the code to pair this screen, asked again every few seconds; once an
    administrator paired it, the display cookie and on to ``/wall``."""
    store = _pairing()
    secret = request.cookies.get(PAIR_COOKIE, "")
    code = store.code_of(secret) if secret else None
    if code is not None:
        token = store.collect(code, secret)
        if token is not None:
            principal = display_principal(token)
            if principal is not None:
                _start_display_session()
                response = redirect(WALL_PATH)
                _set_display_cookie(response, token)
                response.delete_cookie(PAIR_COOKIE, path=PAIR_PATH)
                _audit_display("display.paired", principal)
                return response
            code = None  # paired to a display revoked meanwhile: a new code
    if code is None:
        wait = _pairing_refused()
        if wait:
            return _too_many_codes(wait)
        secret = secrets.token_urlsafe(32)
        code = store.open(secret)
    body = _render(PAIR_PAGE, code=code, refresh=PAIR_REFRESH_S, minutes=PAIR_TTL_S // 60)
    response = Response(body, mimetype="text/html")
    response.set_cookie(PAIR_COOKIE, secret, max_age=PAIR_TTL_S, path=PAIR_PATH, httponly=True,
                        secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")), samesite="Lax")
    response.headers["Cache-Control"] = "no-store"
    return response


def _pairing_refused() -> int:
    """Seconds to wait when this address opened its share of new codes already (the page
    needs no sign-in, so an anonymous flood must not fill Redis with codes), else 0. A
    screen asking again about the code it shows does not count."""
    limiter = current_app.extensions.get("crisis_limiter")
    if limiter is None:
        return 0
    item = parse_limit(_ctx().settings.pair_limit_address)
    ids = ("wall-pair", request.remote_addr or "")
    if limiter.limiter.hit(item, *ids):
        return 0
    reset = limiter.limiter.get_window_stats(item, *ids).reset_time
    return max(1, math.ceil(reset - time.time()))


def _too_many_codes(wait: int) -> Response:
    body = _render(TOO_MANY_PAGE, wait=wait)
    response = Response(body, status=429, mimetype="text/html")
    response.headers["Retry-After"] = str(wait)
    response.headers["Cache-Control"] = "no-store"
    return response


def install_display(app: Flask) -> None:
    """Displays sign in by their cookie (Flask-Login's request loader: pages, callbacks and
    the live socket alike) and may pair at ``/wall/pair``."""
    app.login_manager.request_loader(load_display)  # type: ignore[attr-defined]
    blueprint = Blueprint("display", __name__)
    blueprint.add_url_rule(PAIR_PATH, "pair", pair_page)
    app.register_blueprint(blueprint)


# -- for the command line (crisis displays ...) ----------------------------------------

def add_display(accounts: Any, name: str) -> str:
    """A new display token for ``name`` (another display of that name goes on working
    until revoked). ValueError when that name holds tokens of another role."""
    others = [t for t in accounts.tokens() if t.name == name and t.role != DISPLAY_ROLE]
    if others:
        raise ValueError(f"{name!r} already names a {others[0].role} token; choose another name for the display")
    return str(accounts.create_token(name, DISPLAY_ROLE))


def display_url(base: str, token: str) -> str:
    return base.rstrip("/") + WALL_PATH + "?" + urlencode({URL_PARAM: token})


def displays(accounts: Any) -> list[Any]:
    return [t for t in accounts.tokens() if t.role == DISPLAY_ROLE]


def revoke_display(accounts: Any, name: str) -> int:
    """Revoke every display token of that name (ValueError when the name holds tokens of
    another role: ``crisis tokens revoke`` is for those)."""
    mine = [t for t in accounts.tokens() if t.name == name]
    if any(t.role != DISPLAY_ROLE for t in mine):
        raise ValueError(f"{name!r} also names tokens that are not displays; use crisis tokens revoke {name}")
    return int(accounts.revoke_tokens(name)) if mine else 0


def pair_display(redis_client: Any, accounts: Any, code: str, name: str) -> str:
    """Pair the screen showing ``code`` as display ``name``: a new display token, handed to
    that screen on its next ask. LookupError when no screen shows that code (expired, or
    paired already)."""
    store = PairingStore(redis_client)
    if not store.waiting(code):
        raise LookupError(f"no screen is showing the code {code!r} (it expired or was used); open /wall/pair again")
    token = add_display(accounts, name)
    if not store.pair(code, token):
        accounts.revoke_tokens(name)
        raise LookupError(f"the code {code!r} expired meanwhile; open /wall/pair again")
    return token
