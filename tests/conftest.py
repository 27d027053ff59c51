"""Shared fixtures. The real interactome is built once per session (cached on disk after the first build)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TWINCELL_PROGRESS", "0")


@pytest.fixture(scope="session")
def interactome():
    """The default interactome built from the bundled real sources."""
    from twincell.network import Interactome

    return Interactome.default()
