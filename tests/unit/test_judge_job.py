"""The judge check run in the service: one at a time, in the background, its result recorded
and its failure reported (never left "running"), abandoned when the service stops."""

from __future__ import annotations

import threading

import pytest

from ragsvc.control.judge_job import JudgeCheckJob, JudgeCheckRun
from ragsvc.control.state import JudgeCheck
from ragsvc.errors import ConflictError, ServiceUnavailableError

CHECKED = JudgeCheck(
    model="m", right_answers=2, right_judged_right=1, wrong_answers=2, wrong_judged_wrong=2
)


def finished(job: JudgeCheckJob) -> JudgeCheckRun:
    for _ in range(500):
        run = job.status()
        if run.status != "running":
            return run
        threading.Event().wait(0.01)
    raise AssertionError("the check never finished")


def test_a_check_runs_in_the_background_one_at_a_time_and_is_recorded() -> None:
    job, release, recorded = JudgeCheckJob(), threading.Event(), []

    def check(stop: threading.Event) -> JudgeCheck:
        release.wait(5)
        return CHECKED

    assert job.status().status == "idle"
    started = job.start(check, recorded.append, pairs=2)
    assert started.status == "running" and started.pairs == 2 and started.started_at
    with pytest.raises(ConflictError, match="running already"):
        job.start(check, recorded.append, pairs=2)
    release.set()
    run = finished(job)
    assert run.status == "done" and run.error is None and run.finished_at
    assert recorded == [CHECKED]


@pytest.mark.parametrize(
    ("found", "error"),
    [
        (
            JudgeCheck(
                model="m",
                right_answers=0,
                right_judged_right=0,
                wrong_answers=0,
                wrong_judged_wrong=0,
                unclear=4,
            ),
            "no readable verdict",
        ),
        (ServiceUnavailableError("the month's LLM budget is spent"), "budget is spent"),
        (RuntimeError("a bug"), "RuntimeError: a bug"),
    ],
)
def test_a_check_that_finds_nothing_or_fails_stores_nothing_and_says_why(
    found: JudgeCheck | Exception, error: str
) -> None:
    job, recorded = JudgeCheckJob(), []

    def check(stop: threading.Event) -> JudgeCheck:
        if isinstance(found, Exception):
            raise found
        return found

    job.start(check, recorded.append, pairs=2)
    run = finished(job)
    assert run.status == "failed" and error in (run.error or "") and recorded == []
    job.start(lambda stop: CHECKED, recorded.append, pairs=2)  # another may start after it
    assert finished(job).status == "done" and recorded == [CHECKED]


def test_stopping_the_service_ends_a_running_check() -> None:
    job, recorded, asked = JudgeCheckJob(), [], threading.Event()

    def check(stop: threading.Event) -> JudgeCheck:
        asked.set()
        stop.wait(5)
        raise ServiceUnavailableError("the service is stopping: the check is abandoned")

    job.start(check, recorded.append, pairs=2)
    asked.wait(5)
    job.close()
    run = job.status()
    assert run.status == "failed" and "stopping" in (run.error or "") and recorded == []
