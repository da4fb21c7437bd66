"""Static checks of the Dockerfile, .dockerignore and docker-compose.yml. Neither can be run
on these machines (no Docker engine); these tests only catch what reading can catch."""

from __future__ import annotations

import fnmatch
import re
import tomllib

import yaml

from conftest import REPO, WARD_ENV, containers, is_ward, of_kind, render, WORKLOAD_KINDS
from test_policy import pinned

BINARIES = {"ward-command-api", "ward-query-api", "ward-projector", "ward"}
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))


def _dockerfile_args():
    return dict(re.findall(r"^ARG (\w+)=(\S+)$", DOCKERFILE, re.M))


def _stages():
    args = _dockerfile_args()
    stages = []
    for image, alias in re.findall(r"^FROM (?:--platform=\S+ )?(\S+)(?: AS (\S+))?$", DOCKERFILE, re.M):
        stages.append((re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], image), alias))
    return stages


def test_base_images_are_pinned():
    stages = _stages()
    aliases = {alias for _, alias in stages}
    for image, _ in stages:
        if image not in aliases:
            assert pinned(image), image


def test_the_runtime_is_minimal_and_not_root():
    image, _ = _stages()[-1]
    assert image.startswith("gcr.io/distroless/cc-") and image.endswith(":nonroot")
    user = re.findall(r"^USER (\S+)$", DOCKERFILE, re.M)[-1]
    assert user.split(":")[0] not in ("0", "root")
    assert user.split(":")[0].isdigit(), "numeric, so Kubernetes can verify runAsNonRoot"


def test_every_binary_is_built_locked_and_released():
    build = re.search(r"cargo build ([^&]*)", DOCKERFILE).group(1)
    assert "--release" in build and "--locked" in build
    assert set(re.findall(r"--bin (\S+)", build)) == BINARIES
    for binary in BINARIES:
        assert f"target/release/{binary}" in DOCKERFILE


def test_dependencies_are_cached_in_their_own_layer():
    cook = DOCKERFILE.index("cargo chef cook")
    assert DOCKERFILE.index("COPY --from=planner") < cook < DOCKERFILE.index("cargo build")
    assert "--locked" in DOCKERFILE[cook:cook + 120]


def _ignored(path: str) -> bool:
    """.dockerignore semantics: patterns in order, the last match wins, `!` re-includes."""
    patterns = [line.strip() for line in (REPO / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    ignored = False
    parts = path.split("/")
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!")
        # A pattern matching a parent directory matches everything below it.
        candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
        if any(fnmatch.fnmatchcase(c, pattern) or
               (pattern.startswith("**/") and fnmatch.fnmatchcase(c.split("/")[-1], pattern[3:]))
               for c in candidates):
            ignored = not negate
    return ignored


def test_dockerignore_keeps_what_the_build_needs():
    workspace = tomllib.loads((REPO / "Cargo.toml").read_text())["workspace"]["members"]
    needed = ["Cargo.toml", "Cargo.lock", "infra/kafka/topics.toml"]
    needed += [f"{member}/Cargo.toml" for member in workspace]
    needed += [f"{member}/src/lib.rs" for member in workspace]
    for path in needed:
        assert not _ignored(path), path
    for path in ["target/release/ward", ".git/HEAD", "infra/k8s/base/kustomization.yaml",
                 "infra/kafka/strimzi/kafka.yaml", "platform/target/x"]:
        assert _ignored(path), path


def test_kubernetes_runs_the_binaries_the_image_has():
    for doc in of_kind(render("prod"), *WORKLOAD_KINDS):
        if is_ward(doc):
            command = containers(doc)[0]["command"][0]
            assert command.removeprefix("/usr/local/bin/") in BINARIES, command


# --- docker-compose.yml --------------------------------------------------------------------

def test_compose_images_are_pinned():
    for service_name, service in COMPOSE["services"].items():
        assert pinned(service["image"]), service_name


def test_compose_has_the_whole_system():
    services = COMPOSE["services"]
    images = {s["image"].split(":")[0] for s in services.values()}
    assert {"apache/kafka", "postgres", "mariadb", "mysql", "redis"} <= images
    assert services["mysql"]["image"].split(":")[1].startswith("8.")
    kafka = services["kafka"]["environment"]
    assert "controller" in kafka["KAFKA_PROCESS_ROLES"], "KRaft"
    assert not any("zookeeper" in s["image"] for s in services.values())
    ward = {n: s for n, s in services.items() if s["image"].startswith("ward:")}
    commands = {s["command"][0] for s in ward.values()}
    assert commands == BINARIES
    assert {s["environment"].get("WARD_PROJECTOR__PROJECTIONS") for s in ward.values()} >= {
        "board", "hospital", "member"}


def test_compose_query_api_can_serve_the_pages():
    """The web service needs board, hospital and member beside it (the binary refuses to start
    otherwise), their databases, and the command API's author key for member."""
    services = COMPOSE["services"]
    web = [s for s in services.values()
           if "web" in s.get("environment", {}).get("WARD_QUERY_API__SERVICES", "").split(",")]
    assert len(web) == 1
    env = web[0]["environment"]
    assert set(env["WARD_QUERY_API__SERVICES"].split(",")) == {"board", "hospital", "member", "web"}
    assert {"WARD_BOARD_DB__URL", "WARD_HOSPITAL_DB__URL", "WARD_MEMBER_DB__URL"} <= set(env)
    author_key = services["command-api"]["environment"]["WARD_COMMAND_API__AUTHOR_KEY"]
    assert env["WARD_COMMAND_API__AUTHOR_KEY"] == author_key
    for service in services.values():
        if service.get("environment", {}).get("WARD_PROJECTOR__PROJECTIONS") == "member":
            assert service["environment"]["WARD_COMMAND_API__AUTHOR_KEY"] == author_key


def test_compose_member_queries_reach_the_member_index():
    """A query service serving `member` lists a member's own items from the member index in
    the event store (ADR 0014; compose has one role, production a read-only one); a query
    service without `member` gets no event store URL."""
    services = COMPOSE["services"]
    events = services["command-api"]["environment"]["WARD_EVENT_STORE__URL"]
    queries = [s["environment"] for s in services.values() if "WARD_QUERY_API__SERVICES" in s.get("environment", {})]
    assert queries
    for env in queries:
        if "member" in env["WARD_QUERY_API__SERVICES"].split(","):
            assert env["WARD_EVENT_STORE__URL"] == events
        else:
            assert "WARD_EVENT_STORE__URL" not in env


def test_compose_ward_services_only_use_known_settings():
    for service_name, service in COMPOSE["services"].items():
        if service["image"].startswith("ward:"):
            unknown = {k for k in service["environment"] if k.startswith("WARD_")} - WARD_ENV
            assert not unknown, f"{service_name}: {unknown}"


def test_compose_data_is_persistent():
    for service_name in ("kafka", "postgres", "mariadb", "mysql", "redis"):
        volumes = COMPOSE["services"][service_name]["volumes"]
        assert any(v.split(":")[0] in COMPOSE["volumes"] for v in volumes), service_name
