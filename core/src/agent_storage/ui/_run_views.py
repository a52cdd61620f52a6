"""Workflow runs (status filter, a run's snapshot and step results) and scores."""

from __future__ import annotations

import asyncio

from starlette.requests import Request
from starlette.responses import Response

from ..errors import NotFoundError
from ._charts import histogram
from ._params import opt, page_number, required
from ._render import render

__all__ = ["run", "runs", "scores"]

RUNS_PER_PAGE = 50
SCORES_PER_PAGE = 50
#: A scorer's distribution is drawn from its newest scores, at most this many.
DISTRIBUTION_SAMPLE = 500
STATUSES = ("running", "success", "failed", "suspended", "waiting", "pending", "canceled")


async def runs(request: Request) -> Response:
    workflows = request.app.state.storage.workflows
    number = page_number(request)
    page = await workflows.list_runs(
        workflow_name=opt(request, "workflow"), resource_id=opt(request, "resource"),
        status=opt(request, "status"), page=number, per_page=RUNS_PER_PAGE)
    return render(request, "runs.html", title="Workflow runs", page=page, statuses=STATUSES)


async def run(request: Request) -> Response:
    storage = request.app.state.storage
    run_id = required(request, "id")
    found = await storage.workflows.get_run(run_id, workflow_name=opt(request, "workflow"))
    if found is None:
        raise NotFoundError(f"workflow run {run_id!r} not found")
    scores = None
    if storage.get_domain("scores") is not None:
        scores = await storage.scores.list_scores(run_id=run_id, per_page=SCORES_PER_PAGE)
    context = found.snapshot.get("context")
    steps = context if isinstance(context, dict) else {}
    return render(request, "run.html", title=f"Run {run_id}", run=found, steps=steps,
                  scores=scores)


async def scores(request: Request) -> Response:
    """Scores newest first, filtered by scorer/run/trace; for each scorer on the page, a
    histogram of its newest scores (one query per scorer shown, all at once)."""
    domain = request.app.state.storage.scores
    number = page_number(request)
    page = await domain.list_scores(
        scorer_id=opt(request, "scorer"), run_id=opt(request, "run"),
        trace_id=opt(request, "trace"), page=number, per_page=SCORES_PER_PAGE)
    scorers = sorted({s.scorer_id for s in page.items})
    samples = await asyncio.gather(*(
        domain.list_scores(scorer_id=name, per_page=DISTRIBUTION_SAMPLE) for name in scorers))
    charts = {name: histogram([s.score for s in sample.items])
              for name, sample in zip(scorers, samples, strict=True)}
    return render(request, "scores.html", title="Scores", page=page, charts=charts,
                  sample=DISTRIBUTION_SAMPLE)

