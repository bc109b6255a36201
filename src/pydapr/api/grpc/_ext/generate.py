"""Regenerates the *_pb2*.py modules from this folder's .proto files (needs grpcio-tools):
``python -m pydapr.api.grpc._ext.generate``."""

from __future__ import annotations

import sys
from pathlib import Path


def main() -> int:
    import grpc_tools
    from grpc_tools import protoc

    here = Path(__file__).resolve().parent
    src = here.parents[3]  # .../src, so the generated imports are package-qualified
    include = Path(grpc_tools.__file__).parent / "_proto"
    protos = sorted(str(p.relative_to(src)) for p in here.glob("*.proto"))
    status: int = protoc.main(
        [
            "protoc",
            f"-I{src}",
            f"-I{include}",
            f"--python_out={src}",
            f"--pyi_out={src}",
            f"--grpc_python_out={src}",
            *protos,
        ]
    )
    return status


if __name__ == "__main__":
    sys.exit(main())
