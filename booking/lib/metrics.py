"""Prometheus metrics in the text exposition format 0.0.4, for ``GET /metrics``.

In-house instead of prometheus-client, which adds 1.0 MiB RSS to the app (bench/import_costs.py),
mostly for its HTTP servers and push gateway (wsgiref, http.server, urllib.request), never used.
What we need is small: counters, gauges and histograms with labels, families built at scrape
time (booking/observability.py's database collector), and the process and interpreter metrics
under the names prometheus-client gives them, so dashboards and alert rules keep working.

Counter names include their ``_total`` suffix (the name that Prometheus stores, so a grep finds
the code), and no ``*_created`` series are written: nothing reads them.
"""

from __future__ import annotations

import bisect
import gc
import math
import os
import re
import resource
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Generic, Literal, Protocol, TypeVar

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Kind = Literal["counter", "gauge", "histogram"]
Labels = tuple[tuple[str, str], ...]
_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")


def _check(kind: Kind, name: str, labelnames: Sequence[str]) -> None:
    if not _NAME.fullmatch(name) or (kind == "counter") != name.endswith("_total"):
        raise ValueError(f"bad {kind} name {name!r} (counters, and only they, end in _total)")
    for label in labelnames:
        if not _LABEL.fullmatch(label) or label.startswith("__") or label == "le":
            raise ValueError(f"bad label name {label!r} of {name}")


def number(value: float) -> str:
    """A sample value as Prometheus (Go's ParseFloat) reads it: ``1.0``, ``+Inf``, ``NaN``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _label_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


class Family:
    """One metric with its samples, as written to the scrape (``# HELP``, ``# TYPE``, lines)."""

    def __init__(self, kind: Kind, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        _check(kind, name, labelnames)
        self.kind, self.name, self.help, self.labelnames = kind, name, help, tuple(labelnames)
        self.samples: list[tuple[str, Labels, float]] = []  # (name suffix, labels, value)

    def add(self, values: Sequence[str], value: float, suffix: str = "", le: str = "") -> None:
        if len(values) != len(self.labelnames):
            raise ValueError(f"{self.name} has labels {self.labelnames}, got {tuple(values)}")
        labels = tuple(zip(self.labelnames, values, strict=True)) + ((("le", le),) if le else ())
        self.samples.append((suffix, labels, value))

    def lines(self) -> Iterator[str]:
        text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        yield f"# HELP {self.name} {text}"
        yield f"# TYPE {self.name} {self.kind}"
        for suffix, labels, value in self.samples:
            pairs = ",".join(f'{key}="{_label_value(val)}"' for key, val in labels)
            braced = f"{{{pairs}}}" if pairs else ""
            yield f"{self.name}{suffix}{braced} {number(value)}"


class Collector(Protocol):
    def collect(self) -> Iterable[Family]: ...


C = TypeVar("C", bound=Collector)


class Registry:
    def __init__(self) -> None:
        self._collectors: list[Collector] = []

    def register(self, collector: C) -> C:
        self._collectors.append(collector)
        return collector

    def render(self) -> bytes:
        lines = [
            line for c in self._collectors for family in c.collect() for line in family.lines()
        ]
        return "".join(f"{line}\n" for line in lines).encode()


class CounterValue:
    """One series of a counter; the lock makes ``+=`` atomic across the request threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        if amount < 0:
            raise ValueError("a counter only goes up")
        with self._lock:
            self.value += amount


class GaugeValue:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.value = 0.0

    def inc(self, amount: float = 1.0) -> None:
        with self._lock:
            self.value += amount

    def dec(self, amount: float = 1.0) -> None:
        self.inc(-amount)

    def set(self, value: float) -> None:
        with self._lock:
            self.value = float(value)


class HistogramValue:
    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._lock = threading.Lock()
        self._bounds = bounds
        self._counts = [0] * len(bounds)  # per bucket, not cumulative: one += per observation
        self._sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self._bounds, value)  # the first bound >= value ("le")
        with self._lock:
            self._counts[index] += 1
            self._sum += value

    def snapshot(self) -> tuple[list[int], float]:
        with self._lock:
            return list(self._counts), self._sum


V = TypeVar("V", CounterValue, GaugeValue, HistogramValue)


class _Metric(Generic[V]):
    kind: Kind

    def __init__(self, name: str, help: str, labelnames: Sequence[str] = ()) -> None:
        _check(self.kind, name, labelnames)
        self.name, self.help, self.labelnames = name, help, tuple(labelnames)
        self._lock = threading.Lock()
        self._series: dict[tuple[str, ...], V] = {}
        if not labelnames:
            self.labels()  # an unlabelled metric shows 0 from the start

    def labels(self, *values: str) -> V:
        series = self._series.get(values)
        if series is None:
            if len(values) != len(self.labelnames):
                raise ValueError(f"{self.name} has labels {self.labelnames}, got {values}")
            with self._lock:  # two threads may ask for the same new series at once
                series = self._series.get(values)
                if series is None:
                    series = self._series[values] = self._new()
        return series

    def _new(self) -> V:
        raise NotImplementedError

    def _items(self) -> list[tuple[tuple[str, ...], V]]:
        with self._lock:  # a request thread may add a series while we scrape
            return list(self._series.items())


S = TypeVar("S", CounterValue, GaugeValue)


class _Scalar(_Metric[S]):
    def collect(self) -> Iterator[Family]:
        family = Family(self.kind, self.name, self.help, self.labelnames)
        for values, series in self._items():
            family.add(values, series.value)
        yield family


class Counter(_Scalar[CounterValue]):
    kind = "counter"

    def _new(self) -> CounterValue:
        return CounterValue()

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)


class Gauge(_Scalar[GaugeValue]):
    kind = "gauge"

    def _new(self) -> GaugeValue:
        return GaugeValue()

    def inc(self, amount: float = 1.0) -> None:
        self.labels().inc(amount)

    def dec(self, amount: float = 1.0) -> None:
        self.labels().dec(amount)

    def set(self, value: float) -> None:
        self.labels().set(value)


class Histogram(_Metric[HistogramValue]):
    kind = "histogram"

    def __init__(
        self, name: str, help: str, labelnames: Sequence[str], buckets: Sequence[float]
    ) -> None:
        self.bounds = (*sorted(float(b) for b in buckets if b != math.inf), math.inf)
        super().__init__(name, help, labelnames)

    def _new(self) -> HistogramValue:
        return HistogramValue(self.bounds)

    def observe(self, value: float) -> None:
        self.labels().observe(value)

    def collect(self) -> Iterator[Family]:
        family = Family("histogram", self.name, self.help, self.labelnames)
        for values, series in self._items():
            counts, total = series.snapshot()
            cumulative = 0
            for bound, count in zip(self.bounds, counts, strict=True):
                cumulative += count
                family.add(values, cumulative, "_bucket", le=number(bound))
            family.add(values, cumulative, "_count")
            family.add(values, total, "_sum")
        yield family


def family(kind: Kind, name: str, help: str, value: float) -> Family:
    """A family of one unlabelled sample."""
    single = Family(kind, name, help)
    single.add((), value)
    return single


_PROCESS: tuple[tuple[Kind, str, str], ...] = (
    ("gauge", "process_virtual_memory_bytes", "Virtual memory size in bytes."),
    ("gauge", "process_resident_memory_bytes", "Resident memory size in bytes."),
    (
        "gauge",
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
    ),
    ("counter", "process_cpu_seconds_total", "Total user and system CPU time spent in seconds."),
    ("gauge", "process_open_fds", "Number of open file descriptors."),
    ("gauge", "process_max_fds", "Maximum number of open file descriptors."),
)
_GC = (  # gc.get_stats() key, name, help
    ("collected", "python_gc_objects_collected_total", "Objects collected during gc"),
    (
        "uncollectable",
        "python_gc_objects_uncollectable_total",
        "Uncollectable objects found during GC",
    ),
    ("collections", "python_gc_collections_total", "Number of times this generation was collected"),
)


class ProcessCollector:
    """CPU, memory, start time and file descriptors of this process from /proc (Linux; elsewhere
    nothing), under prometheus-client's names."""

    def __init__(self) -> None:
        self._ticks = os.sysconf("SC_CLK_TCK")
        self._page = os.sysconf("SC_PAGE_SIZE")
        try:
            with open("/proc/stat", "rb") as stat:
                self._boot = next(float(ln.split()[1]) for ln in stat if ln.startswith(b"btime"))
        except (OSError, StopIteration):
            self._boot = -1.0

    def collect(self) -> Iterator[Family]:
        if self._boot < 0:
            return
        try:
            with open("/proc/self/stat", "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()  # the name may hold spaces
            open_fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            return
        values = (
            float(fields[20]),  # vsize
            float(fields[21]) * self._page,  # rss, in pages
            self._boot + float(fields[19]) / self._ticks,  # starttime, in ticks since boot
            (float(fields[11]) + float(fields[12])) / self._ticks,  # utime + stime
            open_fds,
            resource.getrlimit(resource.RLIMIT_NOFILE)[0],
        )
        for (kind, name, help), value in zip(_PROCESS, values, strict=True):
            yield family(kind, name, help, value)


class PythonCollector:
    """``python_info`` and the garbage collector's counts per generation."""

    def collect(self) -> Iterator[Family]:
        version = sys.version.split()[0]  # "3.11.7", as platform.python_version() says
        labels = ("implementation", "major", "minor", "patchlevel", "version")
        info = Family("gauge", "python_info", "Python platform information", labels)
        implementation = {"cpython": "CPython", "pypy": "PyPy"}.get(sys.implementation.name)
        info.add((implementation or sys.implementation.name, *version.split(".", 2), version), 1)
        yield info
        stats = gc.get_stats()
        for key, name, help in _GC:
            counts = Family("counter", name, help, ("generation",))
            for generation, stat in enumerate(stats):
                counts.add((str(generation),), stat[key])
            yield counts
