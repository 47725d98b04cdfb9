"""Development certificates and the web service's token dependency."""

from __future__ import annotations

import asyncio
import ipaddress

import httpx
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID
from fastapi import Depends, FastAPI

from gridtwin.core.telemetry import PrometheusMiddleware, metrics_asgi_app
from gridtwin.security.certs import create_all
from gridtwin.security.roles import Principal, Role
from gridtwin.security.tokens import Keys, create_token


def test_service_certificates_chain_to_the_ca_and_name_their_addresses(tmp_path):
    issued = create_all(tmp_path, ["features", "client"], namespace="grid")
    ca = x509.load_pem_x509_certificate((tmp_path / "ca.crt").read_bytes())
    cert = x509.load_pem_x509_certificate(issued["features"].cert.read_bytes())
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(cert.signature_hash_algorithm))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert "features-headless.grid.svc.cluster.local" in san.get_values_for_type(x509.DNSName)
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.CLIENT_AUTH in usages and ExtendedKeyUsageOID.SERVER_AUTH in usages
    # A second run keeps the CA, so certificates issued earlier stay valid.
    before = (tmp_path / "ca.crt").read_bytes()
    create_all(tmp_path, ["web"])
    assert (tmp_path / "ca.crt").read_bytes() == before


def test_web_dependency_and_metrics(monkeypatch):
    from gridtwin.security import web

    secret = "w" * 40
    monkeypatch.setenv("GRIDTWIN_AUTH", "on")
    monkeypatch.setenv("GRIDTWIN_JWT_SECRET", secret)
    web._keys.cache_clear()
    keys = Keys("HS256", secret, secret)
    app = FastAPI()
    app.add_middleware(PrometheusMiddleware)
    app.mount("/metrics", metrics_asgi_app())

    @app.get("/assess/{meter_id}")
    async def assess(meter_id: str, who: Principal = Depends(web.require(Role.ANALYST))) -> dict[str, object]:
        return {"subject": who.subject, "forward": who.metadata()}

    def bearer(role: Role) -> dict[str, str]:
        return {"Authorization": "Bearer " + create_token(role, f"u-{role.label}", keys, 60)}

    async def calls() -> None:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://web") as client:
            missing = await client.get("/assess/m-1")
            assert missing.status_code == 401 and missing.headers["www-authenticate"].startswith("Bearer")
            assert (await client.get("/assess/m-1", headers=bearer(Role.VIEWER))).status_code == 403
            analyst = bearer(Role.ANALYST)
            ok = await client.get("/assess/m-1", headers=analyst)
            assert ok.status_code == 200 and ok.json()["subject"] == "u-analyst"
            # The caller's own token is what the web service forwards to the gateway.
            assert ok.json()["forward"] == [["authorization", analyst["Authorization"]]]
            text = (await client.get("/metrics/")).text
            assert 'http_server_requests_total{code="403",method="GET",route="/assess/{meter_id}"}' in text

    try:
        asyncio.run(calls())
    finally:
        web._keys.cache_clear()
