"""Kafka on Strimzi: topics generated from the one source of truth, KRaft, durability, ACLs."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from conftest import PROD_OVERLAYS, READ_MODELS, REPO, of_kind, render, topics

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


def test_the_plaintext_listener_is_fenced_to_ward_pods(docs):
    """Transitional: while the binaries cannot authenticate, only Ward's own pods may reach
    the unauthenticated listener (see infra/kafka/strimzi/plaintext-listener)."""
    (kafka,) = of_kind(docs, "Kafka")
    for listener in kafka["spec"]["kafka"]["listeners"]:
        peers = listener.get("networkPolicyPeers")
        assert peers == [{"podSelector": {"matchLabels": {"ward.io/kafka-client": "true"}}}], listener["name"]
