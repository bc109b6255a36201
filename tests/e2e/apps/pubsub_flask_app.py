"""A Flask subscriber written with the official SDK (``dapr.ext.flask.DaprApp``): records every event
of ``TOPICS["flask"]`` as one JSON line in ``RECORD``."""

import json
import os
import sys

from dapr.ext.flask import DaprApp
from flask import Flask, jsonify, request

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
