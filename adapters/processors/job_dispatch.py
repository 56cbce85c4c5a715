"""The job dispatcher: wakes the job engine when a job becomes pending (submitted, resumed or
resubmitted), once the jobs read model the engine picks from shows it."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from domain.aggregates import Job
from projections.read_model import Positioned


class JobDispatcher:
    name = "job-dispatcher"
    topics = (Job.Submitted, Job.Resumed, Job.Resubmitted)
    follows = ("jobs",)

    def __init__(self, wake_engine: Callable[[], None]) -> None:
        self.wake_engine = wake_engine

    def handle(self, batch: Sequence[Positioned]) -> None:
        self.wake_engine()

    def tick(self) -> float | None:
        return None
