"""Benchmark helpers: after the run, print each group's medians as ratios to its reference."""

from __future__ import annotations

from collections import defaultdict


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print 'reference / candidate' median ratios per benchmark group (the reference is the benchmark
    whose name contains '[reference' or 'diffusers')."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    groups = defaultdict(list)
    for bench in session.benchmarks:
        groups[bench.group].append(bench)
    terminalreporter.section("ratios (median time of the reference / median time of each)")
    for group, benches in groups.items():
        reference = next((b for b in benches if "diffusers" in b.name), None)
        if reference is None:
            continue
        ref_median = reference.stats.median
        for bench in sorted(benches, key=lambda b: b.stats.median):
            ratio = ref_median / bench.stats.median
            terminalreporter.write_line(
                f"{group}: {bench.name:<40} median {bench.stats.median * 1e6:9.2f} us   {ratio:6.2f}x vs {reference.name}"
            )
