"""Shared by the benchmark scripts: which machine and versions, and one line per figure in the agreed form."""
from __future__ import annotations

import os
import platform
import statistics
from pathlib import Path


def machine() -> str:
    """Describe the machine and the versions that matter for these figures."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = [f"Python {platform.python_version()}"]
    for name in ("PySide6", "sqlalchemy", "psycopg"):
        try:
            versions.append(f"{name} {__import__(name).__version__}")
        except ImportError:
            pass
    return f"# machine: {cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; {', '.join(versions)}"


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def report(name: str, samples: list[float], *, target: str, limit: float, stat: str = "p99") -> bool:
    """Print `name p50=.. p99=.. target ..<=.. PASS|MISS` and return whether the target was met."""
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    value = {"p50": p50, "p99": p99, "max": max(samples)}[stat]
    verdict = "PASS" if value <= limit else "MISS"
    print(f"{name} p50={p50:.1f} p99={p99:.1f} n={len(samples)} target {target} {verdict}", flush=True)
    return verdict == "PASS"


def report_rate(name: str, value: float, *, target: str, minimum: float) -> bool:
    """Print a throughput figure against a floor."""
    verdict = "PASS" if value >= minimum else "MISS"
    print(f"{name} value={value:.0f} target {target} {verdict}", flush=True)
    return verdict == "PASS"


def report_untargeted(name: str, samples: list[float]) -> None:
    """Print `name p50=.. p99=.. target —` for a figure the issue sets no target for (no verdict to give)."""
    p50, p99 = statistics.median(samples), percentile(samples, 99)
    print(f"{name} p50={p50:.1f} p99={p99:.1f} n={len(samples)} target —", flush=True)
