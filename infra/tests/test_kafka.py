"""Kafka on Strimzi: topics generated from the one source of truth, KRaft, durability, ACLs,
and every client authenticating with SCRAM over TLS as its own KafkaUser."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import PurePosixPath

import pytest

from conftest import (PROD_OVERLAYS, QUERY_DEPLOYMENTS, READ_MODELS, REPO, containers, is_ward, name, of_kind,
                      pod_labels, pod_spec, render, topics)

STRIMZI = REPO / "infra" / "kafka" / "strimzi"


def _generator():
    spec = importlib.util.spec_from_file_location("generate", STRIMZI / "generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_topics_equal_a_fresh_generation():
    generator = _generator()
    import tomllib
    with generator.SOURCE.open("rb") as f:
        fresh = generator.render(tomllib.load(f))
    committed = (STRIMZI / "topics.generated.yaml").read_text(encoding="utf-8")
    assert committed == fresh, "run: python3 infra/kafka/strimzi/generate.py"


def test_the_generator_check_mode_agrees():
    result = subprocess.run([sys.executable, str(STRIMZI / "generate.py"), "--check"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_generator_refuses_bad_definitions():
    generator = _generator()
    topic = {"name": "ward.x.events", "aggregate_type": "x", "partitions": 3, "config": {}}
    with pytest.raises(ValueError, match="twice"):
        generator.render({"topics": [topic, topic]})
    with pytest.raises(ValueError, match="min.insync.replicas"):
        generator.render({"topics": [{**topic, "config": {"min.insync.replicas": "1"}}]})
    with pytest.raises(ValueError, match="partitions"):
        generator.render({"topics": [{**topic, "partitions": 0}]})


@pytest.mark.parametrize("overlay", PROD_OVERLAYS)
def test_production_topics_follow_topics_toml(overlay):
    rendered = {t["spec"]["topicName"]: t for t in of_kind(render(overlay), "KafkaTopic")}
    declared = {t["name"]: t for t in topics()}
    assert rendered.keys() == declared.keys()
    for topic_name, topic in declared.items():
        spec = rendered[topic_name]["spec"]
        assert spec["partitions"] == topic["partitions"]
        assert spec["replicas"] == 3
        assert spec["config"]["min.insync.replicas"] == "2"
        for key, value in topic.get("config", {}).items():
            assert spec["config"][key] == str(value)
        assert spec["config"]["retention.ms"] == "-1", "events are kept forever"
        assert rendered[topic_name]["metadata"]["labels"]["strimzi.io/cluster"] == "ward"


def test_kafka_is_kraft_with_dedicated_controllers(docs, overlay):
    (kafka,) = of_kind(docs, "Kafka")
    assert "zookeeper" not in kafka["spec"]
    pools = {p["metadata"]["name"]: p["spec"] for p in of_kind(docs, "KafkaNodePool")}
    assert pools["controller"]["roles"] == ["controller"]
    assert pools["broker"]["roles"] == ["broker"]
    if overlay.startswith("prod"):
        assert pools["controller"]["replicas"] == 3
        assert pools["broker"]["replicas"] == 3


def test_kafka_favours_durability(docs, overlay):
    (kafka,) = of_kind(docs, "Kafka")
    config = kafka["spec"]["kafka"]["config"]
    assert config["auto.create.topics.enable"] is False
    assert config["unclean.leader.election.enable"] is False
    if overlay.startswith("prod"):
        assert config["min.insync.replicas"] == 2
        assert config["default.replication.factor"] == 3
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"


def _acls(docs):
    return {u["metadata"]["name"]: u["spec"]["authorization"]["acls"] for u in of_kind(docs, "KafkaUser")}


def _can(acls, operation, resource_type, resource_name):
    for acl in acls:
        r = acl["resource"]
        if r["type"] != resource_type or operation not in acl["operations"]:
            continue
        if r.get("patternType", "literal") == "literal" and r["name"] == resource_name:
            return True
        if r.get("patternType") == "prefix" and resource_name.startswith(r["name"]):
            return True
    return False


def test_only_the_relay_writes(docs):
    acls = _acls(docs)
    for topic in topics():
        writers = {user for user, a in acls.items() if _can(a, "Write", "topic", topic["name"])}
        assert writers == {"ward-relay"}, topic["name"]
    for user, a in acls.items():
        assert not any("All" in acl["operations"] or acl["resource"]["type"] == "cluster" for acl in a), user


@pytest.mark.parametrize("model", READ_MODELS)
def test_each_projector_reads_in_its_own_group_only(docs, model):
    acls = _acls(docs)[f"ward-projector-{model}"]
    assert all(_can(acls, "Read", "topic", t["name"]) for t in topics())
    assert _can(acls, "Read", "group", f"ward-{model}")
    for other in READ_MODELS:
        if other != model:
            assert not _can(acls, "Read", "group", f"ward-{other}")


def test_the_replay_tool_reads_with_throwaway_groups(docs):
    acls = _acls(docs)["ward-replay"]
    assert all(_can(acls, "Read", "topic", t["name"]) for t in topics())
    assert _can(acls, "Read", "group", "ward-replay-2026-analysis")
    assert not any(_can(acls, "Read", "group", f"ward-{m}") for m in READ_MODELS)


def test_the_rebuild_reads_only_in_its_throwaway_groups(docs):
    """`ward projector rebuild` consumes as rebuild-<random>-ward-<projection>
    (projector/src/rebuild.rs) and must not join a live projector's group."""
    acls = _acls(docs)["ward-rebuild"]
    assert all(_can(acls, "Read", "topic", t["name"]) for t in topics())
    for model in READ_MODELS:
        assert _can(acls, "Read", "group", f"rebuild-0123456789abcdef0123456789abcdef-ward-{model}")
        assert not _can(acls, "Read", "group", f"ward-{model}")
    assert not any(_can(acls, "Write", "topic", t["name"]) for t in topics())


def test_the_query_side_reads_no_records(docs):
    acls = _acls(docs)["ward-query"]
    assert not any(_can(acls, op, "topic", t["name"]) for t in topics() for op in ("Read", "Write"))
    assert not any(acl["resource"]["type"] == "group" for acl in acls)


def test_readers_may_ask_for_metadata_and_watermarks(docs):
    """Describe on a topic: metadata, ListOffsets (watermarks, lag) and OffsetFetch."""
    for user, acls in _acls(docs).items():
        assert all(_can(acls, "Describe", "topic", t["name"]) for t in topics()), user


# --- authentication: every listener, every Ward Deployment ---------------------------------

def test_every_listener_authenticates_over_tls(docs):
    (kafka,) = of_kind(docs, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener["tls"] is True, listener["name"]
        assert listener.get("authentication", {}).get("type") in ("scram-sha-512", "tls"), listener["name"]
        # Defence in depth: only Ward's labelled pods get to try.
        peers = listener.get("networkPolicyPeers")
        assert peers == [{"podSelector": {"matchLabels": {"ward.io/kafka-client": "true"}}}], listener["name"]


def test_nobody_is_a_super_user(docs):
    (kafka,) = of_kind(docs, "Kafka")
    authorization = kafka["spec"]["kafka"]["authorization"]
    assert authorization["type"] == "simple"
    assert "ANONYMOUS" not in authorization.get("superUsers", [])
    assert not authorization.get("superUsers"), "Ward needs no super user: every client has a KafkaUser"


def _config(docs):
    (config,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"].startswith("ward-config")]
    return config["data"]


def _ward_deployments(docs):
    return [d for d in of_kind(docs, "Deployment") if is_ward(d)]


def _env(doc):
    return {e["name"]: e for e in containers(doc)[0].get("env", [])}


def _own_user(doc) -> str:
    labels = pod_labels(doc)
    component = labels["app.kubernetes.io/component"]
    if component == "projector":
        return f"ward-projector-{labels['ward.io/read-model']}"
    return {"command-api": "ward-relay", "query-api": "ward-query"}[component]


def test_the_shared_config_holds_no_kafka_credentials(docs):
    """Credentials are per Deployment. A SASL key in the shared ConfigMap would also reach the
    ward-migrate Job, where a SASL block without user and password fails config loading."""
    assert not [k for k in _config(docs) if k.startswith("WARD_KAFKA__SASL__")]


def test_every_ward_deployment_authenticates_as_its_own_kafka_user(docs):
    users = {u["metadata"]["name"] for u in of_kind(docs, "KafkaUser")}
    deployments = _ward_deployments(docs)
    assert {d["metadata"]["name"] for d in deployments} == {
        "command-api", *QUERY_DEPLOYMENTS, *(f"projector-{m}" for m in READ_MODELS)}
    for doc in deployments:
        env = _env(doc)
        username = env["WARD_KAFKA__SASL__USERNAME"]["value"]
        assert username in users, f"{name(doc)}: no KafkaUser {username}"
        assert username == _own_user(doc), name(doc)
        password = env["WARD_KAFKA__SASL__PASSWORD"]["valueFrom"]["secretKeyRef"]
        assert (password["name"], password["key"]) == (username, "password"), name(doc)
        # The KafkaUsers are SCRAM-SHA-512, the binaries' default mechanism.
        assert env.get("WARD_KAFKA__SASL__MECHANISM", {}).get("value", "SCRAM-SHA-512") == "SCRAM-SHA-512"


def test_every_ward_deployment_trusts_the_cluster_ca(docs):
    config = _config(docs)
    (kafka,) = of_kind(docs, "Kafka")
    assert config["WARD_KAFKA__TLS"] == "true"
    ca_file = PurePosixPath(config["WARD_KAFKA__TLS_CA_LOCATION"])
    for doc in _ward_deployments(docs):
        mounts = [m for m in containers(doc)[0].get("volumeMounts", [])
                  if PurePosixPath(m["mountPath"]) == ca_file.parent]
        assert len(mounts) == 1, f"{name(doc)}: nothing mounted at {ca_file.parent}"
        assert mounts[0].get("readOnly") is True and "subPath" not in mounts[0], name(doc)
        (volume,) = [v for v in pod_spec(doc)["volumes"] if v["name"] == mounts[0]["name"]]
        secret = volume["secret"]
        assert secret["secretName"] == f"{kafka['metadata']['name']}-cluster-ca-cert", name(doc)
        assert {"key": "ca.crt", "path": ca_file.name} in secret["items"], name(doc)


def test_bootstrap_is_the_tls_listener_port(docs):
    (kafka,) = of_kind(docs, "Kafka")
    tls_ports = {lst["port"] for lst in kafka["spec"]["kafka"]["listeners"]
                 if lst["tls"] and lst.get("authentication")}
    for address in _config(docs)["WARD_KAFKA__BOOTSTRAP_SERVERS"].split(","):
        host, port = address.rsplit(":", 1)
        assert host == f"{kafka['metadata']['name']}-kafka-bootstrap"
        assert int(port) in tls_ports, address


def test_each_projector_deployment_reads_only_its_own_group(docs):
    """The group is format!("{group_prefix}ward-{projection}") with an empty prefix in
    production (projector/src/consumer.rs)."""
    acls = _acls(docs)
    for doc in _ward_deployments(docs):
        if pod_labels(doc)["app.kubernetes.io/component"] != "projector":
            continue
        env = _env(doc)
        assert "WARD_PROJECTOR__GROUP_PREFIX" not in env, name(doc)
        user = acls[env["WARD_KAFKA__SASL__USERNAME"]["value"]]
        own = {f"ward-{p}" for p in env["WARD_PROJECTOR__PROJECTIONS"]["value"].split(",")}
        for model in READ_MODELS:
            group = f"ward-{model}"
            assert _can(user, "Read", "group", group) == (group in own), f"{name(doc)}: {group}"
        assert not _can(user, "Read", "group", "ward-replay-x"), name(doc)
        assert not _can(user, "Read", "group", "rebuild-x-ward-board"), name(doc)
