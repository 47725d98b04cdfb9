"""gridtwin: a smart-grid digital twin as a gRPC microservices mesh.

The package is the shared library every service imports: the generated contract
(`gridtwin.v1`), service plumbing (`gridtwin.core`), power-system physics
(`gridtwin.physics`), the feature pipeline (`gridtwin.features`) and the model registry.
"""

__version__ = "0.1.0"
