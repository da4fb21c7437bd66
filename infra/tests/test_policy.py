"""Policy over the rendered manifests: what every pod, Deployment and namespace must have."""

from __future__ import annotations

import re

import pytest

from conftest import (PROD_OVERLAYS, QUERY_DEPLOYMENTS, READ_MODELS, REPO, WARD_ENV, WEB_SERVICES,
                      WORKLOAD_KINDS, containers, is_ward, name, of_kind, pod_labels, pod_spec,
                      render, selector_matches, topics)

LONG_RUNNING = {"Deployment", "StatefulSet", "DaemonSet"}


def workloads(docs):
    return of_kind(docs, *WORKLOAD_KINDS)


def each_container(docs):
    for doc in workloads(docs):
        for container in containers(doc):
            yield doc, container


# --- containers ---------------------------------------------------------------------------

def test_every_long_running_container_has_probes(docs):
    missing = [f"{name(d)}/{c['name']}: {p}"
               for d, c in each_container(docs) if d["kind"] in LONG_RUNNING
               for p in ("startupProbe", "readinessProbe", "livenessProbe") if p not in c]
    assert not missing, "\n".join(missing)


def test_ward_probes_use_livez_and_readyz(docs):
    for doc in workloads(docs):
        if doc["kind"] != "Deployment" or not is_ward(doc):
            continue
        c = containers(doc)[0]
        ports = {p["name"] for p in c["ports"]}
        assert c["livenessProbe"]["httpGet"]["path"] == "/livez", name(doc)
        assert c["startupProbe"]["httpGet"]["path"] == "/livez", name(doc)
        assert c["readinessProbe"]["httpGet"]["path"] == "/readyz", name(doc)
        for probe in ("livenessProbe", "startupProbe", "readinessProbe"):
            assert c[probe]["httpGet"]["port"] in ports, f"{name(doc)} {probe}"


def test_every_container_has_requests_and_limits(docs):
    missing = [f"{name(d)}/{c['name']}: {kind}.{res}"
               for d, c in each_container(docs)
               for kind in ("requests", "limits") for res in ("cpu", "memory")
               if res not in c.get("resources", {}).get(kind, {})]
    assert not missing, "\n".join(missing)


def _measured_peak_rss_mib() -> dict[str, float]:
    """Peak RSS per component process as bench/README.md reports it (issue 8)."""
    readme = (REPO / "bench" / "README.md").read_text(encoding="utf-8")
    (row,) = [line for line in readme.splitlines() if "each component its own process" in line]
    found = {label: float(value) for label, value in
             re.findall(r"(command API|query API|projector) \**([\d.]+) MiB", row)}
    assert len(found) == 3, row
    return {"command-api": found["command API"], "query-api": found["query API"],
            "projector": found["projector"]}


def _mib(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


def test_ward_memory_is_sized_from_the_measured_peaks(docs):
    """Requests sit above the peak RSS bench/README.md measured for the component's process,
    with headroom; limits leave at least twice the request. The measured query process served
    all four services, so it bounds every query Deployment."""
    peaks = _measured_peak_rss_mib()
    assert max(peaks["command-api"], peaks["query-api"]) <= 64, "issue 8: <= 64 MiB per API"
    for doc in of_kind(docs, "Deployment"):
        component = pod_labels(doc).get("app.kubernetes.io/component")
        resources = containers(doc)[0]["resources"]
        request, limit = _mib(resources["requests"]["memory"]), _mib(resources["limits"]["memory"])
        assert request >= 1.1 * peaks[component], f"{name(doc)}: {request} MiB request"
        assert 2 * request <= limit <= 3 * request, f"{name(doc)}: {limit} MiB limit"


def test_query_memory_autoscaling_starts_above_the_measured_peak(docs):
    """The HPA's memory target is relative to the request: it must not be reached by load
    alone, or pods would be added that do not lower anyone's memory."""
    peak = _measured_peak_rss_mib()["query-api"]
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    for deployment_name in QUERY_DEPLOYMENTS:
        targets = {m["resource"]["name"]: m["resource"]["target"]
                   for m in hpas[deployment_name]["spec"]["metrics"]}
        request = _mib(containers(_deployment(docs, deployment_name))[0]["resources"]["requests"]["memory"])
        assert targets["memory"]["type"] == "Utilization"
        assert request * targets["memory"]["averageUtilization"] / 100 >= peak, deployment_name
    # The pages render HTML in the process that was measured; they get more than the JSON APIs.
    pages = _mib(containers(_deployment(docs, "query-api-web"))[0]["resources"]["requests"]["memory"])
    board = _mib(containers(_deployment(docs, "query-api-board"))[0]["resources"]["requests"]["memory"])
    assert pages > board


def _effective(doc, container, key):
    value = container.get("securityContext", {}).get(key)
    if value is None:
        value = pod_spec(doc).get("securityContext", {}).get(key)
    return value


def test_every_container_runs_as_non_root_with_a_read_only_root(docs):
    failures = []
    for doc, c in each_container(docs):
        where = f"{name(doc)}/{c['name']}"
        sc = c.get("securityContext", {})
        if _effective(doc, c, "runAsNonRoot") is not True:
            failures.append(f"{where}: runAsNonRoot")
        if _effective(doc, c, "runAsUser") == 0:
            failures.append(f"{where}: runAsUser 0")
        if sc.get("readOnlyRootFilesystem") is not True:
            failures.append(f"{where}: readOnlyRootFilesystem")
        if sc.get("allowPrivilegeEscalation") is not False:
            failures.append(f"{where}: allowPrivilegeEscalation")
        if sc.get("capabilities", {}).get("drop") != ["ALL"] or sc["capabilities"].get("add"):
            failures.append(f"{where}: capabilities must drop ALL and add none")
        if (_effective(doc, c, "seccompProfile") or {}).get("type") != "RuntimeDefault":
            failures.append(f"{where}: seccompProfile RuntimeDefault")
    assert not failures, "\n".join(failures)


def test_no_service_account_tokens_and_no_service_links(docs):
    for doc in workloads(docs):
        spec = pod_spec(doc)
        # None of these pods call the Kubernetes API.
        assert spec.get("automountServiceAccountToken") is False, name(doc)
        # Service links would inject WARD_*_SERVICE_HOST variables into Ward's config.
        assert spec.get("enableServiceLinks") is False, name(doc)


def test_no_privileged_host_access(docs):
    for doc in workloads(docs):
        spec = pod_spec(doc)
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            assert not spec.get(key), f"{name(doc)}: {key}"
        assert not any("hostPath" in v for v in spec.get("volumes", [])), name(doc)


# --- images -------------------------------------------------------------------------------

IMAGE_KEYS = {"image", "imageName"}


def _images(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in IMAGE_KEYS and isinstance(value, str):
                yield value
            else:
                yield from _images(value)
    elif isinstance(node, list):
        for item in node:
            yield from _images(item)


def pinned(image: str) -> bool:
    if "@sha256:" in image:
        return True
    last = image.rsplit("/", 1)[-1]
    return ":" in last and last.rsplit(":", 1)[1] not in ("", "latest")


def test_no_latest_or_untagged_images(docs):
    images = [(name(d), i) for d in docs for i in _images(d)]
    assert images
    bad = [f"{n}: {i}" for n, i in images if not pinned(i)]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_production_uses_the_release_image(overlay):
    for doc in workloads(render(overlay)):
        if is_ward(doc):
            image = containers(doc)[0]["image"]
            assert image.startswith("registry.example.com/ward/ward:"), f"{name(doc)}: {image}"


# --- Deployments --------------------------------------------------------------------------

def test_rolling_updates_never_reduce_capacity(docs):
    for doc in of_kind(docs, "Deployment"):
        strategy = doc["spec"].get("strategy", {})
        assert strategy.get("type") == "RollingUpdate", name(doc)
        assert strategy["rollingUpdate"]["maxUnavailable"] == 0, name(doc)


def test_every_deployment_and_statefulset_has_a_pdb(docs):
    pdbs = of_kind(docs, "PodDisruptionBudget")
    for doc in of_kind(docs, "Deployment", "StatefulSet"):
        ns = doc["metadata"].get("namespace")
        matching = [p for p in pdbs if p["metadata"].get("namespace") == ns
                    and selector_matches(p["spec"]["selector"], pod_labels(doc))]
        assert len(matching) == 1, f"{name(doc)}: {len(matching)} PodDisruptionBudgets"


def test_pdbs_select_something(docs):
    pods = [(d["metadata"].get("namespace"), pod_labels(d)) for d in workloads(docs)]
    for pdb in of_kind(docs, "PodDisruptionBudget"):
        ns = pdb["metadata"].get("namespace")
        assert any(n == ns and selector_matches(pdb["spec"]["selector"], labels)
                   for n, labels in pods), name(pdb)


def test_ward_pods_spread_over_nodes(docs):
    for doc in of_kind(docs, "Deployment"):
        constraints = pod_spec(doc).get("topologySpreadConstraints", [])
        hard = [c for c in constraints if c["topologyKey"] == "kubernetes.io/hostname"]
        assert hard and hard[0]["whenUnsatisfiable"] == "DoNotSchedule", name(doc)
        assert selector_matches(hard[0]["labelSelector"], pod_labels(doc)), name(doc)


def test_graceful_termination_outlasts_the_shutdown(docs):
    """The services need ~10 s after SIGTERM; the preStop delay comes before that."""
    for doc in of_kind(docs, "Deployment"):
        spec = pod_spec(doc)
        pre_stop = containers(doc)[0].get("lifecycle", {}).get("preStop", {})
        delay = pre_stop.get("sleep", {}).get("seconds", 0)
        assert spec.get("terminationGracePeriodSeconds", 30) >= delay + 10 + 5, name(doc)


def test_command_api_has_at_least_two_replicas(docs):
    (deployment,) = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == "command-api"]
    assert deployment["spec"]["replicas"] >= 2


def _deployment(docs, deployment_name):
    found = [d for d in of_kind(docs, "Deployment") if d["metadata"]["name"] == deployment_name]
    assert len(found) == 1, deployment_name
    return found[0]


def _env(doc):
    return {e["name"]: e for e in containers(doc)[0].get("env", [])}


@pytest.mark.parametrize("model", READ_MODELS)
def test_one_query_and_one_projector_deployment_per_read_model(docs, model):
    query = _env(_deployment(docs, f"query-api-{model}"))
    assert query["WARD_QUERY_API__SERVICES"]["value"] == model
    assert f"WARD_{model.upper()}_DB__URL" in query
    projector = _env(_deployment(docs, f"projector-{model}"))
    assert projector["WARD_PROJECTOR__PROJECTIONS"]["value"] == model
    assert f"WARD_{model.upper()}_DB__URL" in projector
    # Each reads only its own read model's database.
    others = {f"WARD_{m.upper()}_DB__URL" for m in READ_MODELS if m != model}
    assert not others & (query.keys() | projector.keys())
    # Projectors read the event store through their read-only role (the content keys only),
    # never the owner's credentials. Queries: see the next test.
    events = projector["WARD_EVENT_STORE__URL"]["valueFrom"]["secretKeyRef"]
    assert (events["name"], events["key"]) == ("ward-events-projector", "uri")


# The query Deployments that serve `member` list a signed-in member's own items from the
# member index (ADR 0014); the others never touch the event store.
MEMBER_INDEX_READERS = ("query-api-member", "query-api-web")


@pytest.mark.parametrize("deployment_name", QUERY_DEPLOYMENTS)
def test_only_the_member_queries_read_the_event_store_and_only_the_member_index(docs, deployment_name):
    """query-api-member and query-api-web reach the event store only through
    `ward-events-member-index` (a role that may SELECT member_index and nothing else), never
    the owner's or the projectors' credentials; query-api-board and -hospital get no URL."""
    query = _env(_deployment(docs, deployment_name))
    serves_member = "member" in query["WARD_QUERY_API__SERVICES"]["value"].split(",")
    assert serves_member == (deployment_name in MEMBER_INDEX_READERS)
    if deployment_name in MEMBER_INDEX_READERS:
        events = query["WARD_EVENT_STORE__URL"]
        assert "value" not in events, "the URL holds a password: from the Secret only"
        assert events["valueFrom"] == {"secretKeyRef": {"name": "ward-events-member-index", "key": "uri"}}
    else:
        assert "WARD_EVENT_STORE__URL" not in query


def test_the_member_index_role_is_managed_by_the_event_store_cluster(docs):
    (events,) = [c for c in of_kind(docs, "Cluster") if c["metadata"]["name"] == "ward-events"]
    roles = {r["name"]: r for r in events["spec"]["managed"]["roles"]}
    reader = roles["ward_member_index_reader"]
    assert reader["login"] is True and reader["ensure"] == "present"
    assert reader["passwordSecret"] == {"name": "ward-events-member-index"}
    assert not reader.get("superuser") and not reader.get("inRoles"), "SELECT on member_index only"


def test_the_event_store_roles_are_granted_only_their_tables():
    """The migrations grant each read-only role of ward-events SELECT on its tables, nothing
    more (infra/k8s/base/data/postgres.yaml creates the roles)."""
    grants: dict[str, set[str]] = {}
    for migration in sorted((REPO / "command-api" / "migrations").glob("*.sql")):
        sql = re.sub(r"--[^\n]*", "", migration.read_text(encoding="utf-8"))
        for privileges, tables, role in re.findall(r"GRANT\s+(.+?)\s+ON\s+(.+?)\s+TO\s+(\w+)", sql, re.S | re.I):
            assert privileges.strip().upper() == "SELECT", f"{migration.name}: {privileges}"
            grants.setdefault(role, set()).update(t.strip() for t in tables.split(","))
    assert grants["ward_member_index_reader"] == {"member_index"}
    assert "member_index" not in grants["ward_projector"]


def test_the_pages_deployment_serves_every_read_model(docs):
    """query-api-web renders pages from board, hospital and member in-process (ADR 0010):
    the binary refuses `web` without the other three, and member needs the author key."""
    web = _env(_deployment(docs, "query-api-web"))
    assert web["WARD_QUERY_API__SERVICES"]["value"] == WEB_SERVICES
    for model in READ_MODELS:
        # The same Secrets as the read model's own query Deployment.
        own = _env(_deployment(docs, f"query-api-{model}"))
        variable = f"WARD_{model.upper()}_DB__URL"
        assert web[variable]["valueFrom"] == own[variable]["valueFrom"], variable
    member = _env(_deployment(docs, "query-api-member"))
    key = "WARD_COMMAND_API__AUTHOR_KEY"
    assert web[key]["valueFrom"] == member[key]["valueFrom"]
    # The member index too, with the same read-only role.
    variable = "WARD_EVENT_STORE__URL"
    assert web[variable]["valueFrom"] == member[variable]["valueFrom"]
    labels = pod_labels(_deployment(docs, "query-api-web"))
    assert labels["app.kubernetes.io/component"] == "query-api"
    assert labels["ward.io/read-model"] == "web"


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_query_autoscaling_matches_the_original(overlay):
    docs = render(overlay)
    hpas = {h["spec"]["scaleTargetRef"]["name"]: h for h in of_kind(docs, "HorizontalPodAutoscaler")}
    for deployment_name in QUERY_DEPLOYMENTS:
        hpa = hpas[deployment_name]
        assert (hpa["spec"]["minReplicas"], hpa["spec"]["maxReplicas"]) == (3, 10)
        targets = {m["resource"]["name"]: m["resource"]["target"] for m in hpa["spec"]["metrics"]}
        assert targets["cpu"] == {"type": "Utilization", "averageUtilization": 50}
        assert "memory" in targets


def test_autoscaled_deployments_do_not_pin_replicas(docs):
    """An applied `replicas` would fight the HPA / KEDA on every apply."""
    scaled = {h["spec"]["scaleTargetRef"]["name"] for h in of_kind(docs, "HorizontalPodAutoscaler")}
    scaled |= {s["spec"]["scaleTargetRef"]["name"] for s in of_kind(docs, "ScaledObject")}
    for doc in of_kind(docs, "Deployment"):
        if doc["metadata"]["name"] in scaled:
            assert "replicas" not in doc["spec"], name(doc)


def test_scale_targets_exist(docs):
    deployments = {d["metadata"]["name"] for d in of_kind(docs, "Deployment")}
    for doc in of_kind(docs, "HorizontalPodAutoscaler", "ScaledObject"):
        assert doc["spec"]["scaleTargetRef"]["name"] in deployments, name(doc)


def test_projectors_never_outnumber_partitions(docs):
    """Extra members of a consumer group get no partition: they would only sit idle."""
    fewest = min(t["partitions"] for t in topics())
    scaled_objects = of_kind(docs, "ScaledObject")
    assert {s["spec"]["scaleTargetRef"]["name"] for s in scaled_objects} == {
        f"projector-{m}" for m in READ_MODELS}
    for so in scaled_objects:
        assert 1 <= so["spec"]["minReplicaCount"] <= so["spec"]["maxReplicaCount"] <= fewest, name(so)
        if "fallback" in so["spec"]:
            assert so["spec"]["fallback"]["replicas"] <= so["spec"]["maxReplicaCount"], name(so)


def test_projector_scaling_follows_its_own_consumer_group(docs):
    for so in of_kind(docs, "ScaledObject"):
        model = so["spec"]["scaleTargetRef"]["name"].removeprefix("projector-")
        (trigger,) = so["spec"]["triggers"]
        assert trigger["type"] == "prometheus"
        assert "ward_projector_lag" in trigger["metadata"]["query"]
        assert f'group="ward-{model}"' in trigger["metadata"]["query"], name(so)


# --- configuration and secrets ------------------------------------------------------------

def test_ward_containers_only_use_known_settings(docs):
    for doc in workloads(docs):
        if not is_ward(doc):
            continue
        names = set(_env(doc))
        for source in containers(doc)[0].get("envFrom", []):
            ref = source["configMapRef"]["name"]
            (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == ref]
            names |= set(config["data"])
        unknown = {n for n in names if n.startswith("WARD_")} - WARD_ENV
        assert not unknown, f"{name(doc)}: {sorted(unknown)}"
        assert "WARD_KAFKA__BOOTSTRAP_SERVERS" in names and "WARD_LOG_FORMAT" in names


def test_listen_addresses_match_the_container_ports(docs):
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("ward-config")]
    listen = {
        "command-api": config["data"]["WARD_COMMAND_API__LISTEN"],
        "query-api": config["data"]["WARD_QUERY_API__LISTEN"],
        "projector": config["data"]["WARD_PROJECTOR__LISTEN"],
    }
    for doc in of_kind(docs, "Deployment"):
        component = pod_labels(doc)["app.kubernetes.io/component"]
        host, port = listen[component].rsplit(":", 1)
        assert host == "0.0.0.0", "listen on all interfaces or the kubelet cannot probe"
        assert containers(doc)[0]["ports"][0]["containerPort"] == int(port), name(doc)


def _operator_secrets(docs) -> dict[str, set[str]]:
    """Secrets that operators create from the rendered custom resources."""
    made: dict[str, set[str]] = {}
    for cluster in of_kind(docs, "Cluster"):
        made[f"{cluster['metadata']['name']}-app"] = {"username", "password", "uri", "host",
                                                      "port", "dbname", "jdbc-uri", "pgpass"}
    for connection in of_kind(docs, "Connection"):
        made[connection["spec"]["secretName"]] = {connection["spec"]["secretTemplate"]["key"]}
    for user in of_kind(docs, "KafkaUser"):
        made[user["metadata"]["name"]] = {"password", "sasl.jaas.config"}
    for kafka in of_kind(docs, "Kafka"):
        made[f"{kafka['metadata']['name']}-cluster-ca-cert"] = {"ca.crt", "ca.p12", "ca.password"}
    return made


def _secret_refs(node):
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("secretKeyRef", "passwordSecretKeyRef", "rootPasswordSecretKeyRef",
                       "accessKeyId", "secretAccessKey") and isinstance(value, dict) and "key" in value:
                # An optional key (set only during a pepper rotation) may be absent.
                if not value.get("optional", False):
                    yield value["name"], value["key"]
            else:
                yield from _secret_refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from _secret_refs(item)


def test_example_secrets_are_dev_only_and_marked(docs, overlay):
    secrets = of_kind(docs, "Secret")
    if overlay.startswith("prod"):
        assert not secrets, "production overlays must not carry Secrets"
    for secret in secrets:
        assert secret["metadata"]["labels"].get("ward.io/example") == "true", name(secret)
        for key, value in secret.get("stringData", {}).items():
            if key == "username":  # a role's name, not a secret
                continue
            assert "example" in value.lower(), f"{name(secret)}.{key} does not look like a placeholder"
        assert "data" not in secret, f"{name(secret)}: use readable stringData placeholders"


def test_every_secret_reference_resolves_or_is_documented(docs, overlay):
    rendered = {s["metadata"]["name"]: set(s.get("stringData", {})) | set(s.get("data", {}))
                for s in of_kind(docs, "Secret")}
    made = _operator_secrets(docs)
    operations = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    for doc in docs:
        for secret, key in _secret_refs(doc):
            if secret in rendered:
                assert key in rendered[secret], f"{name(doc)}: {secret}.{key}"
            elif secret in made:
                assert key in made[secret], f"{name(doc)}: {secret}.{key}"
            else:
                # Created out of band in production: docs/operations.md must say how.
                assert f"`{secret}`" in operations, f"{name(doc)}: Secret {secret} is undocumented"


def test_config_map_references_resolve(docs):
    config_maps = {c["metadata"]["name"] for c in of_kind(docs, "ConfigMap")}
    for doc in workloads(docs):
        for c in containers(doc):
            for source in c.get("envFrom", []):
                assert source["configMapRef"]["name"] in config_maps, name(doc)
        for volume in pod_spec(doc).get("volumes", []):
            if "configMap" in volume:
                assert volume["configMap"]["name"] in config_maps, name(doc)


def test_services_select_pods_and_name_existing_ports(docs):
    pods = [(d["metadata"].get("namespace"), pod_labels(d), containers(d)) for d in workloads(docs)]
    for svc in of_kind(docs, "Service"):
        ns = svc["metadata"].get("namespace")
        selected = [cs for n, labels, cs in pods if n == ns
                    and selector_matches({"matchLabels": svc["spec"]["selector"]}, labels)]
        assert selected, f"{name(svc)} selects no pods"
        port_names = {p.get("name") for cs in selected for c in cs for p in c.get("ports", [])}
        for port in svc["spec"]["ports"]:
            assert port["targetPort"] in port_names, f"{name(svc)}: {port['targetPort']}"


def test_kafka_bootstrap_points_at_the_tls_scram_listener(docs):
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("ward-config")]
    (kafka,) = of_kind(docs, "Kafka")
    host, port = config["data"]["WARD_KAFKA__BOOTSTRAP_SERVERS"].split(":")
    assert host == f"{kafka['metadata']['name']}-kafka-bootstrap"
    listener = [lst for lst in kafka["spec"]["kafka"]["listeners"] if lst["port"] == int(port)]
    assert listener, f"no Kafka listener on {port}"
    assert listener[0]["tls"] is True
    assert listener[0]["authentication"]["type"] == "scram-sha-512"
    assert config["data"]["WARD_KAFKA__TLS"] == "true"


def test_migrations_run_as_a_job_with_every_database(docs):
    (job,) = [j for j in of_kind(docs, "Job") if j["metadata"]["name"] == "ward-migrate"]
    c = containers(job)[0]
    assert c["command"][-1] == "migrate"
    assert {"WARD_EVENT_STORE__URL", "WARD_BOARD_DB__URL", "WARD_HOSPITAL_DB__URL",
            "WARD_MEMBER_DB__URL"} <= set(_env(job))


def test_databases_have_persistent_volumes(docs):
    for sts in of_kind(docs, "StatefulSet"):
        assert sts["spec"].get("volumeClaimTemplates"), name(sts)
    for cluster in of_kind(docs, "Cluster"):
        assert cluster["spec"]["storage"]["size"], name(cluster)
    for mariadb in of_kind(docs, "MariaDB"):
        assert mariadb["spec"]["storage"]["size"], name(mariadb)
    for pool in of_kind(docs, "KafkaNodePool"):
        volumes = pool["spec"]["storage"]["volumes"]
        assert all(v["type"] == "persistent-claim" and v.get("deleteClaim") is False for v in volumes)


def test_redis_persists_sessions(docs):
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == "ward-redis"]
    conf = config["data"]["redis.conf"]
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_the_event_store_is_backed_up_in_production(overlay):
    docs = render(overlay)
    (events,) = [c for c in of_kind(docs, "Cluster") if c["metadata"]["name"] == "ward-events"]
    assert events["spec"]["instances"] >= 3
    plugins = events["spec"].get("plugins", [])
    assert any(p.get("isWALArchiver") for p in plugins), "WAL archiving is off"
    assert [b for b in of_kind(docs, "ScheduledBackup") if b["spec"]["cluster"]["name"] == "ward-events"]
