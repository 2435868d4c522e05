"""The bars of issue 12: each scenario's ratios against them, the memory bars, and validity."""

from bench.load import SCENARIOS, TOKEN_SCENARIOS
from bench.memory import LEAK_TOLERANCE_MB

# The bar of each scenario: luffy's req/s >= bar x the same-I/O floor's req/s.
IO_BARS = {"me": 0.6, "verify": 0.7, "refresh": 0.6, "login": 0.9, "login_email": 0.9,
           "login_mobile": 0.9}
# Issue 12's reference figures for the old Django backend with persistent connections
# (CONN_MAX_AGE=600), req/s in two runs on the issue's 2-core machine (gunicorn -w 2
# gthread 4 threads, wrk with a new connection per request). Not measured here.
DJANGO_PERSISTENT = {"me": (600, 978), "verify": (1056, 2166), "refresh": (652, 1002),
                     "login": (7.2, 9), "login_email": (7.2, 9), "login_mobile": (7.2, 9)}
DJANGO_BAR = 1.5  # me, verify, refresh: luffy >= 1.5 x Django's better run
# The same-I/O floor's req/s in those two runs (issue 12's table). Django / io floor, a
# ratio both runs measured on one machine, lets luffy be compared with Django through the
# io floor measured here: (luffy / io floor) / (Django / io floor). Context, not a bar.
ISSUE_IO_FLOOR = {"me": (1421, 2682), "verify": (2423, 3065), "refresh": (2162, 2693)}
PEER_BAR = 1.0  # me, refresh: luffy >= 1.0 x fastapi-users
PEER_BAR_SCENARIOS = ("me", "refresh")
FRESH_RSS_MARGIN_MB = 45  # a fresh luffy worker <= the io floor's fresh worker + 45 MB


def _ratio(a, b):
    return a["rps"] / b["rps"] if a and b and b["rps"] else None


def scenario_verdict(name, r):
    """One scenario's row: its servers' results, its ratios and its bars (``r``: per server)."""
    lr = r["luffy"]
    django = max(DJANGO_PERSISTENT[name])
    bars = [{"what": "luffy/io floor", "bar": IO_BARS[name], "value": _ratio(lr, r["io"])}]
    if name in TOKEN_SCENARIOS:
        bars.append({"what": "luffy/Django persistent", "bar": DJANGO_BAR,
                     "value": lr["rps"] / django})
    if name in PEER_BAR_SCENARIOS:
        bars.append({"what": "luffy/fastapi-users", "bar": PEER_BAR,
                     "value": _ratio(lr, r.get("peer"))})
    io_ratio = _ratio(lr, r["io"])
    django_io = max(d / f for d, f in zip(DJANGO_PERSISTENT[name], ISSUE_IO_FLOOR[name])) \
        if name in ISSUE_IO_FLOOR else None
    errors = sum(part["errors"] for part in r.values())
    for bar in bars:
        bar["pass"] = bar["value"] is not None and bar["value"] >= bar["bar"] and errors == 0
    return {"scenario": name, "connections": SCENARIOS[name], "bars": bars,
            "servers": r, "errors": errors, "django": DJANGO_PERSISTENT[name],
            "floor_ratio": _ratio(lr, r["floor"]), "io_ratio": io_ratio,
            "flask_ratio": _ratio(r.get("flask"), r["floor"]),
            "peer_ratio": _ratio(lr, r.get("peer")),
            "django_io": django_io,
            "django_scaled": io_ratio / django_io if io_ratio and django_io else None,
            "pass": all(bar["pass"] for bar in bars)}


def memory_bars(mem):
    """The fresh luffy worker against the io floor's, and whether a luffy worker grows."""
    luffy_fresh = max(mem["luffy"]["fresh_mb"].values(), default=0.0)
    io_fresh = max(mem["io"]["fresh_mb"].values(), default=0.0)
    leaks = mem["luffy"]["growing_workers"]
    return {
        "fresh": {"luffy_mb": luffy_fresh, "io_mb": io_fresh, "margin_mb": FRESH_RSS_MARGIN_MB,
                  "pass": bool(luffy_fresh and io_fresh)
                  and luffy_fresh - io_fresh <= FRESH_RSS_MARGIN_MB},
        "leak": {"growing_workers": leaks, "tolerance_mb": LEAK_TOLERANCE_MB,
                 "max_step_mb": mem["luffy"]["max_round_growth_mb"],
                 "pass": None if leaks is None else not leaks},
    }


def verdicts(results, mem):
    """Per scenario: the ratios and every bar of issue 12; the memory bars; validity."""
    rows = [scenario_verdict(name, results[name]) for name in SCENARIOS if name in results]
    mem_bars = memory_bars(mem)
    total_errors = sum(row["errors"] for row in rows)
    return {"rows": rows, "memory": mem, "memory_bars": mem_bars, "errors": total_errors,
            "valid": total_errors == 0,
            "all_pass": all(row["pass"] for row in rows) and mem_bars["fresh"]["pass"]
            and mem_bars["leak"]["pass"] is not False and total_errors == 0}
