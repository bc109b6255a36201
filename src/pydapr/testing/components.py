"""The components a test sidecar gets when the test names none: in-memory, nothing to install."""

from __future__ import annotations

from pathlib import Path

STATESTORE = "statestore"
PUBSUB = "pubsub"

# The names the Dapr quickstarts and `dapr init` use, so an app written for them runs unchanged.
# actorStateStore costs nothing here: given a placement service (a --placement-host-address among
# the sidecar's args), the app's actors have a store.
_DEFAULTS = f"""\
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {STATESTORE}
spec:
  type: state.in-memory
  version: v1
  metadata:
  - name: actorStateStore
    value: "true"
---
apiVersion: dapr.io/v1alpha1
kind: Component
metadata:
  name: {PUBSUB}
spec:
  type: pubsub.in-memory
  version: v1
"""


def write_defaults(folder: Path) -> Path:
    """Writes the in-memory defaults into ``folder`` (created) and returns it."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "in-memory.yaml").write_text(_DEFAULTS)
    return folder
