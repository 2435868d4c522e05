"""gunicorn settings of the fastapi-users peer: luffy's (the allocator tuning, the limits,
the logs), without the step that masks luffy's log lines, which imports luffy, and the
peer's venv has no luffy (it holds FastAPI, never Flask)."""

import runpy
from pathlib import Path

globals().update({name: value for name, value in
                  runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py")).items()
                  if not name.startswith("_") and name != "post_worker_init"})
