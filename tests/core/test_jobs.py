import threading

import pytest

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


def test_the_sla_sweep_the_rate_counter_pruning_the_iot_and_the_hotspot_jobs_are_registered():
    assert [job.name for job in JOBS] == [
        "sla-sweep",
        "prune-rate-counters",
        "iot-offline-sweep",
        "iot-prune-readings",
        "triage-hotspots",
        "campaign-tagging",
        "evaluation-bulletins",
        "duty-notifications",
        "staff-filings",
    ]
    assert {job.name: job.interval_s for job in JOBS}["iot-prune-readings"] == 86400.0


def test_each_job_keeps_its_own_interval():
    calls: list[str] = []
    fast_twice = threading.Event()

    def fast(_engine):
        calls.append("fast")
        if calls.count("fast") >= 3:
            fast_twice.set()

    runner = JobRunner(
        engine=None, jobs=(Job("slow", 3600.0, lambda _e: calls.append("slow")), Job("fast", 0.01, fast))
    )
    runner.start()
    assert fast_twice.wait(5)
    runner.stop()
    assert calls.count("slow") == 1


def test_rate_counters_are_counted_refused_and_pruned(db):
    import datetime as dt

    from gridgov.core import ratelimit

    now = dt.datetime(2026, 11, 25, 9, 0, tzinfo=dt.UTC)
    key = ratelimit.bucket_key("address", "203.0.113.9", secret="s")
    assert "203.0.113.9" not in key  # a keyed hash, never the address itself
    window = dt.timedelta(hours=1)
    assert [ratelimit.hit(db=db, key=key, limit=2, window=window, now=now, what="reports") for _ in range(2)] == [1, 2]
    with pytest.raises(ratelimit.RateLimited) as refused:
        ratelimit.hit(db=db, key=key, limit=2, window=window, now=now + dt.timedelta(minutes=15), what="reports")
    assert refused.value.status == 429 and refused.value.details["retry_after"] == 45 * 60
    assert ratelimit.hit(db=db, key=key, limit=2, window=window, now=now + window, what="reports") == 1  # new window
    assert ratelimit.prune(db=db, older_than=now + dt.timedelta(days=3)) == 1
