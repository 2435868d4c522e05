"""The run's report: one model of each table, rendered to the terminal and to RESULTS.md.

A table is a list of :class:`Column`; each column gives the same cell text to both
renderings and its own heading, width and alignment. :func:`terminal` pads the cells to
fixed widths, :func:`markdown` puts them between pipes.
"""

import json
from dataclasses import dataclass
from typing import Callable

from bench.load import CYCLE
from bench.machine import LOAD_AT_START, busy
from bench.paths import OUT
from bench.servers import GUNICORN_ARGS, LABELS, PEER_GUNICORN_ARGS, RATE_LIMIT


@dataclass(frozen=True)
class Column:
    """One column of a table: its cell text, and how each rendering heads and lays it out."""

    head: str  # the terminal's heading, short
    cell: Callable[[dict], str]  # a row -> its text, the same in both renderings
    title: str = ""  # the Markdown heading, when it says more than ``head``
    align: str = ">"  # "<" or ">", in the terminal; Markdown aligns "---" or "--:" alike
    width: int = 0  # the terminal's (a longer text overflows it); 0: no padding
    gap: str = " "  # what stands before it on a terminal line

    def pad(self, text):
        """``text`` padded to the terminal's width."""
        return f"{text:{self.align}{self.width or ''}}"


def _terminal_line(columns, texts):
    return "".join(col.gap + col.pad(text) for col, text in zip(columns, texts))


def terminal(columns, rows, heading=True):
    """The table as terminal lines: a heading and a rule (if ``heading``), a line a row."""
    body = [_terminal_line(columns, [col.cell(row) for col in columns]) for row in rows]
    if not heading:
        return body
    head = _terminal_line(columns, [col.head for col in columns])
    return [head, "-" * len(head), *body]


def _markdown_line(texts):
    return "| " + " | ".join(text.strip() for text in texts) + " |"


def markdown(columns, rows):
    """The table in Markdown (cells stripped of the padding some carry for the terminal)."""
    return [_markdown_line([col.title or col.head for col in columns]),
            "|" + "|".join("--:" if col.align == ">" else "---" for col in columns) + "|",
            *(_markdown_line([col.cell(row) for col in columns]) for row in rows)]


def _rps(part):
    return f"{part['rps']:.1f}" if part else "-"


def _x(ratio):
    return f"{ratio:.2f}" if ratio is not None else "-"


def _verdict(ok):
    return "-" if ok is None else ("PASS" if ok else "FAIL")


def _mb(sizes):
    return ", ".join(f"{mb:.1f}" for mb in sizes.values()) or "-"


def _server(which, get):
    return lambda row: get(row["servers"].get(which))


# One row a scenario (see bench.verdicts.scenario_verdict).
SCENARIO_TABLE = [
    Column("scenario", lambda r: r["scenario"], align="<", width=13, gap=""),
    Column("conns", lambda r: str(r["connections"]), width=5),
    Column("luffy", _server("luffy", _rps), "luffy req/s", width=8),
    Column("floor", _server("floor", _rps), "floor req/s", width=8),
    Column("l/floor", lambda r: _x(r["floor_ratio"]), "luffy/floor", width=7),
    Column("io floor", _server("io", _rps), "io floor req/s", width=8),
    Column("l/io", lambda r: _x(r["io_ratio"]), "luffy/io floor", width=5),
    Column("bar", lambda r: str(r["bars"][0]["bar"]), "bar (luffy/io floor >=)", width=4),
    Column("flask", _server("flask", _rps), "bare Flask req/s", width=8),
    Column("fl/floor", lambda r: _x(r["flask_ratio"]), "bare Flask/floor", width=8),
    Column("fastapi-u", _server("peer", _rps), "fastapi-users req/s", width=9),
    Column("l/fau", lambda r: _x(r["peer_ratio"]), "luffy/fastapi-users", width=5),
    Column("Django*", lambda r: "%g / %g" % tuple(r["django"]),
           "Django persistent req/s (issue's machine, not measured here)", width=11),
    # The terminal lines the latencies up on their slash.
    Column("luffy p50/p99", _server("luffy", lambda s: f"{s['p50_ms']:>6.1f}/{s['p99_ms']:<8.1f}"),
           "luffy p50 / p99 ms", width=15),
    Column("io p50/p99", _server("io", lambda s: f"{s['p50_ms']:>5.1f}/{s['p99_ms']:<7.1f}"),
           "io floor p50 / p99 ms", width=13),
    Column("errors", lambda r: str(r["errors"]), "non-2xx + socket errors (all servers)", width=6),
    Column("verdict", lambda r: _verdict(r["pass"]), align="<", gap="  "),
]

# One row a bar of a scenario: {"scenario": ..., "bar": {"what", "bar", "value", "pass"}}.
BAR_TABLE = [
    Column("scenario", lambda b: b["scenario"], align="<", width=13, gap="  "),
    Column("ratio", lambda b: b["bar"]["what"], align="<", width=24),
    Column("value", lambda b: "-" if b["bar"]["value"] is None else f"{b['bar']['value']:.3f}",
           width=6),
    Column("bar", lambda b: f">= {b['bar']['bar']}", align="<", width=7),
    Column("verdict", lambda b: "not measured" if b["bar"]["value"] is None
           else _verdict(b["bar"]["pass"]), align="<"),
]

# One row a scenario that issue 12 measured the io floor in (luffy / Django through it).
DJANGO_TABLE = [
    Column("scenario", lambda r: r["scenario"], align="<", width=13, gap="  "),
    Column("l/io", lambda r: f"{r['io_ratio']:.3f}", "luffy / io floor (here)"),
    Column("Django/io", lambda r: f"{r['django_io']:.3f}",
           "Django / io floor (the higher of the issue's two runs)", gap=" / "),
    Column("l/Django", lambda r: f"{r['django_scaled']:.2f} x Django",
           "luffy / Django through the floor", gap=" = "),
]


def _bar_rows(v):
    return [{"scenario": row["scenario"], "bar": bar} for row in v["rows"] for bar in row["bars"]]


def _django_rows(v):
    return [row for row in v["rows"] if row.get("django_scaled")]


def memory_lines(v):
    """The memory findings and bars, one line each."""
    mem, bars = v["memory"], v["memory_bars"]
    lines = []
    for name, m in mem.items():
        growth = m["max_round_growth_mb"]
        growing = m["growing_workers"]
        lines.append(f"{LABELS[name]}: fresh {_mb(m['fresh_mb'])} MB, after the last round "
                     f"{_mb(m['after_mb'])} MB, largest rise from one round to the next "
                     + ("-" if growth is None else f"{growth:+.1f} MB ({m['growth_scenario']})")
                     + ("" if not growing else "; GROWING: " + ", ".join(
                         f"{g['pid']} in {g['scenario']} {g['steps_mb']}" for g in growing)))
    fresh, leak = bars["fresh"], bars["leak"]
    lines.append(f"bar: a fresh luffy worker ({fresh['luffy_mb']:.1f} MB) <= the io floor's "
                 f"({fresh['io_mb']:.1f} MB) + {fresh['margin_mb']} MB: {_verdict(fresh['pass'])}")
    lines.append("bar: no luffy worker grows from one load round to the next (more than "
                 f"{leak['tolerance_mb']} MB in two steps of a scenario): "
                 + ("- (one round per scenario)" if leak["pass"] is None
                    else f"largest step {leak['max_step_mb']:+.1f} MB, "
                         f"{len(leak['growing_workers'])} growing: {_verdict(leak['pass'])}"))
    return lines


def app_time_line(app_time):
    """How long ``create_app()`` took in a fresh process."""
    ms = {key: f"{app_time[key] * 1000:.0f} ms" for key in ("total", "import", "create")}
    return (f"create_app(): {ms['total']} (import {ms['import']} + create {ms['create']}), "
            f"median of {app_time['runs']} fresh processes")


def table(v, app_time):
    """The report printed at the end of a run."""
    lines = ["req/s per server (flask = bare Flask, fastapi-u = fastapi-users; "
             "* = issue 12's figures from the issue's machine, not measured here)"]
    lines += terminal(SCENARIO_TABLE, v["rows"])
    lines += ["", "bars (issue 12):"]
    lines += terminal(BAR_TABLE, _bar_rows(v), heading=False)
    lines += ["", "context (not a bar): luffy / Django through the io floor, "
              "(luffy / io floor) / (Django / io floor, the higher of the issue's two runs):"]
    lines += terminal(DJANGO_TABLE, _django_rows(v), heading=False)
    lines.append("")
    lines += memory_lines(v)
    lines.append(app_time_line(app_time))
    lines.append(f"errors (non-2xx + socket errors, every server): {v['errors']} -> "
                 + ("VALID run" if v["valid"] else "INVALID RUN: the numbers do not count"))
    return "\n".join(lines)


def busy_note(info):
    """A warning for RESULTS.md when the run started on a busy machine, else ""."""
    load = float(info[LOAD_AT_START].split(" / ")[0])
    if not busy(load, info["nproc"]):
        return ""
    return (f"\n**The machine was busy** (1-minute load average {load:.2f} on {info['nproc']} CPUs at "
            "the start): other work competed with the servers and with wrk, so every absolute "
            "number is low and noisy; the servers ran in turn, slice by slice, so their ratio is "
            "the fairer figure.\n")


def write_results(path, v, app_time, info, args, started, elapsed):
    """RESULTS.md: the settings, the tables, the memory findings and the machine."""
    mem = "\n".join(f"- {line}" for line in memory_lines(v) + [app_time_line(app_time)])
    machine = "\n".join(f"| {k} | {val} |" for k, val in info.items())
    text = f"""# Benchmark results

Written by `.venv/bin/python -m bench` on {started} ({elapsed:.0f} s). Rerun it to
replace this file; the raw numbers of every run are in `bench/out/` (not committed).
How it works and what it measures: [README.md](README.md).

**{"VALID run: no non-2xx answer and no socket error." if v["valid"] else
   "INVALID RUN: " + str(v["errors"]) + " non-2xx answers or socket errors; the numbers do not count."}**
{"Every bar passes." if v["all_pass"] else "Not every bar passes: see the FAIL lines."}
{busy_note(info)}

Settings: gunicorn `{" ".join(GUNICORN_ARGS)}` for luffy, the floor, the same-I/O floor and
bare Flask, `{" ".join(PEER_GUNICORN_ARGS)}` for fastapi-users; production configuration,
PostgreSQL and Redis on 127.0.0.1, {args.accounts} seeded accounts; wrk with `Connection: close`
(a new connection per request), 2 threads, {args.duration:g} s per scenario and server in
{args.slices} slices run in turn with the other servers', after {args.warmup:g} s of warm-up; each scenario cycles through {CYCLE} accounts.
`LUFFY_LOGIN_RATE_LIMIT` is `{RATE_LIMIT}` so that the run measures throughput, not the
throttle (it counts only failures, and there are none; refreshes are not throttled).

{chr(10).join(markdown(SCENARIO_TABLE, v["rows"]))}

The bars of issue 12 (a bar passes only in a run without errors):

{chr(10).join(markdown(BAR_TABLE, _bar_rows(v)))}

Context, not a bar: Django was not measured here, so its bar compares luffy with figures
from another machine and another day. The issue's runs measured the same-I/O floor too;
Django / io floor from them, and luffy / io floor from this run, compare the two through
the floor that both runs share:

{chr(10).join(markdown(DJANGO_TABLE, _django_rows(v)))}

Memory (VmRSS of each gunicorn worker; a load round is one slice):

{mem}
- Django persistent: the old backend with `CONN_MAX_AGE=600`, two runs on the issue's
  machine (issue 12); the bar compares luffy with the better of the two.

## Machine

| | |
|---|---|
{machine}
"""
    path.write_text(text)


def write_raw(raw, stamp):
    """The run's raw numbers, to bench/out/results-<stamp>.json and bench/out/latest.json."""
    for path in (OUT / f"results-{stamp}.json", OUT / "latest.json"):
        path.write_text(json.dumps(raw, indent=2, default=str))
