"""ucmail's Celery tasks: thin ``@shared_task``s named ``ucmail.<area>.<verb>``.

Importing this package registers them; ``init_app`` does. Tasks take ids, never ORM
objects, and are idempotent: with ``acks_late`` a redelivered task is normal.
"""

from ucmail_ext.tasks import (
    dialer,  # noqa: F401
    inbound,  # noqa: F401
    outbound,  # noqa: F401
    routing,  # noqa: F401
    system,  # noqa: F401
)
