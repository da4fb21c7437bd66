"""Shared fixtures: the rendered overlays, the topic definitions and small helpers.

Every overlay under infra/k8s/overlays is rendered once per test session with
`kubectl kustomize`; the tests only read the result.
"""

from __future__ import annotations

import shutil
import subprocess
import tomllib
from functools import cache
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "infra" / "k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").exists())
PROD_OVERLAYS = [o for o in OVERLAYS if o.startswith("prod")]

WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "ReplicaSet", "Pod"}

# The configuration contract of the Ward binaries (platform/src/config.rs and the issue
# texts). A WARD_* variable outside this set would make a binary refuse to start.
WARD_ENV = {
    "WARD_CONFIG",
    "WARD_KAFKA__BOOTSTRAP_SERVERS",
    "WARD_KAFKA__TOPIC_PREFIX",
    "WARD_KAFKA__TLS",
    "WARD_KAFKA__TLS_CA_LOCATION",
    "WARD_KAFKA__SASL__MECHANISM",
    "WARD_KAFKA__SASL__USERNAME",
    "WARD_KAFKA__SASL__PASSWORD",
    "WARD_REDIS__URL",
    "WARD_REDIS__KEY_PREFIX",
    "WARD_EVENT_STORE__URL",
    "WARD_EVENT_STORE__MAX_CONNECTIONS",
    "WARD_BOARD_DB__URL",
    "WARD_HOSPITAL_DB__URL",
    "WARD_MEMBER_DB__URL",
    "WARD_COMMAND_API__LISTEN",
    "WARD_COMMAND_API__AUTHOR_KEY",
    "WARD_COMMAND_API__IDENTITY_PEPPER",
    "WARD_COMMAND_API__PREVIOUS_IDENTITY_PEPPER",
    "WARD_COMMAND_API__AUTH__KAKAO__CLIENT_ID",
    "WARD_COMMAND_API__AUTH__KAKAO__CLIENT_SECRET",
    "WARD_COMMAND_API__AUTH__KAKAO__REDIRECT_URL",
    "WARD_COMMAND_API__MAIL__FROM",
    "WARD_COMMAND_API__MAIL__SMTP_URL",
    "WARD_QUERY_API__LISTEN",
    "WARD_QUERY_API__SERVICES",
    "WARD_PROJECTOR__LISTEN",
    "WARD_GATEWAY__LISTEN",
    "WARD_PROJECTOR__PROJECTIONS",
    "WARD_PROJECTOR__BATCH_SIZE",
    "WARD_PROJECTOR__FETCH_WAIT_MS",
    "WARD_LOG_FORMAT",
}
READ_MODELS = ("board", "hospital", "member")
# The query side's Deployments: one per read model, plus query-api-web, the browser pages,
# which serves all three read models and the pages in one process.
WEB_SERVICES = "board,hospital,member,web"
QUERY_DEPLOYMENTS = tuple(f"query-api-{m}" for m in (*READ_MODELS, "web"))

# Metric names the services export (issue 2/7). Histograms also expose _bucket/_sum/_count.
WARD_METRICS = {
    "ward_command_http_requests_total",
    "ward_command_http_request_duration_seconds",
    "ward_query_http_requests_total",
    "ward_query_http_request_duration_seconds",
    "ward_projector_http_requests_total",
    "ward_projector_http_request_duration_seconds",
    "ward_command_outbox_backlog",
    "ward_command_outbox_relay_leader",
    "ward_command_outbox_published_total",
    "ward_command_outbox_already_published_total",
    "ward_projector_lag",
    "ward_projector_events_applied_total",
    "ward_projector_assigned_partitions",
    "ward_projector_stall_reseeks_total",
    "ward_projector_group_stalled_partitions",
    "ward_command_dependency_up",
    "ward_query_dependency_up",
    "ward_projector_dependency_up",
}


@cache
def render(overlay: str) -> tuple[dict, ...]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl is not on PATH (it renders the kustomize overlays)")
    result = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"kubectl kustomize overlays/{overlay} failed:\n{result.stderr}")
    return tuple(d for d in yaml.safe_load_all(result.stdout) if d)


@cache
def topics() -> tuple[dict, ...]:
    with (REPO / "infra" / "kafka" / "topics.toml").open("rb") as f:
        return tuple(tomllib.load(f)["topics"])


def of_kind(docs, *kinds):
    return [d for d in docs if d["kind"] in kinds]


def name(doc) -> str:
    ns = doc["metadata"].get("namespace", "")
    return f"{doc['kind']}/{ns + '/' if ns else ''}{doc['metadata']['name']}"


def pod_spec(doc) -> dict:
    if doc["kind"] == "Pod":
        return doc["spec"]
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return doc["spec"]["template"]["spec"]


def pod_labels(doc) -> dict:
    if doc["kind"] == "Pod":
        return doc["metadata"].get("labels", {})
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["metadata"].get("labels", {})
    return doc["spec"]["template"]["metadata"].get("labels", {})


def containers(doc):
    spec = pod_spec(doc)
    return spec.get("initContainers", []) + spec["containers"]


def is_ward(doc) -> bool:
    """A workload running a Ward binary (as opposed to Redis, MySQL, ...)."""
    return pod_labels(doc).get("app.kubernetes.io/part-of") == "ward"


def selector_matches(selector: dict | None, labels: dict) -> bool:
    """Kubernetes label-selector semantics (matchLabels + matchExpressions)."""
    if selector is None:
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values", [])
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


@pytest.fixture(params=OVERLAYS)
def overlay(request) -> str:
    return request.param


@pytest.fixture
def docs(overlay) -> tuple[dict, ...]:
    return render(overlay)
