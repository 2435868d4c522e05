"""The workers' memory: their RSS, and whether it grows from one load round to the next."""

import re
from pathlib import Path

LEAK_TOLERANCE_MB = 1.0  # a worker's RSS may rise this much from one load round to the next


def rss_mb(pids):
    """VmRSS of each process in ``pids`` that still runs, MB (MiB)."""
    sizes = {}
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        kb = int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))
        sizes[pid] = round(kb / 1024, 1)
    return sizes


def worker_memory(servers, rounds):
    """Fresh-worker RSS and growth from one load round to the next, per server.

    ``rounds[server][scenario]`` is a list of ``{pid: MB}``, one after each slice (a load
    round). A worker *grows* when its RSS rises by more than ``LEAK_TOLERANCE_MB`` in two or
    more of a scenario's round-to-round steps: a leak rises with every round, while a single
    step is a new steady state (the 19 MiB argon2id block a worker keeps the first time it
    runs two checks at once). A scenario with one slice (--smoke) has no step.
    """
    out = {}
    for name, server in servers.items():
        worst, where, leaks = None, None, []
        for scenario, snaps in rounds.get(name, {}).items():
            rises = {}
            for before, after in zip(snaps, snaps[1:]):
                for pid, mb in after.items():
                    if pid in before:
                        rise = round(mb - before[pid], 1)
                        rises.setdefault(pid, []).append(rise)
                        if worst is None or rise > worst:
                            worst, where = rise, scenario
            for pid, steps in rises.items():
                if sum(step > LEAK_TOLERANCE_MB for step in steps) >= 2:
                    leaks.append({"scenario": scenario, "pid": pid, "steps_mb": steps})
        last = next((snaps[-1] for snaps in reversed(list(rounds.get(name, {}).values()))
                     if snaps), {})
        steps_seen = any(len(snaps) > 1 for snaps in rounds.get(name, {}).values())
        out[name] = {"fresh_mb": server.fresh_rss or {}, "after_mb": last,
                     "max_round_growth_mb": worst, "growth_scenario": where,
                     "growing_workers": leaks if steps_seen else None}
    return out
