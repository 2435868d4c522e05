"""The fastapi-users peer of the benchmark (runs in its own venv; see app.py)."""
