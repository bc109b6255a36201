"""Regenerates the *_pb2*.py modules from this folder's .proto files, for the lowest protobuf and
grpcio pyproject.toml admits; how (which grpcio-tools, in which venv) is in the docstring of
``pydapr.scheduler._proto.generate``:
``PYTHONPATH=src /tmp/gen/bin/python -m pydapr.api.grpc._ext.generate``."""

from __future__ import annotations

import sys
from pathlib import Path

from pydapr.scheduler._proto.generate import generate


def main() -> int:
    return generate(sorted(Path(__file__).resolve().parent.glob("*.proto")))


if __name__ == "__main__":
    sys.exit(main())
