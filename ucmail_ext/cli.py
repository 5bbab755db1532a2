"""``flask ucmail ...``: migrations and the long-running worker modes."""

from __future__ import annotations

import json
import signal
import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from ucmail_ext import migrations

ucmail_cli = AppGroup("ucmail", help="ucmail: email campaigns for this helpdesk.")
db_cli = AppGroup("db", help="ucmail's own migrations (version table ucmail_alembic_version).")
ucmail_cli.add_command(db_cli)


def _engine():  # type: ignore[no-untyped-def]
    return current_app.extensions["ucmail"].db.engine


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def db_upgrade(revision: str) -> None:
    """Create or update ucmail's tables."""
    migrations.upgrade(_engine(), revision)
    click.echo(f"ucmail database at {migrations.current(_engine()) or 'base'}")


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def db_downgrade(revision: str) -> None:
    """Step ucmail's tables back (``base`` removes them all)."""
    migrations.downgrade(_engine(), revision)
    click.echo(f"ucmail database at {migrations.current(_engine()) or 'base'}")


@db_cli.command("current")
def db_current() -> None:
    """Show the applied ucmail revision and the newest one shipped."""
    click.echo(f"current: {migrations.current(_engine()) or 'base'}; head: {migrations.head()}")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@click.option("--autogenerate/--empty", default=True)
def db_revision(message: str, autogenerate: bool) -> None:
    """(ucmail developers) write a new migration from the models."""
    migrations.revision(_engine(), message, autogenerate=autogenerate)


@ucmail_cli.command("idle")
@click.option(
    "--refresh",
    type=float,
    default=None,
    help="Seconds between rounds (campaigns, other IDLE processes, leases); "
    "default and maximum: UCMAIL_IDLE_TAKEOVER / 6.",
)
@click.option("-v", "--verbose", is_flag=True, help="Print each mailbox taken and handed over.")
def idle_command(refresh: float | None, verbose: bool) -> None:
    """Import new mail the moment it arrives (IMAP IDLE); polling stays the fallback.

    Run as many as you like, on any machines: they share the mailboxes.
    """
    from ucmail_ext.services.inbound.idle_leases import IdleNode

    def changed(campaign_id: int, listening: bool) -> None:
        what = "listening to" if listening else "handed over"
        click.echo(f"ucmail: {what} campaign {campaign_id}", err=True)

    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = IdleNode(
        current_app._get_current_object(), refresh=refresh, on_change=changed if verbose else None
    )
    click.echo(
        f"ucmail: IMAP IDLE listeners running as {node.node_id} (Ctrl-C or SIGTERM stops them)",
        err=True,
    )
    try:
        node.run(stop)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("ucmail: IDLE listeners stopped", err=True)


@ucmail_cli.command("rotate-keys")
def rotate_keys() -> None:
    """Re-encrypt mailbox passwords and OAuth2 tokens under the newest key."""
    from ucmail_ext.services.admin.credentials import rotate_mailbox_passwords

    count = rotate_mailbox_passwords()
    click.echo(f"re-encrypted {count} mailbox secret(s) (passwords and OAuth2 tokens)")


@ucmail_cli.command("health")
@click.option("--json", "as_json", is_flag=True, help="Print the readiness document as JSON.")
def health_command(as_json: bool) -> None:
    """Check database, broker, lock store and polling; exit 1 when any check fails."""
    from ucmail_ext.services.health import readiness

    result = readiness()
    if as_json:
        click.echo(json.dumps(result.as_dict(), indent=2))
    else:
        for check in result.checks:
            click.echo(f"{check.name:<10} {check.status:<15} {check.message}")
        click.echo("ucmail is ready" if result.ok else "ucmail is NOT ready")
    if not result.ok:
        raise SystemExit(1)


def register_cli(app: Flask) -> None:
    name = app.config["UCMAIL_CLI_GROUP"]
    if not name:
        return
    if name == ucmail_cli.name:
        app.cli.add_command(ucmail_cli)
    else:
        app.cli.add_command(ucmail_cli, name=name)
