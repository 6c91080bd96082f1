"""The `asset` step: the delivery email arrives and carries the promised asset."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import MonitorProblem
from ..results import Category
from ..schema import AssetSection

if TYPE_CHECKING:
    from .base import StepContext


class Step:
    name = "asset"

    async def run(self, ctx: "StepContext", section: AssetSection) -> None:
        raise MonitorProblem(Category.INTERNAL, "asset checks are not implemented yet")
