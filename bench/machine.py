"""The machine the benchmark runs on: its load, and the versions of what it runs."""

import logging
import os
import platform
import re
import subprocess
import time
from importlib import metadata
from pathlib import Path

log = logging.getLogger(__name__).info

LUFFY_PACKAGES = ("flask", "werkzeug", "gunicorn", "sqlalchemy", "flask-sqlalchemy", "psycopg",
                  "redis", "flask-jwt-extended", "pyjwt", "argon2-cffi", "flask-limiter")
PEER_PACKAGES = ("fastapi-users", "fastapi", "uvicorn", "SQLAlchemy", "asyncpg", "pwdlib")
LOAD_AT_START = "load average at start (1/5/15 min)"
LOAD_AT_END = "load average at end (1/5/15 min)"


def loadavg():
    """The 1-, 5- and 15-minute load averages."""
    return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]


def busy(load, cpus=None):
    """Whether a 1-minute load average of at least half the CPUs competes with the benchmark."""
    return load >= (cpus or os.cpu_count() or 1) / 2


def wait_quiet(seconds):
    """Wait up to ``seconds`` for the 1-minute load average to drop below nproc / 2."""
    limit = (os.cpu_count() or 1) / 2
    deadline = time.monotonic() + seconds
    while busy(loadavg()[0]) and time.monotonic() < deadline:
        log(f"load average {loadavg()[0]:.2f} >= {limit:g}: waiting for a quieter machine")
        time.sleep(10)


def load_at_start(wait_seconds):
    """The load averages once the machine is quiet enough (waiting up to ``wait_seconds``)."""
    if wait_seconds:
        wait_quiet(wait_seconds)
    load = loadavg()
    if busy(load[0]):
        log(f"warning: load average {load[0]:.2f} on {os.cpu_count()} CPUs: other work "
            "competes with the benchmark, whose numbers will be low and noisy")
    return load


def _versions(packages):
    found = {}
    for package in packages:
        name = package if package != "redis" else "redis-py"
        try:
            found[name] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[name] = "-"
    return found


def _peer_versions(peer_python):
    freeze = subprocess.run([str(peer_python), "-m", "pip", "freeze"], capture_output=True,
                            text=True).stdout
    found = {}
    for package in PEER_PACKAGES:
        match = re.search(rf"^{re.escape(package)}==(\S+)$", freeze, re.M | re.I)
        found[f"peer: {package.lower()}"] = match.group(1) if match else "-"
    return found


def _loads(load):
    return " / ".join(f"{x:.2f}" for x in load)


def machine_info(pg_version, redis_version, wrk_bin, peer_python, load_before):
    """The machine, the servers' and libraries' versions and the load at start and now."""
    cpu = "unknown"
    try:
        cpu = re.search(r"^model name\s*:\s*(.*)$", Path("/proc/cpuinfo").read_text(), re.M).group(1)
    except (OSError, AttributeError):
        pass
    wrk_version = subprocess.run([wrk_bin, "--version"], capture_output=True, text=True)
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "memory_gb": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "postgresql server": pg_version,
        "redis server": redis_version,
        "wrk": (wrk_version.stdout or wrk_version.stderr).split("Copyright")[0].strip(),
        **_versions(LUFFY_PACKAGES),
        **(_peer_versions(peer_python) if peer_python else {}),
        LOAD_AT_START: _loads(load_before),
        LOAD_AT_END: _loads(loadavg()),
    }
