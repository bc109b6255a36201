"""Regenerates sentry_pb2*.py from sentry.proto (how: ``pydapr.scheduler._proto.generate``):
``PYTHONPATH=src /tmp/gen/bin/python -m pydapr.sentry._proto.generate``."""

from __future__ import annotations

import sys
from pathlib import Path

from pydapr.scheduler._proto.generate import generate


def main() -> int:
    return generate([Path(__file__).resolve().parent / "sentry.proto"])


if __name__ == "__main__":
    sys.exit(main())
