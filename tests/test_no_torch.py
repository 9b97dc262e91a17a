"""The auditor never needs torch: every leveraudit module imports with torch blocked."""

import subprocess
import sys

from tests.conftest import REPO

BLOCK_TORCH = """
import importlib, pkgutil, sys
class Block:
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ImportError("torch is blocked in this test")
sys.meta_path.insert(0, Block())
import leveraudit
names = [m.name for m in pkgutil.walk_packages(leveraudit.__path__, "leveraudit.") if not m.name.endswith("__main__")]
for name in names:
    importlib.import_module(name)
assert "torch" not in sys.modules
print(len(names))
"""


def test_every_leveraudit_module_imports_without_torch():
    result = subprocess.run([sys.executable, "-c", BLOCK_TORCH], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout.strip()) >= 20
