"""The ingest baseline: a bare Flask app that answers 202 and does nothing else."""

from flask import Flask

app = Flask(__name__)


@app.post("/webhooks/moodle")
def accept():
    return {"accepted": 1}, 202


@app.get("/healthz")
def healthz():
    return {"status": "ok"}
