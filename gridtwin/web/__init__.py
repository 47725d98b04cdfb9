"""Shared pieces of the web service: proto3-JSON schemas, gRPC-to-HTTP errors, the live feed's
per-connection queue."""
