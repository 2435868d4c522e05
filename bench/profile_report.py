"""Summarise py-spy ``--format raw`` (collapsed stacks) files: the hottest frames.

    .venv/bin/python -m bench.profile_report bench/out/profile-me-*.txt

Prints, per frame (function and file), the share of samples in which it is on the
stack (inclusive) and on top (self), then the share of each library: a sample is
charged to the package of its top frame, or, when that frame is the standard library's
(``json``, ``threading``, ...), to the nearest package below it that called it. Idle
worker threads (waiting in ``select``/``accept``/locks with nothing to do) are left out
so the shares are of busy time.
"""

import re
import sys
from collections import Counter

IDLE = ("wait (threading.py", "select (selectors.py", "_worker (concurrent/futures/thread.py",
        "get (queue.py", "run_for_one", "sleep (gunicorn/workers/", "accept (")


def frames(path):
    with open(path) as f:
        for line in f:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if stack and count.isdigit():
                yield stack.split(";"), int(count)


def short(frame):
    frame = re.sub(r"/.*?site-packages/", "", frame)
    frame = re.sub(r"/work/main/", "", frame)
    frame = re.sub(r"/root/.pyenv/versions/[^/]+/lib/python[^/]+/", "", frame)
    return re.sub(r":\d+\)", ")", frame)


def package(frame):
    """The distribution a (shortened) frame's file belongs to, or None for the stdlib."""
    match = re.search(r"\((.*)\)$", frame)
    path = match.group(1) if match else ""
    if "/" not in path or path.startswith(("<", "importlib/", "concurrent/", "json/",
                                           "email/", "http/", "logging/", "urllib/")):
        return None
    return {"werkzeug": "flask + werkzeug", "flask": "flask + werkzeug"}.get(
        path.split("/")[0], path.split("/")[0])


def charged(stack):
    """The library a sample is charged to: its top frame's, or its nearest caller's."""
    return next((p for p in map(package, reversed(stack)) if p), "stdlib")


def report(paths, top=40):
    inclusive, self_time, libraries = Counter(), Counter(), Counter()
    total = 0
    for path in paths:
        for stack, count in frames(path):
            stack = [short(f) for f in stack]
            if any(stack[-1].startswith(i) or i in stack[-1] for i in IDLE):
                continue
            total += count
            self_time[stack[-1]] += count
            libraries[charged(stack)] += count
            for frame in set(stack):
                inclusive[frame] += count
    lines = [f"busy samples: {total}", "", "inclusive  self  frame"]
    for frame, n in inclusive.most_common(top):
        lines.append(f"{100 * n / total:8.1f}% {100 * self_time[frame] / total:5.1f}%  {frame}")
    lines += ["", "top self time:"]
    for frame, n in self_time.most_common(20):
        lines.append(f"{100 * n / total:8.1f}%  {frame}")
    lines += ["", "by library (the standard library charged to its caller):"]
    for library, n in libraries.most_common():
        lines.append(f"{100 * n / total:8.1f}%  {library}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(sys.argv[1:], top=int(__import__("os").environ.get("TOP", 60))))
