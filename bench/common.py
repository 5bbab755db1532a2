"""The one output format of every benchmark."""

from __future__ import annotations

import json
import sys


def emit(bench: str, figure: str, value: float, unit: str) -> None:
    print(
        json.dumps(
            {"bench": bench, "figure": figure, "value": round(float(value), 4), "unit": unit}
        ),
        flush=True,
    )
    sys.stdout.flush()
