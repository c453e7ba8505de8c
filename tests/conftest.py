"""Shared fixtures. The local fake servers register their fixtures as plugins."""

from __future__ import annotations

import pytest

pytest_plugins = ["tests.fakes.arxiv", "tests.fakes.openai", "tests.fakes.sendgrid"]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    """No test reads the developer's keys, config or working directory."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "SENDGRID_API_KEY", "NEWSLETTER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
