"""A development CA and one certificate per service (`make certs`, `gridtwin certs create`).

For a laptop and for trying the manifests, not for production (docs/security.md says what to
use there). Keys are ECDSA P-256; every service certificate carries serverAuth and clientAuth,
so the same pair serves the listener and identifies the service to its peers (mutual TLS),
and names every address the service is called by: localhost, 127.0.0.1, ::1, the bare service
name, its headless name, and both under `<namespace>.svc[.cluster.local]`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Every process that listens or calls inside the mesh, plus `client` (tests, tooling, probes).
DEFAULT_IDENTITIES = (
    "gateway",
    "ingest",
    "features",
    "monitoring",
    "maintenance",
    "energy",
    "decision",
    "history",
    "web",
    "client",
)


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.write_bytes(pem)
    os.chmod(path, 0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gridtwin (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def hostnames(service: str, namespace: str) -> list[str]:
    """DNS names a service is reached by, locally and on Kubernetes."""
    names = ["localhost", service, f"{service}-headless"]
    for base in (service, f"{service}-headless"):
        names += [f"{base}.{namespace}", f"{base}.{namespace}.svc", f"{base}.{namespace}.svc.cluster.local"]
    return names


def create_ca(out: Path, days: int = 365) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("gridtwin development CA"))
        .issuer_name(_name("gridtwin development CA"))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "ca.crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(out / "ca.key", key)
    return cert, key


def issue(
    out: Path,
    identity: str,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    namespace: str = "gridtwin",
    extra_hosts: Iterable[str] = (),
    days: int = 365,
) -> Issued:
    """`<identity>.crt` and `<identity>.key` signed by the CA."""
    key = _key()
    now = dt.datetime.now(dt.UTC)
    dns = list(dict.fromkeys([*hostnames(identity, namespace), *extra_hosts]))
    ips = [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    san = [x509.DNSName(h) for h in dns if not _is_ip(h)] + [
        x509.IPAddress(ip) for ip in ips + [ipaddress.ip_address(h) for h in dns if _is_ip(h)]
    ]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(identity))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    issued = Issued(out / f"{identity}.crt", out / f"{identity}.key")
    issued.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    _write_key(issued.key, key)
    return issued


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def load_ca(out: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert = x509.load_pem_x509_certificate((out / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((out / "ca.key").read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return cert, key


def create_all(
    out: Path,
    identities: Iterable[str] = DEFAULT_IDENTITIES,
    namespace: str = "gridtwin",
    extra_hosts: Iterable[str] = (),
    days: int = 365,
    reuse_ca: bool = True,
) -> dict[str, Issued]:
    """A CA (kept if one exists and `reuse_ca`) and a certificate per identity under `out`."""
    if reuse_ca and (out / "ca.crt").exists() and (out / "ca.key").exists():
        ca_cert, ca_key = load_ca(out)
    else:
        ca_cert, ca_key = create_ca(out, days)
    hosts = list(extra_hosts)
    return {name: issue(out, name, ca_cert, ca_key, namespace, hosts, days) for name in identities}


def register(sub) -> None:  # type: ignore[no-untyped-def]
    """`gridtwin certs create`."""
    certs = sub.add_parser("certs", help="development certificates for TLS and mutual TLS")
    actions = certs.add_subparsers(dest="certs_command", required=True)
    create = actions.add_parser("create", help="a dev CA and one certificate per service")
    create.add_argument("--out", default="var/certs", help="folder (default var/certs)")
    create.add_argument("--namespace", default="gridtwin", help="Kubernetes namespace in the DNS names")
    create.add_argument("--host", action="append", default=[], help="extra DNS name or IP (repeatable)")
    create.add_argument("--days", type=int, default=365)
    create.add_argument("--new-ca", action="store_true", help="replace an existing CA")
    create.add_argument("identities", nargs="*", help=f"default: {' '.join(DEFAULT_IDENTITIES)}")
    create.set_defaults(handler=_cli_create)


def _cli_create(args) -> int:  # type: ignore[no-untyped-def]
    out = Path(args.out)
    issued = create_all(
        out,
        args.identities or DEFAULT_IDENTITIES,
        namespace=args.namespace,
        extra_hosts=args.host,
        days=args.days,
        reuse_ca=not args.new_ca,
    )
    print(f"CA: {out / 'ca.crt'} (key {out / 'ca.key'})")
    for name, pair in issued.items():
        print(f"{name:<12} {pair.cert}  {pair.key}")
    print(
        "use: GRIDTWIN_TLS_CA=<ca.crt> GRIDTWIN_TLS_CERT=<service>.crt GRIDTWIN_TLS_KEY=<service>.key "
        "(make run picks them up with GRIDTWIN_TLS=on)"
    )
    return 0
