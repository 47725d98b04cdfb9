"""The web service: REST (`/v1/…`), the live WebSocket (`/v1/live`) and the dashboard (`/`),
all in front of the gateway's public gRPC API."""
