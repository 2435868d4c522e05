"""Where the benchmark's files are, and the Python that runs luffy and its floors."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
OUT = BENCH / "out"  # every file a run writes, but RESULTS.md (git-ignored)
PY = sys.executable
