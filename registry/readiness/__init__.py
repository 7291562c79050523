"""Production readiness: the ten-area scorecard, the five questions before scaling,
waivers, promotion approvals bound to evidence, and the promotion gate.

- ``criteria``: the areas, their criteria and the questions (the readable rules);
- ``reviews``: when review procedures and monitoring plans fall due;
- ``scorecard``: :func:`evaluate` (from the database) and :func:`score` (pure);
- ``gate``: the check every promotion to production passes;
- ``approvals``: a compliance officer's approval of a promotion.
"""

from __future__ import annotations

from registry.readiness.criteria import AREAS, AREAS_BY_KEY, QUESTIONS
from registry.readiness.model import Scorecard
from registry.readiness.scorecard import evaluate, score

__all__ = ["AREAS", "AREAS_BY_KEY", "QUESTIONS", "Scorecard", "evaluate", "score"]
