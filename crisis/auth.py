"""Who is asking, and may they: sessions (Flask-Login), API tokens, roles and regions.

Every request is refused unless it carries a logged-in session or a valid Bearer token;
the only open paths are the login page and the static files it needs. Pages redirect to
the login page; API and Dash callback requests get 401 JSON, never data.
"""

from __future__ import annotations

from functools import wraps
from typing import Any, Callable
from urllib.parse import urlparse

from flask import Flask, Response, current_app, g, jsonify, redirect, render_template_string, request, url_for
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user

from crisis.adapters.accounts import AccountStore, Principal

OPEN_PATHS = ("/login", "/healthz", "/assets/app.css", "/assets/favicon.ico")


class SessionUser(UserMixin):
    def __init__(self, principal: Principal) -> None:
        self.principal = principal

    def get_id(self) -> str:
        return self.principal.name


def _accounts() -> AccountStore:
    return current_app.extensions["crisis"].accounts  # type: ignore[no-any-return]


def principal_from_request() -> Principal | None:
    """The caller of this request: Bearer token first, then the session."""
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return _accounts().token(header[7:].strip())
    if current_user.is_authenticated:
        return current_user.principal  # type: ignore[no-any-return]
    return None


def current_principal() -> Principal:
    return g.principal  # type: ignore[no-any-return]


def request_origin() -> dict[str, str]:
    """Who sent this request (account and address), for a dead letter's record."""
    principal = g.get("principal")
    return {"actor": principal.name if principal else "", "remote": request.remote_addr or ""}


def _is_api(path: str) -> bool:
    return path.startswith("/api/") or path.startswith("/_dash-") or path.startswith("/socket.io")


def _unauthorised() -> Response:
    if _is_api(request.path):
        response = jsonify(error="authentication required", errors=[{"field": "Authorization", "message": "log in or send 'Authorization: Bearer <token>'"}])
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="crisis"'
        return response
    return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))


def require_role(*roles: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = current_principal()
            if principal.role not in roles:
                response = jsonify(error="forbidden", errors=[{"field": "role", "message": f"role {principal.role!r} may not do this; needs one of {', '.join(roles)}"}])
                response.status_code = 403
                return response
            return view(*args, **kwargs)

        return wrapper

    return decorate


LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>Crisis Coordination Centre - sign in</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body class="login-body"><main class="login-card">
<h1>Crisis Coordination Centre</h1>
<p class="login-sub">Authorised personnel only. Where our people are is protected information.</p>
{% if error %}<p class="login-error" role="alert">{{ error }}</p>{% endif %}
<form method="post" action="{{ url_for('auth.login', next=next) }}">
<label>User name <input name="username" id="username" autocomplete="username" required autofocus></label>
<label>Password <input name="password" id="password" type="password" autocomplete="current-password" required></label>
<label class="login-remember"><input type="checkbox" name="remember" checked> Keep this display signed in</label>
<button type="submit" id="login-button">Sign in</button>
</form></main></body></html>"""


def _safe_next(target: str | None) -> str:
    if not target:
        return "/"
    parsed = urlparse(target)
    if parsed.scheme or parsed.netloc or not target.startswith("/"):
        return "/"
    return target


def init_auth(app: Flask) -> None:
    from flask import Blueprint

    login_manager = LoginManager()
    login_manager.init_app(app)

    @login_manager.user_loader
    def load_user(name: str) -> SessionUser | None:
        principal = _accounts().user(name)
        return SessionUser(principal) if principal else None

    blueprint = Blueprint("auth", __name__)

    @blueprint.route("/login", methods=["GET", "POST"])
    def login() -> Any:
        next_url = _safe_next(request.args.get("next"))
        error = None
        if request.method == "POST":
            principal = _accounts().authenticate(request.form.get("username", ""), request.form.get("password", ""))
            if principal is None:
                error = "Unknown user name or wrong password."
            elif principal.role == "feed":
                error = "Feed accounts cannot sign in to the dashboard; they use API tokens."
            else:
                login_user(SessionUser(principal), remember=bool(request.form.get("remember")))
                return redirect(next_url)
        status = 401 if error else 200
        return render_template_string(LOGIN_PAGE, error=error, next=next_url), status

    @blueprint.route("/logout")
    def logout() -> Any:
        logout_user()
        return redirect(url_for("auth.login"))

    @blueprint.route("/healthz")
    def healthz() -> Any:
        return jsonify(status="ok")

    app.register_blueprint(blueprint)

    @app.before_request
    def authenticate() -> Response | None:
        if request.path in OPEN_PATHS or request.path.startswith("/socket.io"):
            # Socket.IO connections authenticate in the namespace's connect handler.
            return None
        principal = principal_from_request()
        if principal is None:
            return _unauthorised()
        g.principal = principal
        return None
