"""A function a worker process can run by reference (pickled by name) that imports nothing: which of
some modules the worker has loaded (tests/test_records.py)."""

import sys


def modules_loaded(*names: str) -> list[str]:
    return [name for name in names if name in sys.modules]
