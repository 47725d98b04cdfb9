"""Generate the Python gRPC stubs from protos/ into gridtwin/v1 (run by `make protos`)."""

from __future__ import annotations

import sys
from pathlib import Path

import google.rpc
from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    protos = sorted(str(p) for p in (ROOT / "protos" / "gridtwin" / "v1").glob("*.proto"))
    # google/rpc/*.proto ship with googleapis-common-protos; well-known types with grpc_tools.
    googleapis = Path(next(iter(google.rpc.__path__))).parent.parent
    wkt = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{ROOT / 'protos'}",
        f"-I{googleapis}",
        f"-I{wkt}",
        f"--python_out={ROOT}",
        f"--pyi_out={ROOT}",
        f"--grpc_python_out={ROOT}",
        *protos,
    ]
    code = protoc.main(args)
    if code != 0:
        print("protoc failed", file=sys.stderr)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
