"""The `ad` step: follow the ad's click URL and check where it lands.

Minimal spine version: navigation, final status, landing URL and kept params.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import parse_qs, urlsplit

from ..errors import StepFailed
from ..results import Category
from ..schema import AdSection
from .pagekit import navigate

if TYPE_CHECKING:
    from .base import StepContext


class Step:
    name = "ad"

    async def run(self, ctx: "StepContext", section: AdSection) -> None:
        url = ctx.fill_placeholders(section.url)
        nav = await navigate(ctx, url)
        ctx.evidence["_navigation"] = nav
        ctx.evidence["ad"] = {"url": url, "final_url": nav.final_url, "status": nav.status}
        if nav.status is not None and nav.status >= 400:
            raise StepFailed(Category.HTTP_STATUS, f"the ad lands on {nav.final_url}, which answered HTTP {nav.status}")
        final = urlsplit(nav.final_url)
        if section.landing_url:
            expected = urlsplit(ctx.fill_placeholders(section.landing_url))
            if (final.netloc, final.path) < (expected.netloc, "") or final.netloc != expected.netloc or not final.path.startswith(expected.path):
                raise StepFailed(Category.WRONG_LANDING, f"the ad lands on {nav.final_url}, not on {expected.geturl()}")
        sent = parse_qs(urlsplit(url).query)
        arrived = parse_qs(final.query)
        for name in section.keep_params:
            if name in sent and arrived.get(name) != sent[name]:
                raise StepFailed(Category.LOST_PARAM, f"tracking parameter '{name}' is missing on the landing page {nav.final_url}")
