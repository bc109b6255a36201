"""The app under test runs beside the test sidecar: uvicorn on the port the plugin picks."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from pydapr.testing import App

APP_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def dapr_app() -> App:
    # {app_port} becomes a free port; the sidecar is told it and waits for the app to listen there.
    return App([sys.executable, "-m", "uvicorn", "app:app", "--port", "{app_port}"], cwd=APP_DIR)
