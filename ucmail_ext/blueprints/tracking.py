"""Links that arrive from customers' mail clients: pixel, rating, unsubscribe."""

from __future__ import annotations

from ucmail_ext.blueprints.common import make_blueprint

tracking_bp = make_blueprint("tracking", __name__)
