"""The helpdesk's own commands: ``create-user`` and ``seed-demo``."""

from __future__ import annotations

import os

import click
from flask import Flask

from example_host_app.extensions import db
from example_host_app.models import User
from example_host_app.seed import seed_demo


def register(app: Flask) -> None:
    @app.cli.command("init-db")
    def init_db() -> None:
        """Create the helpdesk's own tables (ucmail's come from `flask ucmail db upgrade`)."""
        db.create_all()
        click.echo("helpdesk tables ready")

    @app.cli.command("create-user")
    @click.argument("email")
    @click.argument("name")
    @click.option("--roles", default="agent", help="comma separated: admin,supervisor,agent")
    @click.password_option()
    def create_user(email: str, name: str, roles: str, password: str) -> None:
        """Add a helpdesk user."""
        user = User(email=email.lower(), name=name, roles=roles)
        user.set_password(password)
        db.session.add(user)
        db.session.commit()
        click.echo(f"created {email} ({roles})")

    @app.cli.command("seed-demo")
    @click.option("--mail-host", default=lambda: os.environ.get("DEMO_MAIL_HOST", "127.0.0.1"))
    @click.option("--smtp-port", type=int, default=lambda: os.environ.get("DEMO_SMTP_PORT", 8025))
    @click.option("--imap-port", type=int, default=lambda: os.environ.get("DEMO_IMAP_PORT", 8143))
    def seed_demo_command(mail_host: str, smtp_port: int, imap_port: int) -> None:
        """Demo users, two campaigns on the dev mail server and a dialer list."""
        summary = seed_demo(mail_host=mail_host, smtp_port=smtp_port, imap_port=imap_port)
        for line in summary:
            click.echo(line)
