"""Run one benchmark (``python -m bench ingest``) or all of them (``python -m bench all``)."""

from __future__ import annotations

import importlib
import sys

BENCHES = ("ingest", "dialer", "routing", "screens", "scale", "scale_idle")


def main(argv: list[str]) -> int:
    if not argv or argv[0] in {"-h", "--help"}:
        print(f"usage: python -m bench {{{','.join(BENCHES)},all}} [options]")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    names = BENCHES if name == "all" else (name,)
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        print(f"unknown benchmark {unknown[0]!r}; choose from {', '.join(BENCHES)} or all")
        return 2
    for bench in names:
        importlib.import_module(f"bench.{bench}").main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
