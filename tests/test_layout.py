"""The suite tests this checkout: both packages import from the working tree it sits in."""

from __future__ import annotations

from pathlib import Path

import leveraudit
import leverplus

REPO = Path(__file__).resolve().parents[1]


def test_packages_come_from_this_checkout():
    for package in (leveraudit, leverplus):
        location = Path(package.__file__).resolve()
        assert location.is_relative_to(REPO), f"{package.__name__} imported from {location}, not {REPO}"
        assert location.parent.name == package.__name__ and location.parent.parent == REPO
