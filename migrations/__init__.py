"""ucmail's own Alembic environment (installed as ``ucmail_ext.migrations``).

A separate environment with its own version table, never a branch in the host's
history: a branch breaks the host's plain ``flask db upgrade`` with "multiple heads"
(the Airflow FAB-provider pattern). Both sides keep to their own tables through
``include_object``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

VERSION_TABLE = "ucmail_alembic_version"
TABLE_PREFIX = "ucmail_"
HERE = Path(__file__).resolve().parent


def is_ucmail_table(name: str | None) -> bool:
    return bool(name) and str(name).startswith(TABLE_PREFIX)


def include_ucmail_objects(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """ucmail's env keeps to ucmail's tables (and their indexes, columns...)."""
    if type_ == "table":
        return is_ucmail_table(name)
    table = getattr(obj, "table", None)
    return table is None or is_ucmail_table(table.name)


def exclude_ucmail_objects(
    obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any
) -> bool:
    """For the host's ``Migrate(app, db, include_object=exclude_ucmail_objects)``.

    Without it the host's autogenerate sees ucmail's tables in the database but not in
    its metadata, and proposes dropping them.
    """
    if type_ == "table":
        return not is_ucmail_table(name)
    table = getattr(obj, "table", None)
    return table is None or not is_ucmail_table(table.name)


def alembic_config(bind: Connection | Engine | None = None, url: str | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("version_table", VERSION_TABLE)
    if url:
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if bind is not None:
        cfg.attributes["bind"] = bind
    return cfg


def upgrade(bind: Connection | Engine, revision: str = "head") -> None:
    command.upgrade(alembic_config(bind), revision)


def downgrade(bind: Connection | Engine, revision: str = "base") -> None:
    command.downgrade(alembic_config(bind), revision)


def current(bind: Connection | Engine) -> str | None:
    def read(conn: Connection) -> str | None:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()

    if isinstance(bind, Engine):
        with bind.connect() as conn:
            return read(conn)
    return read(bind)


def head() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def revision(bind: Connection | Engine, message: str, autogenerate: bool = True) -> None:
    command.revision(alembic_config(bind), message=message, autogenerate=autogenerate)
