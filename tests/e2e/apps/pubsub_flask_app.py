"""A Flask subscriber written with the official SDK (``dapr.ext.flask.DaprApp``): records every event
of ``TOPICS["flask"]`` as one JSON line in ``RECORD``."""

import json
import os
import sys

from flask import Flask, jsonify, request

try:
    from dapr.ext.flask import DaprApp
except ImportError:  # the SDK before 1.19: the flask-dapr package
    from flask_dapr import DaprApp  # type: ignore[no-redef]

TOPICS = json.loads(os.environ["TOPICS"])
RECORD = os.environ["RECORD"]

app = Flask(__name__)
dapr_app = DaprApp(app)


@dapr_app.subscribe(pubsub="sqlite", topic=TOPICS["flask"], route="/flask")
def flask_events():  # type: ignore[no-untyped-def]
    event = request.get_json(force=True)
    line = {"app": "flask", "route": "flask", "event": event, "content_type": request.content_type}
    with open(RECORD, "a") as out:
        out.write(json.dumps(line) + "\n")
    return jsonify({"status": "SUCCESS"})


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(sys.argv[1]))
