"""Benchmarks: ``python -m bench NAME [--n N]`` or ``python -m bench all``.

Each benchmark starts the servers it needs (the test fixtures' classes), measures its
own baseline in the same run, and prints one JSON line per figure. They are not tests:
``make test`` does not run them and no test asserts a time.
"""
