"""The host's own extension objects; ucmail borrows db and login, never makes its own."""

from __future__ import annotations

from typing import Any

from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf import CSRFProtect

from ucmail_ext import UCMail

db = SQLAlchemy()
csrf = CSRFProtect()
login_manager = LoginManager()
login_manager.login_view = "helpdesk.login"
ucmail = UCMail()


@login_manager.user_loader
def load_user(user_id: str) -> Any:
    from example_host_app.models import User

    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


@ucmail.role_checker
def user_has_role(user: Any, role: str) -> bool:
    return role in user.role_list


@ucmail.user_lookup
def lookup_user(user_id: str) -> Any:
    return load_user(user_id)


@ucmail.agent_lister
def list_agents() -> list[Any]:
    from example_host_app.models import User

    users = db.session.scalars(db.select(User).order_by(User.name)).all()
    return [u for u in users if "agent" in u.role_list]
