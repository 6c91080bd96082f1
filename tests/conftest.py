"""Shared fixtures: a real local site on a free port, and projects on disk to run.

Capability-specific fixtures (Dovecot, SMTP, alert receiver) live in
tests/fixtures/ and are loaded as plugins below.
"""

from __future__ import annotations

from typing import Any

import pytest

from funnelwatch.demo.server import LocalSite

pytest_plugins = [
    "tests.fixtures.projects",
    "tests.fixtures.dovecot",
    "tests.fixtures.alert_receiver",
    "tests.fixtures.sales",
    "tests.fixtures.report_history",
    "tests.fixtures.faulty_servers",
    "tests.fixtures.http_proxy",
    "tests.fixtures.published_inboxes",
    "tests.fixtures.postgres",
]


@pytest.fixture(scope="session")
def site_session() -> Any:
    with LocalSite() as site:
        yield site


@pytest.fixture
def site(site_session: LocalSite) -> Any:
    """The session's local site; routes a test sets are removed afterwards."""
    before = dict(site_session.routes)
    yield site_session
    site_session.routes.clear()
    site_session.routes.update(before)
