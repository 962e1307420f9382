"""Rule engine throughput: samples from the demo organisation's 14 services against 200 rules, on one core.

Target (issue 4): >= 50,000 signals evaluated per second against 200 rules on one core.
The 200 rules are the shipped policy's rules plus copies aimed at single services with varied thresholds.
Samples (availability, error rate, p99 latency, tickets, affected accounts, now and then a sentiment report) come
every 15 simulated seconds per series, with incidents mixed in so that rules do fire. Samples are built before
timing, as the ingest path hands them over; the figure is `RuleEngine.observe` alone.
Run: .venv/bin/python bench/routing_rules.py (this figure alone); bench/routing.py prints it with the escalation
tick and the ingest figures of issue 4, through `run` below.
"""
from __future__ import annotations

import sys
from pathlib import Path

# Run as `python bench/routing_rules.py`: the repository root goes first on the path, not bench/.
sys.path[0] = str(Path(__file__).resolve().parent.parent)

import gc  # noqa: E402
import os  # noqa: E402
import random  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import replace  # noqa: E402
from datetime import UTC, datetime, timedelta  # noqa: E402

from bench._report import machine, report_rate  # noqa: E402
from console.demo.organisation import default_organisation  # noqa: E402
from console.routing import Metric, Policy, Rule, RuleEngine, RuleKind, Sample, default_policy  # noqa: E402

RULES = 200
SAMPLES = 900_000
WARM_UP = 150_000
CHUNK = 50_000
STRESS = 400_000
STEP = timedelta(seconds=15)
START = datetime(2026, 11, 27, 0, 0, tzinfo=UTC)
ACCOUNTS = ["Acme", "Globex", "Initech", "Umbrella", "Hooli", "Stark Industries"]


def rules(*, services: list[str], rng: random.Random) -> tuple[Rule, ...]:
    """The policy's rules, then copies for one service each with thresholds moved by up to 20%, up to RULES."""
    base = default_policy().rules
    variants: list[Rule] = list(base)
    while len(variants) < RULES:
        for service in services:
            for rule in base:
                if len(variants) >= RULES:
                    break
                rule_id = f"{rule.id}-{service}-{len(variants)}"
                if rule.kind is RuleKind.QUALITATIVE:
                    variants.append(replace(rule, id=rule_id, services=(service,), tiers=()))
                    continue
                assert rule.threshold is not None
                factor = rng.uniform(0.8, 1.2)
                threshold = rule.threshold * factor
                if rule.metric.percent and rule.kind is RuleKind.THRESHOLD:
                    threshold = min(threshold, 100.0)
                if rule.kind is RuleKind.BURN_RATE:
                    threshold = min(threshold, 100.0 / (100.0 - (rule.slo_percent or 99.9)))
                variants.append(replace(rule, id=rule_id, services=(service,), tiers=(), threshold=threshold))
    return tuple(variants)


def samples(*, services: list[tuple[str, str]], rng: random.Random, count: int = SAMPLES) -> list[Sample]:
    """A realistic stream: quiet baselines with noise, and incidents that push one service's metrics for a while."""
    out: list[Sample] = []
    trouble: dict[str, int] = {}  # service -> ticks of incident left
    tick = 0
    while len(out) < count:
        at = START + tick * STEP
        if rng.random() < 0.01:
            trouble[rng.choice(services)[0]] = rng.randint(40, 400)
        for name, tier in services:
            bad = trouble.get(name, 0) > 0
            if bad:
                trouble[name] -= 1
            errors = max(0.0, rng.gauss(4.0 if bad else 0.05, 1.0 if bad else 0.03))
            values = {
                "error_rate": errors, "availability": 100.0 - errors,
                "latency_p99_ms": rng.lognormvariate(7.9 if bad else 5.8, 0.3),
                "tickets": float(rng.random() < (0.4 if bad else 0.02)),
                "affected_accounts": float(rng.randint(50, 300) if bad else rng.randint(0, 3)),
            }
            out += [Sample(service=name, tier=tier, metric=m, value=v, at=at) for m, v in values.items()]
            if rng.random() < 0.002:
                report = {"account": rng.choice(ACCOUNTS), "strategic": rng.choice(["true", "false"]),
                          "value": rng.choice(["negative", "neutral", "positive"])}
                out.append(Sample(service=name, tier=tier, metric=Metric.SENTIMENT.value, value=0.0, at=at,
                                  attributes=report))
        tick += 1
    return out[:count]


def measure(*, policy: Policy, stream: list[Sample]) -> tuple[list[float], int, float]:
    """Warm up, then time `observe` over chunks; return the rates, the decisions and the mean rules met per sample."""
    engine = RuleEngine(policy=policy)
    observe = engine.observe
    decisions = 0
    for sample in stream[:WARM_UP]:
        decisions += len(observe(sample=sample))
    rates = []
    gc.collect()
    for offset in range(WARM_UP, len(stream), CHUNK):
        chunk = stream[offset:offset + CHUNK]
        started = time.perf_counter()
        for sample in chunk:
            decisions += len(observe(sample=sample))
        rates.append(len(chunk) / (time.perf_counter() - started))
    met = {key: len(route.checks) + len(route.reports) for key, route in engine._routes.items()}
    per_sample = sum(met[s.service, s.metric, s.tier] for s in stream[:CHUNK]) / CHUNK
    return rates, decisions, per_sample


def run(*, count: int = SAMPLES, stress: int | None = STRESS) -> bool:
    """Print the figure (and, unless `stress` is None, the all-rules-everywhere case); return whether it passed.

    Pinned to one core while it runs, as the target says; the process's cores are given back afterwards.
    """
    pinned = hasattr(os, "sched_setaffinity")
    cores = os.sched_getaffinity(0) if pinned else set()
    if pinned:
        os.sched_setaffinity(0, {min(cores)})
    try:
        rng = random.Random(4)
        services = [(s.name, s.tier.value) for s in default_organisation().services]
        variants = rules(services=[name for name, _ in services], rng=rng)
        stream = samples(services=services, rng=rng, count=count)
        hours = (stream[-1].at - stream[0].at).total_seconds() / 3600
        rates, decisions, met = measure(policy=replace(default_policy(), rules=variants), stream=stream)
        print(f"# {len(variants)} rules, {len(services)} services, {len(stream):,} samples over {hours:.0f} "
              f"simulated h, {met:.1f} rules met per sample, {decisions:,} decisions; "
              f"rates per {CHUNK:,} samples min={min(rates):,.0f} max={max(rates):,.0f}")
        passed = report_rate("routing.rules_signals_per_second", statistics.median(rates), target=">=50000",
                             minimum=50_000)
        if stress is not None:
            # Not a target: the worst case where all 200 rules concern every service, so a sample meets ~40 of them.
            everywhere = tuple(replace(rule, services=("*",), tiers=()) for rule in variants)
            rates, decisions, met = measure(policy=replace(default_policy(), rules=everywhere), stream=stream[:stress])
            print(f"# stress, every rule on every service: {met:.1f} rules met per sample, "
                  f"{statistics.median(rates):,.0f} signals/s (no target)")
        return passed
    finally:
        if pinned:
            os.sched_setaffinity(0, cores)


def main() -> None:
    print(machine())
    run()


if __name__ == "__main__":
    main()
