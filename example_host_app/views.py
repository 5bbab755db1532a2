"""The helpdesk's own pages: home, login, logout."""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import validate_csrf
from wtforms import ValidationError

from example_host_app.extensions import db
from example_host_app.models import User

bp = Blueprint("helpdesk", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths: a login form must not become an open redirect."""
    if not target:
        return url_for("helpdesk.index")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return url_for("helpdesk.index")
    return target


@bp.get("/")
def index() -> ResponseReturnValue:
    if not current_user.is_authenticated:
        return redirect(url_for("helpdesk.login"))
    return render_template("index.html")


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    error = None
    if request.method == "POST":
        try:
            validate_csrf(request.form.get("csrf_token"))
        except ValidationError:
            error = "Your session expired; please try again."
        else:
            email = request.form.get("email", "").strip().lower()
            user = db.session.scalar(db.select(User).where(User.email == email))
            if user and user.check_password(request.form.get("password", "")):
                login_user(user, remember=request.form.get("remember") == "1")
                return redirect(_safe_next(request.args.get("next")))
            error = "Wrong email or password."
    return render_template("login.html", error=error), 200 if error is None else 401


@bp.post("/logout")
@login_required
def logout() -> ResponseReturnValue:
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError:
        flash("Your session expired; please try again.")
        return redirect(url_for("helpdesk.index"))
    logout_user()
    return redirect(url_for("helpdesk.login"))
