"""Transport security, bearer tokens and roles (docs/security.md).

- `roles`: the roles, what each may call, the Principal of a verified token.
- `tokens`: create/verify JWTs (`gridtwin token create`).
- `auth`: the gateway's grpc.aio interceptor (authentication, roles, meter scope).
- `web`: the FastAPI dependency for the web service.
- `tls`: server/channel credentials from GRIDTWIN_TLS_* (mutual TLS in the mesh).
- `certs`: a development CA and per-service certificates (`make certs`).
"""
