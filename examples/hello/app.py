"""The README demo: an app beside its sidecar, on the embedded defaults.

It serves one method, then — as a client of its own sidecar, with the official Dapr SDK — saves
and reads state and invokes its own method through the sidecar, prints what it saw and exits.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dapr.clients import DaprClient


class Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        order = json.loads(self.rfile.read(length) or b"{}")
        body = json.dumps({"accepted": order, "caller": self.headers.get("dapr-caller-app-id")}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        # The sidecar asks a new app for its settings (/dapr/config) and subscriptions
        # (/dapr/subscribe): this one has neither.
        self.send_response(404)
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


def wait_until_connected(timeout: float = 5.0) -> None:
    """Waits for the sidecar to finish connecting to this app (it asks for the app's settings
    once the port answers), so the app does not vanish in the middle of that."""
    url = f"http://127.0.0.1:{os.environ['DAPR_HTTP_PORT']}/v1.0/healthz"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if answer.status == 204:
                    return
        except OSError:
            pass
        time.sleep(0.05)


def main() -> None:
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ["APP_PORT"])), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    app_id = os.environ["APP_ID"]
    with DaprClient() as dapr:
        dapr.save_state("statestore", "order-1", json.dumps({"id": 1, "item": "coffee"}))
        saved = dapr.get_state("statestore", "order-1")
        print(f"state saved and read back through the sidecar: {saved.data.decode()}")
        reply = dapr.invoke_method(app_id, "neworder", data=json.dumps({"id": 1}), http_verb="POST")
        print(f"invoked {app_id}/neworder through the sidecar: {reply.text()}")
    wait_until_connected()
    server.shutdown()


if __name__ == "__main__":
    main()
