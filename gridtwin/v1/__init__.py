"""Python stubs generated from protos/gridtwin/v1 by `make protos` (grpcio-tools)."""
