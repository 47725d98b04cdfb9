"""Checks of the Kubernetes manifests as `kubectl kustomize k8s/` renders them (no cluster).

Every rendered object must pass the strict schema of a pinned Kubernetes version
(kubernetes-validate), and the manifests are tied to the code: every service of the mesh
(gridtwin.mesh.ENTRY_POINTS, plus history and web) has a Deployment running its entry point
and Services on its port; internal addresses are `dns:///` names of headless Services that
exist; every container is probed, bounded and locked down; and the NetworkPolicies, evaluated
here like a CNI would, admit exactly the calls the mesh makes and nothing from outside but
the gateway and web.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from gridtwin.core.config import DEFAULT_PORTS
from gridtwin.mesh import ENTRY_POINTS
from gridtwin.registry import MODULE_MODELS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
# The pinned Kubernetes version of the schemas (make k8s-validate K8S_VERSION=... to try another).
K8S_VERSION = os.environ.get("K8S_VERSION", "1.33")
NAMESPACE = "gridtwin"
CONFIGMAP = "gridtwin-config"
MODULES = tuple(MODULE_MODELS)  # monitoring, maintenance, energy, decision
# history and web land in parallel; their ports and entry points are fixed by convention.
PORTS = {**DEFAULT_PORTS, "history": DEFAULT_PORTS.get("history", 50058), "web": 8080}
ENTRIES = {"history": "services.history", "web": "services.web", **ENTRY_POINTS}
SERVICES = tuple(ENTRIES)
GRPC_SERVICES = tuple(s for s in SERVICES if s != "web")
PUBLIC = {"gateway", "web"}
REDIS_CLIENTS = set(GRPC_SERVICES)  # every gRPC service keeps state in (or reads) Redis
WORKLOAD_KINDS = ("Deployment", "StatefulSet")
METRICS_PORT = 9464


# ---- rendering ---------------------------------------------------------------------------
@cache
def rendered() -> tuple[dict[str, Any], ...]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in kustomize) is needed to render k8s/"
    out = subprocess.run([kubectl, "kustomize", str(K8S)], check=True, capture_output=True, text=True).stdout
    return tuple(d for d in yaml.safe_load_all(out) if d)


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in rendered() if d["kind"] == kind}


def workloads() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind in WORKLOAD_KINDS:
        out.update(objects(kind))
    return out


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def container(service: str) -> dict[str, Any]:
    (only,) = pod_spec(objects("Deployment")[service])["containers"]
    return only


def config() -> dict[str, str]:
    return objects("ConfigMap")[CONFIGMAP]["data"]


def generated(kind: str, prefix: str) -> dict[str, Any]:
    """A generator-made object (name + content hash suffix)."""
    (obj,) = [o for n, o in objects(kind).items() if re.fullmatch(rf"{prefix}-[a-z0-9]{{10}}", n)]
    return obj


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}


def to_bytes(quantity: str | int) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMG]i?|k)?", str(quantity))
    assert match, f"unparsable memory quantity {quantity!r}"
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def to_cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """matchLabels/matchExpressions semantics; a plain dict is a Service selector."""
    if "matchLabels" not in selector and "matchExpressions" not in selector:
        return bool(selector) and all(labels.get(k) == v for k, v in selector.items())
    if not all(labels.get(k) == v for k, v in selector.get("matchLabels", {}).items()):
        return False
    for expr in selector.get("matchExpressions", []):
        value, op = labels.get(expr["key"]), expr["operator"]
        if op == "In" and value not in expr["values"]:
            return False
        if op == "NotIn" and value in expr["values"]:
            return False
        if op == "Exists" and value is None:
            return False
        if op == "DoesNotExist" and value is not None:
            return False
    return True


# ---- schema validation -------------------------------------------------------------------
def test_renders_and_every_object_passes_the_strict_schema() -> None:
    docs = rendered()
    assert len(docs) >= 60, len(docs)
    errors = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            errors.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message}")
    assert not errors, "\n".join(errors)


def test_the_validation_is_strict_enough_to_fail() -> None:
    deployment = json.loads(json.dumps(objects("Deployment")["gateway"]))
    pod_spec(deployment)["containers"][0]["readinessProbes"] = {}  # a typo
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)
    deployment = json.loads(json.dumps(objects("Deployment")["gateway"]))
    pod_spec(deployment)["containers"][0]["ports"][0]["containerPort"] = "50051"  # wrong type
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_every_object_is_unique_in_the_namespace_and_labelled() -> None:
    seen = set()
    for doc in rendered():
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"duplicate {key}"
        seen.add(key)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, key
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gridtwin", key
        text = json.dumps(doc)
        for placeholder in ("SERVICE", "MODULE", "COMPONENT"):
            assert not re.search(rf"\b{placeholder}\b", text), (
                f"{key}: template placeholder {placeholder} left"
            )


def test_services_come_from_one_template_with_small_overlays() -> None:
    template = (K8S / "service" / "deployment.yaml").read_text()
    assert "name: SERVICE" in template
    for service in SERVICES:
        overlay = K8S / "services" / service
        lines = sum(len(p.read_text().splitlines()) for p in overlay.glob("*.yaml"))
        assert "../../service" in (overlay / "kustomization.yaml").read_text(), service
        assert lines <= 80, f"{service}: the overlay should be a small patch, it has {lines} lines"


# ---- one Deployment and its Services per service, on the right port ----------------------
@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_deployment_running_its_entry_point(service: str) -> None:
    deployment = objects("Deployment").get(service)
    assert deployment is not None, f"no Deployment {service}"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selects(deployment["spec"]["selector"], labels)
    assert labels["app.kubernetes.io/name"] == service
    c = container(service)
    assert c["name"] == service
    assert [*c.get("command", []), *c.get("args", [])] == ["python", "-m", ENTRIES[service]]
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports["api"] == PORTS[service]
    assert {"configMapRef": {"name": CONFIGMAP}} in c["envFrom"]
    assert c["image"].split(":")[0] == "gridtwin"


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_clusterip_and_a_headless_service(service: str) -> None:
    services = objects("Service")
    pod_labels = objects("Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    for name, headless in ((service, False), (f"{service}-headless", True)):
        svc = services.get(name)
        assert svc is not None, f"no Service {name}"
        assert (svc["spec"].get("clusterIP") == "None") is headless, name
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP", name  # nothing is a LoadBalancer
        assert not svc["spec"].get("publishNotReadyAddresses", False)
        (port,) = svc["spec"]["ports"]
        assert port["port"] == PORTS[service]
        assert port["targetPort"] == "api"
        assert selects(svc["spec"]["selector"], pod_labels)


def test_every_service_selects_a_workload() -> None:
    pods = [w["spec"]["template"]["metadata"]["labels"] for w in workloads().values()]
    for name, svc in objects("Service").items():
        assert any(selects(svc["spec"]["selector"], labels) for labels in pods), (
            f"Service {name} selects nothing"
        )


# ---- probes, resources, security ---------------------------------------------------------
@pytest.mark.parametrize("workload", sorted(workloads()))
def test_every_container_is_probed_bounded_and_locked_down(workload: str) -> None:
    obj = workloads()[workload]
    pod = pod_spec(obj)
    pod_sc = pod.get("securityContext", {})
    assert pod.get("enableServiceLinks") is False, workload
    assert pod.get("automountServiceAccountToken") is False, workload
    for c in containers(obj):
        where = f"{workload}/{c['name']}"
        assert "readinessProbe" in c and "livenessProbe" in c, where
        resources = c.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources.get(bound, {}).keys(), f"{where}: {bound}"
        assert to_bytes(resources["requests"]["memory"]) <= to_bytes(resources["limits"]["memory"]), where
        assert to_cpu(resources["requests"]["cpu"]) <= to_cpu(resources["limits"]["cpu"]), where
        sc = c.get("securityContext", {})
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        assert isinstance(uid, int) and uid > 0, f"{where}: numeric non-root runAsUser"
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        assert sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type") == "RuntimeDefault", (
            where
        )


def test_the_namespace_enforces_the_restricted_pod_security_standard() -> None:
    labels = objects("Namespace")[NAMESPACE]["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


@pytest.mark.parametrize("service", GRPC_SERVICES)
def test_readiness_is_grpc_health_and_liveness_does_not_depend_on_redis(service: str) -> None:
    c = container(service)
    probe_cmd = ["python", "/app/grpc_probe.py", service]
    assert c["startupProbe"]["exec"]["command"] == probe_cmd
    assert c["readinessProbe"]["exec"]["command"] == probe_cmd
    # The health status "" includes Redis: liveness must not use it (a Redis outage would
    # restart every pod); it checks that the process accepts connections on its port.
    assert c["livenessProbe"] == {**c["livenessProbe"], "tcpSocket": {"port": "api"}}
    assert "exec" not in c["livenessProbe"] and "grpc" not in c["livenessProbe"]
    if service in MODULES:
        startup = c["startupProbe"]
        # Model loading: give it at least a minute before liveness can restart the pod.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


def test_the_probe_script_knows_every_grpc_service_and_its_port() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("grpc_probe", ROOT / "docker" / "grpc_probe.py")
    assert spec and spec.loader
    probe = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(probe)
    for service in GRPC_SERVICES:
        assert probe.DEFAULT_PORTS[service] == PORTS[service] == int(config()[f"{service.upper()}_PORT"])
    assert "COPY docker/grpc_probe.py grpc_probe.py" in (ROOT / "Dockerfile").read_text()


def test_web_is_probed_over_https() -> None:
    c = container("web")
    for probe in ("startupProbe", "readinessProbe"):
        assert c[probe]["httpGet"] == {"path": "/readyz", "port": "api", "scheme": "HTTPS"}
    # /healthz answers while the process does, whether or not the gateway is ready.
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "api", "scheme": "HTTPS"}


@pytest.mark.parametrize("service", SERVICES)
def test_services_write_only_to_mounted_tmp_and_var(service: str) -> None:
    deployment = objects("Deployment")[service]
    volumes = {v["name"]: v for v in pod_spec(deployment)["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in container(service)["volumeMounts"]}
    for path in ("/tmp", "/app/var"):
        assert "emptyDir" in volumes[mounts[path]], f"{service}: {path}"


@pytest.mark.parametrize("service", MODULES)
def test_module_memory_limit_is_300_to_400_mi(service: str) -> None:
    limit = to_bytes(container(service)["resources"]["limits"]["memory"])
    assert 300 * 2**20 <= limit <= 400 * 2**20


@pytest.mark.parametrize("service", SERVICES)
def test_graceful_shutdown_fits_in_the_termination_grace_period(service: str) -> None:
    pod = pod_spec(objects("Deployment")[service])
    command = container(service)["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(command[1]) + float(config()["SHUTDOWN_GRACE_S"])


# ---- autoscaling and disruption budgets --------------------------------------------------
def hpa_for(deployment: str) -> dict[str, Any] | None:
    for hpa in objects("HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"] == deployment:
            return hpa
    return None


@pytest.mark.parametrize("service", MODULES)
def test_module_services_have_a_cpu_hpa(service: str) -> None:
    hpa = hpa_for(service)
    assert hpa is not None, f"no HPA for {service}"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (2, 10)
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_hpa_targets_exist_and_own_the_replica_count() -> None:
    deployments = objects("Deployment")
    for name, hpa in objects("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        assert target in deployments, f"HPA {name} targets a missing Deployment {target}"
        # A replicas field would be re-applied over the HPA's choice on every `kubectl apply`.
        assert "replicas" not in deployments[target]["spec"], target
        for c in containers(deployments[target]):
            assert "cpu" in c["resources"]["requests"]  # utilization is relative to it
    for name, deployment in deployments.items():
        if hpa_for(name) is None:
            assert deployment["spec"].get("replicas", 1) >= 1, name


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_a_pod_disruption_budget(service: str) -> None:
    labels = objects("Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    pdbs = [p for p in objects("PodDisruptionBudget").values() if selects(p["spec"]["selector"], labels)]
    assert len(pdbs) == 1, service
    assert pdbs[0]["apiVersion"] == "policy/v1"


# ---- configuration, secrets, TLS ---------------------------------------------------------
@pytest.mark.parametrize("service", [s for s in GRPC_SERVICES if s != "gateway"])
def test_internal_addresses_use_dns_and_an_existing_headless_service(service: str) -> None:
    address = config()[f"{service.upper()}_ADDR"]
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", address)
    assert match, f"{service.upper()}_ADDR={address!r}"
    name, namespace, port = match.group(1), match.group(2), int(match.group(3))
    assert (name, namespace, port) == (f"{service}-headless", NAMESPACE, PORTS[service])
    assert objects("Service")[name]["spec"]["clusterIP"] == "None"


@pytest.mark.parametrize("service", SERVICES)
def test_configmap_ports_match_the_defaults(service: str) -> None:
    assert int(config()[f"{service.upper()}_PORT"]) == PORTS[service]


def test_production_switches_are_set() -> None:
    cfg = config()
    assert cfg["GRIDTWIN_AUTH"] == "on"
    assert cfg["GRIDTWIN_REFLECTION"] == "off"
    assert int(cfg["METRICS_PORT"]) == METRICS_PORT
    assert cfg["GRIDTWIN_REDIS_PREFIX"].endswith(":")
    assert "REDIS_URL" not in cfg, "the Redis URL carries a password: it is built from the Secret"
    otlp = re.fullmatch(
        r"http://otel-collector\.gridtwin\.svc\.cluster\.local:(\d+)", cfg["OTEL_EXPORTER_OTLP_ENDPOINT"]
    )
    assert otlp and int(otlp.group(1)) in [
        p["port"] for p in objects("Service")["otel-collector"]["spec"]["ports"]
    ]


@pytest.mark.parametrize("service", SERVICES)
def test_tls_material_is_mounted_where_the_environment_points(service: str) -> None:
    cfg = config()
    secret = generated("Secret", "gridtwin-tls")
    volumes = {v["name"]: v for v in pod_spec(objects("Deployment")[service])["volumes"]}
    mounts = {m["mountPath"]: m for m in container(service)["volumeMounts"]}
    for var, key in (
        ("GRIDTWIN_TLS_CERT", "tls.crt"),
        ("GRIDTWIN_TLS_KEY", "tls.key"),
        ("GRIDTWIN_TLS_CA", "ca.crt"),
    ):
        directory, filename = cfg[var].rsplit("/", 1)
        assert filename == key and key in secret["data"], var
        mount = mounts[directory]
        assert mount.get("readOnly") is True
        assert volumes[mount["name"]]["secret"]["secretName"] == secret["metadata"]["name"]


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_are_annotated_for_prometheus(service: str) -> None:
    annotations = objects("Deployment")[service]["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    port = int(annotations["prometheus.io/port"])
    ports = [p["containerPort"] for p in container(service)["ports"]]
    assert port == (PORTS["web"] if service == "web" else METRICS_PORT)
    assert port in ports


def env_of(service: str) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container(service).get("env", [])}


@pytest.mark.parametrize("service", SERVICES)
def test_secrets_reach_exactly_the_services_that_need_them(service: str) -> None:
    env = env_of(service)
    redis_auth = generated("Secret", "redis-auth")["metadata"]["name"]
    if service in REDIS_CLIENTS:
        assert env["REDIS_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": redis_auth, "key": "password"}
        # Dependent variables: REDIS_PASSWORD must be defined before REDIS_URL uses it.
        names = [e["name"] for e in container(service)["env"]]
        assert names.index("REDIS_PASSWORD") < names.index("REDIS_URL")
        assert env["REDIS_URL"]["value"] == "redis://$(REDIS_USERNAME):$(REDIS_PASSWORD)@$(REDIS_HOSTPORT)/0"
    else:
        assert "REDIS_PASSWORD" not in env and "REDIS_URL" not in env
    assert ("GRIDTWIN_JWT_SECRET" in env) is (service in PUBLIC)
    assert ("DATABASE_URL" in env) is (service == "history")
    if service == "history":
        ref = env["DATABASE_URL"]["valueFrom"]["secretKeyRef"]
        assert ref == {"name": generated("Secret", "history-db")["metadata"]["name"], "key": "database-url"}


def test_committed_secrets_are_placeholders_only() -> None:
    files = [p for p in (K8S / "secrets").iterdir() if p.name != "README.md"]
    assert len(files) >= 7
    for path in files:
        assert "REPLACE_ME" in path.read_text(), f"{path} must stay a placeholder (docs/deploy.md)"


# ---- Redis -------------------------------------------------------------------------------
def redis_container() -> dict[str, Any]:
    (c,) = pod_spec(objects("StatefulSet")["redis"])["containers"]
    return c


def test_redis_requires_the_acl_user_and_keeps_protected_mode() -> None:
    files = generated("ConfigMap", "redis-config")["data"]
    conf = dict(line.split(None, 1) for line in files["redis.conf"].splitlines() if line and line[0] != "#")
    assert conf["protected-mode"] == "yes"
    assert conf["aclfile"].startswith("/run/redis/")
    acl = files["users.acl.template"].splitlines()
    assert acl[0].split()[:3] == ["user", "default", "off"]
    (user,) = [line for line in acl if line.startswith("user gridtwin ")]
    assert ">${REDIS_PASSWORD}" in user.split()
    assert f"~{config()['GRIDTWIN_REDIS_PREFIX']}*" in user.split()
    assert "-@dangerous" in user.split()
    script = " ".join(redis_container()["args"])
    assert "protected-mode no" not in script and "REPLACE_ME" in script  # refuses the placeholder
    mounts = {m["mountPath"]: m["name"] for m in redis_container()["volumeMounts"]}
    volumes = {v["name"]: v for v in pod_spec(objects("StatefulSet")["redis"])["volumes"]}
    assert volumes[mounts["/run/redis"]]["emptyDir"]["medium"] == "Memory"  # the rendered ACL file


def test_redis_probes_authenticate() -> None:
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        command = " ".join(redis_container()[probe]["exec"]["command"])
        assert "REDISCLI_AUTH" in command and "--user gridtwin" in command, probe


# ---- NetworkPolicies, evaluated ----------------------------------------------------------
OUTSIDE = {"__outside__": "true"}  # a client in another namespace or outside the cluster


def pod_labels() -> dict[str, dict[str, str]]:
    return {n: w["spec"]["template"]["metadata"]["labels"] for n, w in workloads().items()}


def port_names(workload: str) -> dict[str, int]:
    return {
        p["name"]: p["containerPort"] for c in containers(workloads()[workload]) for p in c.get("ports", [])
    }


def _port_ok(rule: dict[str, Any], dst: str, port: int) -> bool:
    if "ports" not in rule:
        return True
    names = port_names(dst)
    return any(
        (names.get(p["port"]) if isinstance(p["port"], str) else p["port"]) == port for p in rule["ports"]
    )


def _peer_ok(rule: dict[str, Any], key: str, peer_labels: dict[str, str] | None) -> bool:
    """peer_labels None = outside the namespace."""
    if key not in rule:
        return True  # no from/to: any peer
    for peer in rule[key]:
        if "ipBlock" in peer:
            return True
        if "namespaceSelector" in peer:
            # Only the namespace labelled for Prometheus is admitted from outside; it is not "any".
            if peer_labels is None and not peer["namespaceSelector"].get("matchLabels", {}).get(
                "gridtwin.io/prometheus"
            ):
                return True
            continue
        if peer_labels is not None and selects(peer["podSelector"], peer_labels):
            return True
    return False


def allowed(src: str | None, dst: str | None, port: int) -> bool:
    """Would a TCP connection src -> dst:port pass the policies? None = outside the namespace."""
    labels = pod_labels()
    policies = list(objects("NetworkPolicy").values())
    if src is not None:
        egress = [
            p
            for p in policies
            if "Egress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels[src])
        ]
        if egress and not any(
            _peer_ok(r, "to", labels[dst] if dst else None) and (dst is None or _port_ok(r, dst, port))
            for p in egress
            for r in p["spec"].get("egress", [])
        ):
            return False
    if dst is not None:
        ingress = [
            p
            for p in policies
            if "Ingress" in p["spec"]["policyTypes"] and selects(p["spec"]["podSelector"], labels[dst])
        ]
        if ingress and not any(
            _peer_ok(r, "from", labels[src] if src else None) and _port_ok(r, dst, port)
            for p in ingress
            for r in p["spec"].get("ingress", [])
        ):
            return False
    return True


def test_default_deny_covers_every_pod_both_ways() -> None:
    deny = objects("NetworkPolicy")["default-deny"]["spec"]
    assert deny["podSelector"] == {} and set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny


def test_only_the_gateway_and_web_are_reachable_from_outside() -> None:
    reachable = set()
    for name in workloads():
        for port in port_names(name).values():
            if port not in (METRICS_PORT, 8889) and allowed(None, name, port):
                reachable.add(name)
    assert reachable == PUBLIC
    assert allowed(None, "gateway", PORTS["gateway"]) and allowed(None, "web", PORTS["web"])


# Every call the mesh makes (gateway/orchestrator.py, services/ingest, web -> gateway).
REQUIRED = [
    ("web", "gateway", PORTS["gateway"]),
    *[("gateway", s, PORTS[s]) for s in ("ingest", *MODULES, "history")],
    ("ingest", "features", PORTS["features"]),
    *[(s, "redis", 6379) for s in sorted(REDIS_CLIENTS)],
    ("history", "postgres", 5432),
    *[(s, "otel-collector", 4317) for s in SERVICES],
    ("otel-collector", "jaeger", 4317),
]
FORBIDDEN = [
    (None, "ingest", PORTS["ingest"]),
    (None, "redis", 6379),
    (None, "postgres", 5432),
    (None, "monitoring", PORTS["monitoring"]),
    ("web", "redis", 6379),
    ("web", "ingest", PORTS["ingest"]),
    ("gateway", "postgres", 5432),
    ("monitoring", "ingest", PORTS["ingest"]),
    ("ingest", "monitoring", PORTS["monitoring"]),
    ("features", "ingest", PORTS["ingest"]),
    ("decision", "history", PORTS["history"]),
    ("jaeger", "redis", 6379),
]


@pytest.mark.parametrize(("src", "dst", "port"), REQUIRED)
def test_network_policies_admit_every_call_the_mesh_makes(src: str, dst: str, port: int) -> None:
    assert allowed(src, dst, port)


@pytest.mark.parametrize(("src", "dst", "port"), FORBIDDEN)
def test_network_policies_refuse_what_the_mesh_never_does(src: str | None, dst: str, port: int) -> None:
    assert not allowed(src, dst, port)


def test_only_redis_clients_carry_the_redis_label() -> None:
    labelled = {n for n, labels in pod_labels().items() if labels.get("gridtwin.io/redis-client") == "true"}
    assert labelled == REDIS_CLIENTS


def test_the_telemetry_services_expose_their_ports() -> None:
    collector = {p["port"] for p in objects("Service")["otel-collector"]["spec"]["ports"]}
    assert {4317, 4318, 8889} <= collector  # 8889: the collector's Prometheus exporter
    assert {16686, 4317} <= {p["port"] for p in objects("Service")["jaeger"]["spec"]["ports"]}
    collector_cfg = yaml.safe_load(objects("ConfigMap")["otel-collector-config"]["data"]["collector.yaml"])
    assert collector_cfg["exporters"]["prometheus"]["endpoint"].endswith(":8889")


# ---- dashboard and image -----------------------------------------------------------------
def dashboard_metrics() -> set[str]:
    board = json.loads(objects("ConfigMap")["gridtwin-dashboard"]["data"]["gridtwin-mesh.json"])
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(exprs) >= 10
    names = set()
    for expr in exprs:
        names |= {m for m in re.findall(r"\b([a-z_]+)\{", expr) if m not in ("by", "rate", "sum")}
    return names


def test_the_dashboard_is_shipped_and_queries_the_services_metrics() -> None:
    board = objects("ConfigMap")["gridtwin-dashboard"]
    assert board["metadata"]["labels"]["grafana_dashboard"] == "1"
    names = dashboard_metrics()
    assert {
        "grpc_server_handled_total",
        "gridtwin_model_outputs_total",
        "gridtwin_redis_errors_total",
    } <= names


def test_every_dashboard_metric_is_defined_by_the_code() -> None:
    telemetry = ROOT / "gridtwin" / "core" / "telemetry"
    if not telemetry.is_dir():
        pytest.skip("gridtwin.core.telemetry (Prometheus metrics) is not on this branch yet")
    source = "\n".join(p.read_text() for p in (ROOT / "gridtwin").rglob("*.py"))
    for name in dashboard_metrics():
        base = re.sub(r"_(total|bucket|sum|count)$", "", name)
        assert f'"{base}"' in source, f"the dashboard queries {name}, which no code defines"


def test_image_user_and_registry_match_the_manifests() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root USER"
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert f"GRIDTWIN_REGISTRY={config()['GRIDTWIN_REGISTRY']}" in dockerfile
    for service in SERVICES:
        assert container(service)["securityContext"]["runAsUser"] == int(uid), service
    kustomization = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    assert "gridtwin" in {i["name"] for i in kustomization["images"]}
