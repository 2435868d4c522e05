"""The floor's work in a bare Flask app: what the framework alone costs.

The same views as :mod:`bench.floor` (same tokens, same in-memory accounts), routed by
Flask with its request and response objects, and nothing else: no extension, no hook,
no database, no Redis. The benchmark reports flask/floor beside luffy/floor for the
token scenarios: no service built on Flask can pass a bar that this line does not.
"""

from flask import Flask, jsonify, request

from bench import floor

app = Flask(__name__)
app.url_map.strict_slashes = False


def _answer(view, no_store=False):
    try:
        response = jsonify(view(request.environ))
    except floor.Reject as e:
        return jsonify(code=e.code, detail=e.code), int(e.status.split()[0])
    if no_store:
        response.headers["Cache-Control"] = "no-store"
    return response


@app.post("/users/login")
def login():
    return _answer(floor.login, no_store=True)


@app.post("/users/login/refresh")
def refresh():
    return _answer(floor.refresh, no_store=True)


@app.post("/users/login/verify")
def verify():
    return _answer(floor.verify)


@app.get("/users/me")
def me():
    return _answer(floor.me)


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
