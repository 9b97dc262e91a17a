"""libcst, imported on first use.

A warm run (every file's facts in the cache) and most commands never parse a file, yet libcst's node
classes are a third of the start-up (about 0.2 s). Modules that parse write `from leveraudit.lazy
import cst` instead of `import libcst as cst`, and use `cst.` only inside functions: the first
attribute read imports libcst and copies its namespace into this module object, so every later read
is a plain module-dictionary lookup, as fast as with the real module (hot loops read `cst.Name`
millions of times). `tests/test_lazy.py` checks that a warm `check` never imports libcst.
"""

from __future__ import annotations

import importlib
import types


class _LazyModule(types.ModuleType):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.__dict__["_target"] = name

    def __getattr__(self, attribute: str):   # called only for names not (yet) in this module's dict
        real = importlib.import_module(self.__dict__["_target"])
        self.__dict__.update(real.__dict__)
        try:
            return real.__dict__[attribute]
        except KeyError:
            return getattr(real, attribute)   # libcst's own module `__getattr__`, or AttributeError


cst = _LazyModule("libcst")
