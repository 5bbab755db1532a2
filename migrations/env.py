"""Alembic environment for ucmail's tables only (version table ucmail_alembic_version)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine
from sqlalchemy.engine import Connection, Engine
from ucmail_ext.migrations import VERSION_TABLE, include_ucmail_objects

from ucmail_ext.models import Base

config = context.config
target_metadata = Base.metadata


def _bind() -> Connection | Engine:
    bind = config.attributes.get("bind")
    if bind is not None:
        return bind
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return create_engine(url)
    from flask import current_app

    return current_app.extensions["sqlalchemy"].engine


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_ucmail_objects,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        version_table=VERSION_TABLE,
        include_object=include_ucmail_objects,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    bind = _bind()
    if isinstance(bind, Connection):
        _configure(bind)
        with context.begin_transaction():
            context.run_migrations()
        return
    with bind.connect() as connection:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
