"""Serve a sandbox app on many threads (workers and benchmarks call it in parallel)."""

from __future__ import annotations

from werkzeug.serving import WSGIRequestHandler, make_server


class _Handler(WSGIRequestHandler):
    def make_environ(self):
        environ = super().make_environ()
        environ["sandbox.connection"] = self.connection  # lets fault injection reset the connection
        return environ

    def log_request(self, *args, **kwargs):  # one line per call would drown benchmark output
        pass


def serve(app, host: str, port: int) -> None:
    server = make_server(host, port, app, threaded=True, request_handler=_Handler)
    server.daemon_threads = True
    server.serve_forever()
