"""The sidecar imports Dapr's generated messages from the SDK's wheel without the SDK's package
inits, and the SDK still works in full in that process when something asks for it."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import sys
from pydapr.api.grpc import sdk_messages
sdk_messages.install()
from pydapr.api.grpc import wire
print(wire.runtime.GetStateRequest(store_name="s", key="k").key)
print(sorted(m for m in ("importlib.metadata", "dapr.conf", "dapr.proto.runtime.v1.dapr_pb2_grpc")
             if m in sys.modules))
# A component plugin using the SDK's client in the sidecar's process: the inits run on demand.
from dapr.clients import DaprClient
import dapr.proto
print(DaprClient.__name__, dapr.proto.api_v1.GetStateRequest is wire.runtime.GetStateRequest)
"""


def test_the_messages_load_without_the_sdk_inits_which_still_run_when_asked_for() -> None:
    out = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True, timeout=60
    )
    assert out.stdout.splitlines() == ["k", "[]", "DaprClient True"], out.stderr
