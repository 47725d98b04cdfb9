"""Static checks of the Kubernetes manifests in k8s/ (no cluster needed).

They tie the manifests to the code: every entry point in gridtwin.mesh has a Deployment and
a Service on its gridtwin.core.config.DEFAULT_PORTS port, every internal address is a
`dns:///` name of a headless Service that exists (client-side round_robin), and every
container is probed, bounded and locked down.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from gridtwin.core.config import DEFAULT_PORTS
from gridtwin.mesh import ENTRY_POINTS as ALL_ENTRY_POINTS
from gridtwin.mesh import HTTP_SERVICES
from gridtwin.registry import MODULE_MODELS

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
NAMESPACE = "gridtwin"
CONFIGMAP = "gridtwin-config"
MODULES = tuple(MODULE_MODELS)  # monitoring, maintenance, energy, decision
# The gRPC services; the HTTP front end (web) has HTTP probes and no gRPC port, so these
# gRPC-specific checks do not apply to it.
ENTRY_POINTS = {s: m for s, m in ALL_ENTRY_POINTS.items() if s not in HTTP_SERVICES}
INTERNAL = tuple(s for s in ENTRY_POINTS if s != "gateway")
WORKLOAD_KINDS = ("Deployment", "StatefulSet")


# ---- loading ----------------------------------------------------------------------------
def _kustomization() -> dict[str, Any]:
    return yaml.safe_load((K8S / "kustomization.yaml").read_text())


def _load_all() -> list[tuple[str, dict[str, Any]]]:
    docs = []
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                docs.append((path.name, doc))
    return docs


DOCS = _load_all()


def _objects(kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for _, d in DOCS if d["kind"] == kind}


def _workloads() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for kind in WORKLOAD_KINDS:
        out.update(_objects(kind))
    return out


def _containers(workload: dict[str, Any]) -> list[dict[str, Any]]:
    spec = workload["spec"]["template"]["spec"]
    return [*spec.get("initContainers", []), *spec["containers"]]


def _service_container(service: str) -> dict[str, Any]:
    (container,) = _objects("Deployment")[service]["spec"]["template"]["spec"]["containers"]
    return container


def _config() -> dict[str, str]:
    return _objects("ConfigMap")[CONFIGMAP]["data"]


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "k": 10**3, "M": 10**6, "G": 10**9, "": 1}


def _bytes(quantity: str | int) -> float:
    match = re.fullmatch(r"([0-9.]+)([KMG]i?|k)?", str(quantity))
    assert match, f"unparsable memory quantity {quantity!r}"
    return float(match.group(1)) * _UNITS[match.group(2) or ""]


def _cpu(quantity: str | int | float) -> float:
    text = str(quantity)
    return float(text[:-1]) / 1000 if text.endswith("m") else float(text)


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


# ---- the kustomization ---------------------------------------------------------------------
def test_kustomization_lists_every_file() -> None:
    kustomization = _kustomization()
    listed = kustomization["resources"]
    on_disk = sorted(p.name for p in K8S.glob("*.y*ml") if p.name != "kustomization.yaml")
    assert sorted(listed) == on_disk
    assert len(set(listed)) == len(listed)
    assert kustomization["namespace"] == NAMESPACE


def test_every_object_is_well_formed_and_in_the_namespace() -> None:
    assert DOCS
    seen = set()
    for filename, doc in DOCS:
        assert {"apiVersion", "kind", "metadata"} <= doc.keys(), filename
        key = (doc["kind"], doc["metadata"]["name"])
        assert key not in seen, f"duplicate {key} in {filename}"
        seen.add(key)
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace") == NAMESPACE, f"{key} in {filename}"
        assert doc["metadata"]["labels"]["app.kubernetes.io/part-of"] == "gridtwin", key


# ---- one Deployment and one Service per service, on the right port ---------------------
@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_every_service_has_a_deployment_running_its_entry_point(service: str) -> None:
    deployment = _objects("Deployment").get(service)
    assert deployment is not None, f"no Deployment {service}"
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert _selects(deployment["spec"]["selector"]["matchLabels"], labels)
    assert labels["app.kubernetes.io/name"] == service
    container = _service_container(service)
    assert [*container.get("command", []), *container.get("args", [])] == [
        "python",
        "-m",
        ENTRY_POINTS[service],
    ]
    ports = [p["containerPort"] for p in container["ports"]]
    assert ports == [DEFAULT_PORTS[service]]
    assert container["envFrom"] == [{"configMapRef": {"name": CONFIGMAP}}]


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_every_service_has_a_service_on_its_default_port(service: str) -> None:
    services = _objects("Service")
    name = service if service == "gateway" else f"{service}-headless"
    svc = services.get(name)
    assert svc is not None, f"no Service {name}"
    if service == "gateway":
        assert svc["spec"].get("type", "ClusterIP") == "ClusterIP"
        assert svc["spec"].get("clusterIP") != "None"
    else:
        assert svc["spec"]["clusterIP"] == "None", f"{name} must be headless"
        assert not svc["spec"].get("publishNotReadyAddresses", False)
    (port,) = svc["spec"]["ports"]
    assert port["port"] == DEFAULT_PORTS[service]
    pod_labels = _objects("Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    assert _selects(svc["spec"]["selector"], pod_labels)
    container_ports = {p["name"]: p["containerPort"] for p in _service_container(service)["ports"]}
    target = port.get("targetPort", port["port"])
    assert container_ports.get(target, target) == DEFAULT_PORTS[service]


def test_every_service_selects_a_workload() -> None:
    pods = [w["spec"]["template"]["metadata"]["labels"] for w in _workloads().values()]
    for name, svc in _objects("Service").items():
        assert any(_selects(svc["spec"]["selector"], labels) for labels in pods), (
            f"Service {name} selects nothing"
        )


# ---- probes, resources, security ---------------------------------------------------------
@pytest.mark.parametrize("workload", sorted(_workloads()))
def test_every_container_is_probed_bounded_and_locked_down(workload: str) -> None:
    obj = _workloads()[workload]
    pod = obj["spec"]["template"]["spec"]
    pod_sc = pod.get("securityContext", {})
    assert pod.get("enableServiceLinks") is False, workload
    assert pod.get("automountServiceAccountToken") is False, workload
    for container in _containers(obj):
        where = f"{workload}/{container['name']}"
        assert "readinessProbe" in container, where
        assert "livenessProbe" in container, where
        resources = container.get("resources", {})
        for bound in ("requests", "limits"):
            assert {"cpu", "memory"} <= resources.get(bound, {}).keys(), f"{where}: {bound}"
        assert _bytes(resources["requests"]["memory"]) <= _bytes(resources["limits"]["memory"]), where
        assert _cpu(resources["requests"]["cpu"]) <= _cpu(resources["limits"]["cpu"]), where

        sc = container.get("securityContext", {})
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, where
        uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
        assert isinstance(uid, int) and uid > 0, f"{where}: numeric non-root runAsUser"
        assert sc.get("readOnlyRootFilesystem") is True, where
        assert sc.get("allowPrivilegeEscalation") is False, where
        assert sc.get("capabilities", {}).get("drop") == ["ALL"], where
        seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
        assert seccomp.get("type") == "RuntimeDefault", where


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_mesh_services_use_native_grpc_probes_on_their_port(service: str) -> None:
    container = _service_container(service)
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        if probe == "startupProbe" and service not in MODULES and probe not in container:
            continue
        assert container[probe]["grpc"]["port"] == DEFAULT_PORTS[service], f"{service} {probe}"
    if service in MODULES:
        startup = container["startupProbe"]
        # Model loading: give it at least a minute before liveness can restart the pod.
        assert startup["periodSeconds"] * startup["failureThreshold"] >= 60


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_mesh_services_write_only_to_a_mounted_tmp(service: str) -> None:
    deployment = _objects("Deployment")[service]
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"]["volumes"]}
    mounts = {m["mountPath"]: m["name"] for m in _service_container(service)["volumeMounts"]}
    assert "/tmp" in mounts
    assert "emptyDir" in volumes[mounts["/tmp"]]


@pytest.mark.parametrize("service", MODULES)
def test_module_memory_limit_is_300_to_400_mi(service: str) -> None:
    limit = _bytes(_service_container(service)["resources"]["limits"]["memory"])
    assert 300 * 2**20 <= limit <= 400 * 2**20


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_graceful_shutdown_fits_in_the_termination_grace_period(service: str) -> None:
    pod = _objects("Deployment")[service]["spec"]["template"]["spec"]
    container = _service_container(service)
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop_s = float(command[1])
    grace_s = float(_config()["SHUTDOWN_GRACE_S"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop_s + grace_s


# ---- autoscaling and disruption budgets ------------------------------------------------
def _hpa_for(deployment: str) -> dict[str, Any] | None:
    for hpa in _objects("HorizontalPodAutoscaler").values():
        ref = hpa["spec"]["scaleTargetRef"]
        if ref["kind"] == "Deployment" and ref["name"] == deployment:
            return hpa
    return None


@pytest.mark.parametrize("service", MODULES)
def test_module_services_have_a_cpu_hpa(service: str) -> None:
    hpa = _hpa_for(service)
    assert hpa is not None, f"no HPA for {service}"
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 10
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_hpa_targets_exist_and_own_the_replica_count() -> None:
    deployments = _objects("Deployment")
    for name, hpa in _objects("HorizontalPodAutoscaler").items():
        target = hpa["spec"]["scaleTargetRef"]["name"]
        assert target in deployments, f"HPA {name} targets a missing Deployment {target}"
        assert hpa["spec"]["minReplicas"] >= 2
        # A replicas field would be re-applied over the HPA's choice on every `kubectl apply`.
        assert "replicas" not in deployments[target]["spec"], target
        # Utilization is relative to the request, so one is needed.
        for container in _containers(deployments[target]):
            assert "cpu" in container["resources"]["requests"]


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_every_service_has_a_pod_disruption_budget(service: str) -> None:
    labels = _objects("Deployment")[service]["spec"]["template"]["metadata"]["labels"]
    pdbs = [
        p
        for p in _objects("PodDisruptionBudget").values()
        if _selects(p["spec"]["selector"]["matchLabels"], labels)
    ]
    assert len(pdbs) == 1, service
    assert pdbs[0]["apiVersion"] == "policy/v1"


# ---- configuration ---------------------------------------------------------------------
@pytest.mark.parametrize("service", INTERNAL)
def test_internal_addresses_use_dns_and_an_existing_headless_service(service: str) -> None:
    address = _config()[f"{service.upper()}_ADDR"]
    match = re.fullmatch(r"dns:///([a-z0-9-]+)\.([a-z0-9-]+)\.svc\.cluster\.local:(\d+)", address)
    assert match, (
        f"{service.upper()}_ADDR={address!r} must be dns:///<svc>-headless.<ns>.svc.cluster.local:<port>"
    )
    name, namespace, port = match.group(1), match.group(2), int(match.group(3))
    assert name == f"{service}-headless"
    assert namespace == NAMESPACE
    assert port == DEFAULT_PORTS[service]
    svc = _objects("Service").get(name)
    assert svc is not None, f"{service.upper()}_ADDR names a missing Service {name}"
    assert svc["spec"]["clusterIP"] == "None"
    assert port in [p["port"] for p in svc["spec"]["ports"]]


def test_every_address_in_the_configmap_is_checked() -> None:
    addresses = {k for k in _config() if k.endswith("_ADDR")}
    assert addresses <= {f"{s.upper()}_ADDR" for s in ENTRY_POINTS}
    assert {f"{s.upper()}_ADDR" for s in INTERNAL} <= addresses


@pytest.mark.parametrize("service", list(ENTRY_POINTS))
def test_configmap_ports_match_the_defaults(service: str) -> None:
    assert int(_config()[f"{service.upper()}_PORT"]) == DEFAULT_PORTS[service]


def _service_port(host: str, port: int) -> None:
    match = re.fullmatch(rf"([a-z0-9-]+)\.{NAMESPACE}\.svc\.cluster\.local", host)
    assert match, host
    svc = _objects("Service").get(match.group(1))
    assert svc is not None, f"no Service {match.group(1)}"
    assert port in [p["port"] for p in svc["spec"]["ports"]], f"{host}:{port}"


def test_redis_and_otlp_endpoints_point_at_services_that_exist() -> None:
    config = _config()
    redis = re.fullmatch(r"redis://([^:/]+):(\d+)/\d+", config["REDIS_URL"])
    assert redis, config["REDIS_URL"]
    _service_port(redis.group(1), int(redis.group(2)))
    otlp = re.fullmatch(r"http://([^:/]+):(\d+)", config["OTEL_EXPORTER_OTLP_ENDPOINT"])
    assert otlp, config["OTEL_EXPORTER_OTLP_ENDPOINT"]
    assert otlp.group(1).startswith("otel-collector.")
    assert int(otlp.group(2)) == 4317
    _service_port(otlp.group(1), 4317)
    for key in (
        "GRIDTWIN_REDIS_PREFIX",
        "GRIDTWIN_REGISTRY",
        "LOG_LEVEL",
        "INGEST_DEADLINE_S",
        "MODULE_DEADLINE_S",
        "DECISION_DEADLINE_S",
        "SHUTDOWN_GRACE_S",
    ):
        assert config.get(key), key


def test_collector_batches_otlp_to_jaeger() -> None:
    collector = yaml.safe_load(_objects("ConfigMap")["otel-collector-config"]["data"]["collector.yaml"])
    assert collector["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"].endswith(":4317")
    pipelines = collector["service"]["pipelines"]
    assert set(pipelines) == {"traces", "metrics"}
    assert pipelines["metrics"]["receivers"] == ["otlp"]
    assert pipelines["metrics"]["exporters"] == ["prometheus"]
    pipeline = pipelines["traces"]
    assert pipeline["receivers"] == ["otlp"]
    assert "batch" in pipeline["processors"]
    (exporter,) = pipeline["exporters"]
    assert exporter.split("/")[0] in ("otlp", "otlp_grpc")
    host, port = collector["exporters"][exporter]["endpoint"].rsplit(":", 1)
    assert host.startswith("jaeger.")
    _service_port(host, int(port))
    jaeger_ports = {p["port"] for p in _objects("Service")["jaeger"]["spec"]["ports"]}
    assert {16686, 4317} <= jaeger_ports
    assert "otel-collector" in _objects("Deployment")
    assert "jaeger" in _objects("Deployment")


# ---- the image -------------------------------------------------------------------------
def test_image_user_registry_and_bytecode_match_the_manifests() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER\s+(\S+)", dockerfile, flags=re.MULTILINE)
    assert users, "the image must set a USER"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) > 0, "numeric non-root USER"
    assert "PYTHONDONTWRITEBYTECODE=1" in dockerfile
    assert f"GRIDTWIN_REGISTRY={_config()['GRIDTWIN_REGISTRY']}" in dockerfile
    for service in ENTRY_POINTS:
        container = _service_container(service)
        assert container["securityContext"]["runAsUser"] == int(uid), service
        assert container["image"].split(":")[0] == "gridtwin", service
    images = {i["name"] for i in _kustomization().get("images", [])}
    assert "gridtwin" in images
