"""NetworkPolicy semantics, evaluated: who can actually reach whom in the rendered overlays.

A small model of the pods (Ward's workloads from their templates, plus the pods the
operators create, with the labels those operators set) is checked against every
NetworkPolicy, the way a CNI enforces them: a connection needs an egress allowance at the
source and an ingress allowance at the destination whenever policies select those pods.
Strimzi generates the ingress policies of the Kafka pods itself from each listener's
networkPolicyPeers; the model does the same.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from conftest import READ_MODELS, WORKLOAD_KINDS, containers, of_kind, pod_labels, selector_matches


@dataclass
class Pod:
    name: str
    namespace: str
    labels: dict
    ports: dict = field(default_factory=dict)  # name -> (number, protocol)


def _namespace_labels(docs):
    labels = {}
    for ns in of_kind(docs, "Namespace"):
        n = ns["metadata"]["name"]
        labels[n] = {**ns["metadata"].get("labels", {}), "kubernetes.io/metadata.name": n}
    return labels


def _pods(docs):
    pods = []
    for doc in of_kind(docs, *WORKLOAD_KINDS):
        ports = {p.get("name", str(p["containerPort"])): (p["containerPort"], p.get("protocol", "TCP"))
                 for c in containers(doc) for p in c.get("ports", [])}
        pods.append(Pod(doc["metadata"]["name"], doc["metadata"]["namespace"], pod_labels(doc), ports))
    for cluster in of_kind(docs, "Cluster"):
        pods.append(Pod(cluster["metadata"]["name"], cluster["metadata"]["namespace"],
                        {"cnpg.io/cluster": cluster["metadata"]["name"], "cnpg.io/podRole": "instance"},
                        {"postgresql": (5432, "TCP"), "metrics": (9187, "TCP"), "status": (8000, "TCP")}))
    for mariadb in of_kind(docs, "MariaDB"):
        pods.append(Pod(mariadb["metadata"]["name"], mariadb["metadata"]["namespace"],
                        {"app.kubernetes.io/name": "mariadb",
                         "app.kubernetes.io/instance": mariadb["metadata"]["name"]},
                        {"mariadb": (3306, "TCP")}))
    for pool in of_kind(docs, "KafkaNodePool"):
        cluster = pool["metadata"]["labels"]["strimzi.io/cluster"]
        labels = {"strimzi.io/cluster": cluster, "strimzi.io/kind": "Kafka",
                  "strimzi.io/pool-name": pool["metadata"]["name"]}
        for role in pool["spec"]["roles"]:
            labels[f"strimzi.io/{role}-role"] = "true"
        pods.append(Pod(f"{cluster}-{pool['metadata']['name']}", pool["metadata"]["namespace"], labels,
                        {"tcp-clients": (9092, "TCP"), "tcp-clientstls": (9093, "TCP"),
                         "tcp-replication": (9091, "TCP"), "tcp-ctrlplane": (9090, "TCP")}))
    return pods


def _synthetic_kafka_policies(docs):
    """The ingress policy Strimzi generates for the brokers' client listeners."""
    policies = []
    for kafka in of_kind(docs, "Kafka"):
        rules = [{"from": lst.get("networkPolicyPeers", []), "ports": [{"port": lst["port"], "protocol": "TCP"}]}
                 for lst in kafka["spec"]["kafka"]["listeners"]]
        policies.append({"metadata": {"name": "strimzi-generated", "namespace": kafka["metadata"]["namespace"]},
                         "spec": {"podSelector": {"matchLabels": {"strimzi.io/cluster": kafka["metadata"]["name"],
                                                                  "strimzi.io/kind": "Kafka"}},
                                  "policyTypes": ["Ingress"], "ingress": rules}})
    return policies


class Network:
    def __init__(self, docs):
        self.namespaces = _namespace_labels(docs)
        self.pods = _pods(docs)
        self.policies = of_kind(docs, "NetworkPolicy") + _synthetic_kafka_policies(docs)

    def ns_labels(self, namespace):
        return self.namespaces.get(namespace, {"kubernetes.io/metadata.name": namespace})

    def _selecting(self, pod, direction):
        return [p for p in self.policies
                if p["metadata"]["namespace"] == pod.namespace
                and direction in p["spec"].get("policyTypes", ["Ingress"])
                and selector_matches(p["spec"]["podSelector"], pod.labels)]

    def _peer_matches(self, peer, policy_ns, other):
        if "ipBlock" in peer:
            return False  # Ward's policies use no ipBlocks for pods
        ns_sel, pod_sel = peer.get("namespaceSelector"), peer.get("podSelector")
        if ns_sel is None and other.namespace != policy_ns:
            return False
        if ns_sel is not None and not selector_matches(ns_sel, self.ns_labels(other.namespace)):
            return False
        return pod_sel is None or selector_matches(pod_sel, other.labels)

    @staticmethod
    def _port_matches(rule_ports, port, protocol, dest):
        if not rule_ports:
            return True
        for rp in rule_ports:
            if rp.get("protocol", "TCP") != protocol:
                continue
            want = rp.get("port")
            if want is None:
                return True
            if isinstance(want, str):
                want = dest.ports.get(want, (None,))[0]
            if want == port or (rp.get("endPort") and want <= port <= rp["endPort"]):
                return True
        return False

    def _allowed(self, pod, other, direction, port, protocol, dest):
        policies = self._selecting(pod, direction)
        if not policies:
            return True  # not isolated (only pods outside Ward's namespaces)
        key, peers_key = ("egress", "to") if direction == "Egress" else ("ingress", "from")
        for policy in policies:
            for rule in policy["spec"].get(key, []):
                peers = rule.get(peers_key)
                if peers and not any(self._peer_matches(p, policy["metadata"]["namespace"], other) for p in peers):
                    continue
                if self._port_matches(rule.get("ports"), port, protocol, dest):
                    return True
        return False

    def can_reach(self, src, dst, port, protocol="TCP"):
        if isinstance(port, str):
            port = dst.ports[port][0]
        return (self._allowed(src, dst, "Egress", port, protocol, dst)
                and self._allowed(dst, src, "Ingress", port, protocol, dst))

    def pod(self, name):
        (pod,) = [p for p in self.pods if p.name == name]
        return pod


TARGETS = {  # pod name -> the port clients use
    "ward-events": 5432, "ward-board": 5432, "ward-hospital-db": 3306, "ward-member-db": 3306,
    "ward-redis": 6379, "ward-broker": 9093,   # the TLS + SCRAM listener
}
EXPECTED = {
    "command-api": {"ward-events", "ward-redis", "ward-broker"},
    **{f"query-api-{m}": {TARGET, "ward-redis", "ward-broker"} for m, TARGET in
       zip(READ_MODELS, ("ward-board", "ward-hospital-db", "ward-member-db"))},
    # member lists a signed-in member's own items from the member index, in the event store
    # (read-only role, ADR 0014); board and hospital never reach the event store.
    "query-api-member": {"ward-member-db", "ward-events", "ward-redis", "ward-broker"},
    # The pages render all three read models (member's own items included) in one process.
    "query-api-web": {"ward-board", "ward-hospital-db", "ward-member-db", "ward-events", "ward-redis",
                      "ward-broker"},
    **{f"projector-{m}": {TARGET, "ward-redis", "ward-broker", "ward-events"} for m, TARGET in
       zip(READ_MODELS, ("ward-board", "ward-hospital-db", "ward-member-db"))},
    "ward-migrate": {"ward-events", "ward-board", "ward-hospital-db", "ward-member-db"},
}


@pytest.fixture
def net(docs):
    return Network(docs)


def test_every_namespace_has_a_default_deny_policy(docs):
    for ns in of_kind(docs, "Namespace"):
        n = ns["metadata"]["name"]
        deny = [p for p in of_kind(docs, "NetworkPolicy")
                if p["metadata"]["namespace"] == n and p["spec"]["podSelector"] == {}
                and set(p["spec"].get("policyTypes", [])) == {"Ingress", "Egress"}
                and not p["spec"].get("ingress") and not p["spec"].get("egress")]
        assert deny, f"namespace {n} has no default-deny NetworkPolicy"


def test_every_object_lives_in_a_namespace_we_create_or_a_known_one(docs):
    ours = {ns["metadata"]["name"] for ns in of_kind(docs, "Namespace")}
    external = {"metallb-system"}  # MetalLB's pools must live in its own namespace
    for doc in docs:
        ns = doc["metadata"].get("namespace")
        if doc["kind"] != "Namespace":
            assert ns in ours | external, f"{doc['kind']}/{doc['metadata']['name']} in {ns!r}"


@pytest.mark.parametrize("component", sorted(EXPECTED))
def test_each_component_reaches_exactly_what_it_needs(net, component):
    src = net.pod(component)
    reached = {t for t, port in TARGETS.items() if net.can_reach(src, net.pod(t), port)}
    assert reached == EXPECTED[component]


def test_kafka_is_reached_only_on_the_tls_listener(net):
    """9092 (plaintext) is neither a listener nor allowed by any egress policy."""
    broker = net.pod("ward-broker")
    for pod in net.pods:
        assert not net.can_reach(pod, broker, 9092), pod.name


def test_a_labelled_kafka_tool_reaches_the_brokers_and_nothing_else(net):
    """An analyst's kcat pod or a `ward replay` Job: ward.io/kafka-client=true opens the TLS
    listener to it (the broker still wants its KafkaUser's password), no data store."""
    tool = Pod("kcat", "ward", {"ward.io/kafka-client": "true"})
    reached = {t for t, port in TARGETS.items() if net.can_reach(tool, net.pod(t), port)}
    assert reached == {"ward-broker"}


def test_every_pod_can_resolve_names(net):
    dns = Pod("coredns", "kube-system", {"k8s-app": "kube-dns"}, {"dns": (53, "UDP")})
    for pod in net.pods:
        assert net.can_reach(pod, dns, 53, "UDP"), pod.name


def test_from_outside_only_the_apis_are_reachable(net):
    gateway = Pod("proxy", "istio-ingress", {"istio": "ingressgateway"})
    net.namespaces["istio-ingress"] = {"kubernetes.io/metadata.name": "istio-ingress", "ward.io/gateway": "true"}
    stranger = Pod("x", "default", {})
    for pod in net.pods:
        if pod.namespace not in net.namespaces or pod.namespace == "ward-gateway":
            continue
        api = pod.labels.get("app.kubernetes.io/component") in ("command-api", "query-api")
        for port, _ in pod.ports.values():
            assert net.can_reach(gateway, pod, port) == (api and port in (8080, 8081)), f"{pod.name}:{port}"
            assert not net.can_reach(stranger, pod, port), f"{pod.name}:{port}"


def test_prometheus_scrapes_every_ward_process_and_nothing_else(net):
    prometheus = Pod("prometheus", "monitoring", {"app.kubernetes.io/name": "prometheus"})
    net.namespaces["monitoring"] = {"kubernetes.io/metadata.name": "monitoring", "ward.io/monitoring": "true"}
    for pod in net.pods:
        if pod.namespace != "ward":
            continue
        ward = pod.labels.get("app.kubernetes.io/part-of") == "ward" and "http" in pod.ports
        for port_name, (port, _) in pod.ports.items():
            assert net.can_reach(prometheus, pod, port) == (ward and port_name == "http"), f"{pod.name}:{port}"


def test_an_unlabelled_pod_in_the_namespace_reaches_nothing(net):
    intruder = Pod("debug", "ward", {})
    for pod in net.pods:
        for port, _ in pod.ports.values():
            assert not net.can_reach(intruder, pod, port), f"{pod.name}:{port}"


def test_the_gateway_namespace_only_forwards_to_the_apis(net, overlay):
    if "ward-gateway" not in net.namespaces:
        pytest.skip("this overlay routes through Istio's own ingress gateway")
    proxy = Pod("ward-istio", "ward-gateway", {"gateway.networking.k8s.io/gateway-name": "ward"})
    for pod in net.pods:
        if pod.namespace == "ward":
            api = pod.labels.get("app.kubernetes.io/component") in ("command-api", "query-api")
            for port_name, (port, _) in pod.ports.items():
                assert net.can_reach(proxy, pod, port) == (api and port_name == "http"), f"{pod.name}:{port}"
