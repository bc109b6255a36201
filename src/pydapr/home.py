"""Where pydapr keeps its local files: ``$PYDAPR_HOME`` or ``~/.pydapr``."""

from __future__ import annotations

import os
from pathlib import Path


def pydapr_home() -> Path:
    """The pydapr home folder (default resources, embedded stores, name registry, control plane)."""
    value = os.environ.get("PYDAPR_HOME")
    return Path(value).expanduser() if value else Path.home() / ".pydapr"


def default_resources_dir() -> Path:
    return pydapr_home() / "components"


def default_config_file() -> Path:
    return pydapr_home() / "config.yaml"
