"""A host app with its own Flask-Migrate history, as the README tells hosts to set it up."""

from __future__ import annotations

import os

from flask import Flask
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column
from ucmail_ext.migrations import exclude_ucmail_objects

from ucmail_ext import UCMail

db = SQLAlchemy()


class HostNote(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "host_note"
    id: Mapped[int] = mapped_column(primary_key=True)


def create() -> Flask:
    app = Flask(__name__)
    app.config.update(SECRET_KEY="k", SQLALCHEMY_DATABASE_URI=os.environ["HOST_DB"])
    db.init_app(app)
    LoginManager().init_app(app)
    UCMail(app, db=db)
    Migrate(app, db, directory=os.environ["HOST_MIGRATIONS"], include_object=exclude_ucmail_objects)
    return app
