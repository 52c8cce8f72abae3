"""booking/lib/metrics.py: the text format as two independent readers see it (prometheus-client's
parser and ``promtool check metrics``), label escaping, histogram buckets, exact counts under
concurrent increments, and process metrics under prometheus-client's names with sane values."""

from __future__ import annotations

import gc
import math
import os
import platform
import resource
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from booking.lib.metrics import (
    Counter,
    CounterValue,
    Family,
    Gauge,
    Histogram,
    ProcessCollector,
    PythonCollector,
    Registry,
    family,
    number,
)
from booking.observability import BUCKETS, Metrics
from tests.observability.helpers import tool

NASTY = 'a\\b"c\nd {} ü'  # backslash, quote, newline, braces, non-ASCII


def parsed(registry: Registry) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for metric in text_string_to_metric_families(registry.render().decode()):
        for sample in metric.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def promtool_check(text: bytes) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [tool("promtool"), "check", "metrics"],
        input=text.decode(),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_prometheus_client_reads_back_names_types_help_and_escaped_labels() -> None:
    registry = Registry()
    counter = registry.register(Counter("t_requests_total", "Help with \\ and\nnewline.", ["x"]))
    gauge = registry.register(Gauge("t_level", "A gauge."))
    counter.labels(NASTY).inc(2)
    counter.labels("plain").inc()
    gauge.set(-1.5)
    families = {f.name: f for f in text_string_to_metric_families(registry.render().decode())}
    assert families["t_requests"].type == "counter"
    assert families["t_requests"].documentation == "Help with \\ and\nnewline."
    assert families["t_level"].type == "gauge"
    found = parsed(registry)
    assert found[("t_requests_total", (("x", NASTY),))] == 2
    assert found[("t_requests_total", (("x", "plain"),))] == 1
    assert found[("t_level", ())] == -1.5


def test_promtool_accepts_the_app_registry_and_rejects_broken_text() -> None:
    metrics = Metrics(None)
    metrics.requests.labels("GET", NASTY, "200").inc()
    metrics.duration.labels("GET", NASTY).observe(0.3)
    result = promtool_check(metrics.render())
    assert result.returncode == 0, result.stdout + result.stderr
    # The check can fail: an unescaped quote, and a counter without _total.
    assert promtool_check(
        b'# HELP x_total h\n# TYPE x_total counter\nx_total{a="\\"} 1\n'
    ).returncode
    assert promtool_check(b"# HELP x h\n# TYPE x counter\nx 1\n").returncode


def test_histogram_buckets_are_cumulative_with_le_inclusive() -> None:
    registry = Registry()
    histogram = registry.register(Histogram("t_seconds", "Durations.", ["route"], BUCKETS))
    observed = (0.001, 0.01, 0.0100001, 0.3, 10.0, 11.0, 11.0)
    for value in observed:
        histogram.labels("/").observe(value)
    found = parsed(registry)

    def bucket(le: str) -> float:
        return found[("t_seconds_bucket", (("le", le), ("route", "/")))]

    les = [number(b) for b in BUCKETS] + ["+Inf"]
    assert les[:3] == ["0.01", "0.025", "0.05"] and "1.0" in les and "10.0" in les
    counts = [bucket(le) for le in les]
    assert counts == sorted(counts)  # cumulative
    assert bucket("0.01") == 2  # le: a value on the bound counts in its bucket
    assert bucket("0.025") == 3
    assert bucket("0.5") == 4
    assert bucket("10.0") == 5
    assert bucket("+Inf") == 7 == found[("t_seconds_count", (("route", "/"),))]
    assert found[("t_seconds_sum", (("route", "/"),))] == pytest.approx(sum(observed))


@pytest.fixture
def eager_thread_switches() -> Iterator[None]:
    """Switch threads every microsecond, so that races show (``+=`` itself cannot be
    interrupted on CPython 3.11, but a free-threaded Python has no such guarantee)."""
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(before)


@pytest.mark.usefixtures("eager_thread_switches")
def test_concurrent_increments_add_up_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = Registry()
    counter = registry.register(Counter("t_total", "Counts.", ["n"]))
    new_series = counter._new

    def slow_new_series() -> CounterValue:
        time.sleep(0.0005)  # lets another thread in while a series is being created
        return new_series()

    monkeypatch.setattr(counter, "_new", slow_new_series)
    gauge = registry.register(Gauge("t_gauge", "Up and down."))
    histogram = registry.register(Histogram("t_seconds", "Durations.", [], [0.5]))
    threads, rounds = 8, 5_000

    start = threading.Barrier(threads)

    def work(thread: int) -> None:
        for i in range(rounds):
            if i % 20 == 0:
                start.wait()  # all threads at once on a new series: a race to create it
            counter.labels(str(i // 20)).inc()
            counter.labels("shared").inc(0.5)
            gauge.inc(2)
            gauge.dec()
            histogram.observe(1.0 if thread % 2 else 0.1)
            if i % 500 == 0:
                registry.render()  # a scrape while series are being added

    workers = [threading.Thread(target=work, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    found = parsed(registry)
    series = [found[("t_total", (("n", str(n)),))] for n in range(rounds // 20)]
    assert series == [threads * 20] * (rounds // 20)
    assert found[("t_total", (("n", "shared"),))] == threads * rounds / 2
    assert found[("t_gauge", ())] == threads * rounds
    assert found[("t_seconds_bucket", (("le", "0.5"),))] == threads * rounds / 2
    assert found[("t_seconds_count", ())] == threads * rounds


def test_values_and_names_are_checked() -> None:
    assert [number(v) for v in (1, 0.25, math.inf, -math.inf, math.nan)] == [
        "1.0",
        "0.25",
        "+Inf",
        "-Inf",
        "NaN",
    ]
    counter = Counter("t_total", "Counts.", ["a"])
    with pytest.raises(ValueError):
        counter.labels("x").inc(-1)
    with pytest.raises(ValueError):
        counter.labels("x", "y")
    for bad in (
        lambda: Counter("t", "No _total."),
        lambda: Gauge("t_total", "A gauge named like a counter."),
        lambda: Gauge("t-x", "Bad name."),
        lambda: Gauge("t", "Reserved label.", ["le"]),
        lambda: Family("gauge", "t", "Bad label.", ["a-b"]),
    ):
        with pytest.raises(ValueError):
            bad()
    registry = Registry()
    registry.register(Gauge("t_idle", "Never touched."))
    registry.register(Counter("t_labelled_total", "No series yet.", ["a"]))
    text = registry.render().decode()
    assert "\nt_idle 0.0\n" in text and "t_labelled_total{" not in text
    assert "# TYPE t_labelled_total counter\n" in text


def process_registry() -> Registry:
    registry = Registry()
    registry.register(ProcessCollector())
    registry.register(PythonCollector())
    return registry


def vm_rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_process_and_python_metrics_have_prometheus_clients_names_and_help() -> None:
    """prometheus-client (a dev dependency) as the reference for names, types, help, labels."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.gc_collector import GCCollector
    from prometheus_client.platform_collector import PlatformCollector
    from prometheus_client.process_collector import ProcessCollector as Reference

    reference = CollectorRegistry()
    for collector in (Reference, PlatformCollector, GCCollector):
        collector(registry=reference)

    def shape(text: str) -> set[tuple[str, str, str, str, tuple[str, ...]]]:
        return {
            (f.name, f.type, f.documentation, s.name, tuple(sorted(s.labels)))
            for f in text_string_to_metric_families(text)
            for s in f.samples
        }

    ours = process_registry().render().decode()
    assert shape(ours) == shape(generate_latest(reference).decode())
    info = {f.name: f for f in text_string_to_metric_families(ours)}["python_info"].samples
    assert [sample.labels for sample in info] == [
        {
            "implementation": platform.python_implementation(),
            "major": platform.python_version_tuple()[0],
            "minor": platform.python_version_tuple()[1],
            "patchlevel": platform.python_version_tuple()[2],
            "version": platform.python_version(),
        }
    ]


def test_process_metrics_are_plausible() -> None:
    registry = process_registry()
    found = parsed(registry)
    rss = found[("process_resident_memory_bytes", ())]
    assert abs(rss - vm_rss_bytes()) < 0.2 * vm_rss_bytes()
    assert found[("process_virtual_memory_bytes", ())] > rss
    elapsed = subprocess.run(
        ["ps", "-o", "etimes=", "-p", str(os.getpid())], capture_output=True, text=True, check=True
    )
    started = found[("process_start_time_seconds", ())]
    assert abs(started - (time.time() - int(elapsed.stdout))) < 3
    cpu = found[("process_cpu_seconds_total", ())]
    assert time.process_time() - 0.2 < cpu <= time.process_time()  # in clock ticks (10 ms)
    assert found[("process_max_fds", ())] == resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    opened = [os.open(os.devnull, os.O_RDONLY) for _ in range(5)]
    try:
        assert parsed(registry)[("process_open_fds", ())] == found[("process_open_fds", ())] + 5
    finally:
        for fd in opened:
            os.close(fd)
    before = gc.get_stats()
    found = parsed(registry)
    after = gc.get_stats()
    for generation in range(3):
        for key in ("collections", "collected", "uncollectable"):
            name = {"collections": "python_gc_collections_total"}.get(
                key, f"python_gc_objects_{key}_total"
            )
            value = found[(name, (("generation", str(generation)),))]
            assert before[generation][key] <= value <= after[generation][key]


def test_a_database_failure_reports_down_and_keeps_the_rest(ctx, monkeypatch) -> None:
    metrics = Metrics(ctx)
    found = parsed(metrics.registry)
    assert found[("booking_database_up", ())] == 1
    assert ("booking_mail_outbox_pending", ()) in found

    def broken(self: object) -> Iterator[Family]:
        yield family("gauge", "booking_half_written", "Never reaches the scrape.", 1)
        raise RuntimeError("database gone")

    monkeypatch.setattr("booking.observability.DatabaseCollector._from_database", broken)
    found = parsed(metrics.registry)
    assert found[("booking_database_up", ())] == 0
    assert ("booking_mail_outbox_pending", ()) not in found
    assert ("booking_half_written", ()) not in found
    assert ("booking_db_pool_size", ()) in found and ("process_open_fds", ()) in found
