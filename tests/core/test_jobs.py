import threading

from gridgov.core.jobs import JOBS, Job, JobRunner


def test_runner_runs_every_job_until_stopped_and_survives_failures():
    calls: list[str] = []
    ran_twice = threading.Event()

    def ok(_engine):
        calls.append("ok")
        if calls.count("ok") >= 2:
            ran_twice.set()

    def broken(_engine):
        calls.append("broken")
        raise RuntimeError("boom")

    runner = JobRunner(engine=None, jobs=(Job("broken", 0.01, broken), Job("ok", 0.01, ok)))
    runner.start()
    assert ran_twice.wait(5), "the runner stopped after a failing job"
    runner.stop()
    assert calls[:2] == ["broken", "ok"]
    count = len(calls)
    threading.Event().wait(0.05)
    assert len(calls) == count  # stopped


def test_the_sla_sweep_is_registered():
    assert [job.name for job in JOBS] == ["sla-sweep"]
