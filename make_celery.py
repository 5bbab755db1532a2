"""``celery -A make_celery worker`` / ``beat`` for the example helpdesk."""

from example_host_app import create_app

flask_app = create_app()
celery_app = flask_app.extensions["celery"]
