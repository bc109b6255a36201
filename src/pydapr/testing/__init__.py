"""``pydapr.testing``: a pytest plugin that runs a real pydapr sidecar for an app's tests.

Use it with ``pytest -p pydapr.testing`` (or installed, through its ``pytest11`` entry point).
Fixtures: ``dapr_sidecar`` (ports, URLs, logs of a ready sidecar for the session or module),
``dapr_client`` (a ready ``DaprClient`` on it), ``dapr_app`` and ``dapr_sidecar_config`` (override
them to start an app beside the sidecar or to give it components), ``dapr_sidecar_factory`` (more
sidecars for one test). See docs/testing.md.

Importing this module is cheap and starts nothing: pytest loads it in every run.
"""

from pydapr.testing._config import App, SidecarConfig

# The fixtures and hooks live in their own module; pytest registers it along with this one.
pytest_plugins = ["pydapr.testing.plugin"]

__all__ = ["App", "SidecarConfig"]
