"""Regenerates placement_pb2*.py from placement.proto with the scheduler's generator (same floor rules).

From the repository root, in the throwaway venv src/pydapr/scheduler/_proto/generate.py describes::

    PYTHONPATH=src /tmp/gen/bin/python -m pydapr.placement._proto.generate
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydapr.scheduler._proto.generate import generate


def main() -> int:
    return generate([Path(__file__).resolve().parent / "placement.proto"])


if __name__ == "__main__":
    sys.exit(main())
