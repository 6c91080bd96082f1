"""The `followup` step: record a demo-request probe, settled by later runs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MonitorProblem
from ..results import Category
from ..schema import FollowupSection

if TYPE_CHECKING:
    from .base import StepContext


class Step:
    name = "followup"

    async def run(self, ctx: "StepContext", section: FollowupSection) -> None:
        raise MonitorProblem(Category.INTERNAL, "follow-up checks are not implemented yet")
