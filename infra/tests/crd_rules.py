"""Structural rules for the custom resources Ward renders.

The CRDs themselves are not available offline, so these JSON Schemas encode, for each kind
Ward uses, the fields its CRD requires plus the types and enumerations of the fields Ward
sets (taken from the CRDs of Strimzi 1.2, KEDA 2.20, CloudNativePG 1.30 and its Barman
Cloud plugin 0.14, mariadb-operator 26.6, Gateway API 1.6, Istio 1.30, MetalLB 0.16 and
Prometheus Operator 0.93). A kind that is neither a core Kubernetes kind nor listed here
fails the tests, so a new custom resource cannot slip in unchecked.
"""

from __future__ import annotations

STR = {"type": "string", "minLength": 1}
INT = {"type": "integer"}
POS = {"type": "integer", "minimum": 1}
BOOL = {"type": "boolean"}
ANY_OBJ = {"type": "object"}
QUANTITY = {"type": ["string", "integer"]}
SECRET_KEY_REF = {"type": "object", "required": ["name", "key"],
                  "properties": {"name": STR, "key": STR}}


def obj(required=(), **props):
    return {"type": "object", "required": list(required), "properties": props}


def arr(items, min_items=1):
    return {"type": "array", "items": items, "minItems": min_items}


def enum(*values):
    return {"enum": list(values)}


def labelled(label, spec):
    """A resource whose metadata must carry `label` and whose spec follows `spec`."""
    return obj(["metadata", "spec"],
               metadata=obj(["name", "labels"], labels=obj([label])),
               spec=spec)


def resource(spec, spec_required=True):
    return obj(["metadata", "spec"] if spec_required else ["metadata"],
               metadata=obj(["name"], name=STR), spec=spec)


LABEL_SELECTOR = {"type": "object", "properties": {
    "matchLabels": {"type": "object", "additionalProperties": {"type": "string"}},
    "matchExpressions": arr(obj(["key", "operator"], key=STR,
                                operator=enum("In", "NotIn", "Exists", "DoesNotExist")), 0),
}}

STRIMZI_STORAGE = obj(["type"], type=enum("ephemeral", "persistent-claim", "jbod"),
                      volumes=arr(obj(["id", "type"], id=INT,
                                      type=enum("ephemeral", "persistent-claim"),
                                      size=STR, kraftMetadata=enum("shared"))))
STRIMZI_ACL = obj(["resource", "operations"],
                  resource=obj(["type"], type=enum("topic", "group", "cluster", "transactionalId"),
                               name=STR, patternType=enum("literal", "prefix")),
                  operations=arr(enum("Read", "Write", "Create", "Delete", "Alter", "Describe",
                                      "ClusterAction", "AlterConfigs", "DescribeConfigs",
                                      "IdempotentWrite", "All")))

GATEWAY_BACKEND = obj(["name"], name=STR, port=POS, namespace=STR, weight=INT)
HTTP_METHOD = enum("GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH")
ISTIO_DESTINATION = obj(["destination"], destination=obj(["host"], host=STR,
                                                         port=obj(["number"], number=POS)))
ISTIO_STRING_MATCH = {"type": "object", "minProperties": 1, "maxProperties": 1,
                      "properties": {"exact": STR, "prefix": STR, "regex": STR}}

SCHEMAS: dict[tuple[str, str], dict] = {
    # --- Strimzi ------------------------------------------------------------------------
    ("kafka.strimzi.io/v1", "Kafka"): resource(obj(
        ["kafka"],
        kafka=obj(
            ["listeners"],
            version=STR, metadataVersion=STR,
            listeners=arr(obj(["name", "port", "type", "tls"],
                              name={"type": "string", "pattern": "^[a-z0-9]{1,11}$"},
                              port={"type": "integer", "minimum": 9092},
                              type=enum("internal", "route", "loadbalancer", "nodeport",
                                        "ingress", "cluster-ip", "tlsroute"),
                              tls=BOOL,
                              authentication=obj(["type"], type=enum(
                                  "tls", "scram-sha-512", "oauth", "custom")),
                              networkPolicyPeers=arr(ANY_OBJ))),
            authorization=obj(["type"], type=enum("simple", "custom"),
                              superUsers=arr(STR, 0)),
            config=ANY_OBJ),
        entityOperator=obj(topicOperator=ANY_OBJ, userOperator=ANY_OBJ),
        zookeeper={"not": {}},  # KRaft only
    )),
    ("kafka.strimzi.io/v1", "KafkaNodePool"): labelled("strimzi.io/cluster", obj(
        ["replicas", "roles", "storage"],
        replicas={"type": "integer", "minimum": 0},
        roles=arr(enum("controller", "broker")),
        storage=STRIMZI_STORAGE,
        resources=ANY_OBJ)),
    ("kafka.strimzi.io/v1", "KafkaTopic"): labelled("strimzi.io/cluster", obj(
        ["partitions", "replicas"], topicName=STR, partitions=POS,
        replicas={"type": "integer", "minimum": 1, "maximum": 32767},
        config={"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean", "number"]}})),
    ("kafka.strimzi.io/v1", "KafkaUser"): labelled("strimzi.io/cluster", obj(
        ["authentication", "authorization"],
        authentication=obj(["type"], type=enum("tls", "tls-external", "scram-sha-512")),
        authorization=obj(["type", "acls"], type=enum("simple"), acls=arr(STRIMZI_ACL)))),
    # --- KEDA ---------------------------------------------------------------------------
    ("keda.sh/v1alpha1", "ScaledObject"): resource(obj(
        ["scaleTargetRef", "triggers"],
        scaleTargetRef=obj(["name"], name=STR, kind=STR, apiVersion=STR),
        minReplicaCount={"type": "integer", "minimum": 0},
        maxReplicaCount=POS, pollingInterval=POS, cooldownPeriod=POS,
        fallback=obj(["failureThreshold", "replicas"], failureThreshold=POS, replicas=POS),
        triggers=arr(obj(["type", "metadata"], type=STR,
                         metadata={"type": "object", "additionalProperties": {"type": "string"}})))),
    # --- CloudNativePG ------------------------------------------------------------------
    ("postgresql.cnpg.io/v1", "Cluster"): resource(obj(
        ["instances", "storage"],
        instances=POS, imageName=STR,
        storage=obj(["size"], size=STR), walStorage=obj(["size"], size=STR),
        bootstrap=obj(initdb=obj(["database", "owner"], database=STR, owner=STR)),
        managed=obj(roles=arr(obj(["name"], name=STR, ensure=enum("present", "absent"),
                                  login=BOOL, passwordSecret=obj(["name"], name=STR)))),
        postgresql=obj(parameters={"type": "object", "additionalProperties": {"type": "string"}}),
        plugins=arr(obj(["name"], name=STR, isWALArchiver=BOOL, parameters=ANY_OBJ)))),
    ("postgresql.cnpg.io/v1", "ScheduledBackup"): resource(obj(
        ["cluster", "schedule"], cluster=obj(["name"], name=STR),
        schedule={"type": "string", "pattern": r"^\S+( \S+){5}$"},  # six fields, seconds first
        method=enum("barmanObjectStore", "volumeSnapshot", "plugin"),
        pluginConfiguration=obj(["name"], name=STR))),
    ("barmancloud.cnpg.io/v1", "ObjectStore"): resource(obj(
        ["configuration"], retentionPolicy={"type": "string", "pattern": "^[1-9][0-9]*[dwm]$"},
        configuration=obj(["destinationPath"], destinationPath=STR,
                          s3Credentials=obj(accessKeyId=SECRET_KEY_REF,
                                            secretAccessKey=SECRET_KEY_REF)))),
    # --- mariadb-operator ---------------------------------------------------------------
    ("k8s.mariadb.com/v1alpha1", "MariaDB"): resource(obj(
        ["storage"], image=STR, rootPasswordSecretKeyRef=SECRET_KEY_REF, port=POS,
        storage=obj(["size"], size=STR), myCnf=STR)),
    ("k8s.mariadb.com/v1alpha1", "Database"): resource(obj(
        ["mariaDbRef"], mariaDbRef=obj(["name"], name=STR), name=STR,
        cleanupPolicy=enum("Skip", "Delete"))),
    ("k8s.mariadb.com/v1alpha1", "User"): resource(obj(
        ["mariaDbRef", "passwordSecretKeyRef"], mariaDbRef=obj(["name"], name=STR),
        passwordSecretKeyRef=SECRET_KEY_REF, cleanupPolicy=enum("Skip", "Delete"))),
    ("k8s.mariadb.com/v1alpha1", "Grant"): resource(obj(
        ["mariaDbRef", "privileges", "username", "database"], mariaDbRef=obj(["name"], name=STR),
        privileges=arr(STR), username=STR, database=STR, table=STR,
        cleanupPolicy=enum("Skip", "Delete"))),
    ("k8s.mariadb.com/v1alpha1", "Connection"): resource(obj(
        ["mariaDbRef", "username", "passwordSecretKeyRef", "secretName"],
        mariaDbRef=obj(["name"], name=STR), username=STR, passwordSecretKeyRef=SECRET_KEY_REF,
        secretName=STR, secretTemplate=obj(["key", "format"], key=STR, format=STR))),
    # --- Gateway API --------------------------------------------------------------------
    ("gateway.networking.k8s.io/v1", "Gateway"): resource(obj(
        ["gatewayClassName", "listeners"], gatewayClassName=STR,
        listeners=arr(obj(["name", "port", "protocol"], name=STR, port=POS,
                          protocol=enum("HTTP", "HTTPS", "TLS", "TCP", "UDP"), hostname=STR)))),
    ("gateway.networking.k8s.io/v1", "HTTPRoute"): resource(obj(
        ["parentRefs", "rules"],
        parentRefs=arr(obj(["name"], name=STR, namespace=STR, sectionName=STR)),
        rules=arr(obj(
            matches=arr(obj(method=HTTP_METHOD,
                            path=obj(["type", "value"], type=enum("Exact", "PathPrefix", "RegularExpression"),
                                     value={"type": "string", "pattern": "^/"}))),
            backendRefs=arr(GATEWAY_BACKEND, 0),
            filters=arr(obj(["type"], type=STR)))))),
    # --- Istio ----------------------------------------------------------------------------
    ("networking.istio.io/v1", "Gateway"): resource(obj(
        ["selector", "servers"], selector={"type": "object", "minProperties": 1},
        servers=arr(obj(["port", "hosts"],
                        port=obj(["number", "protocol", "name"], number=POS, name=STR,
                                 protocol=enum("HTTP", "HTTPS", "GRPC", "HTTP2", "MONGO", "TCP", "TLS")),
                        hosts=arr(STR),
                        tls=obj(mode=enum("PASSTHROUGH", "SIMPLE", "MUTUAL", "AUTO_PASSTHROUGH",
                                          "ISTIO_MUTUAL", "OPTIONAL_MUTUAL"),
                                credentialName=STR, httpsRedirect=BOOL))))),
    ("networking.istio.io/v1", "VirtualService"): resource(obj(
        ["hosts", "http"], hosts=arr(STR), gateways=arr(STR),
        http=arr({"type": "object", "properties": {
            "name": STR,
            "match": arr(obj(uri=ISTIO_STRING_MATCH, method=ISTIO_STRING_MATCH)),
            "route": arr(ISTIO_DESTINATION),
            "directResponse": obj(["status"], status={"type": "integer", "minimum": 200, "maximum": 599}),
        }, "oneOf": [{"required": ["route"]}, {"required": ["directResponse"]}]}))),
    # --- MetalLB --------------------------------------------------------------------------
    ("metallb.io/v1beta1", "IPAddressPool"): resource(obj(
        ["addresses"], addresses=arr(STR), autoAssign=BOOL)),
    ("metallb.io/v1beta1", "L2Advertisement"): resource(obj(ipAddressPools=arr(STR)), spec_required=False),
    # --- Prometheus Operator ------------------------------------------------------------
    ("monitoring.coreos.com/v1", "ServiceMonitor"): resource(obj(
        ["selector", "endpoints"], selector=LABEL_SELECTOR,
        endpoints=arr(obj(["port"], port=STR, path={"type": "string", "pattern": "^/"},
                          interval=STR, scrapeTimeout=STR)))),
    ("monitoring.coreos.com/v1", "PodMonitor"): resource(obj(
        ["selector", "podMetricsEndpoints"], selector=LABEL_SELECTOR,
        podMetricsEndpoints=arr(obj(["port"], port=STR, path={"type": "string", "pattern": "^/"})))),
    ("monitoring.coreos.com/v1", "PrometheusRule"): resource(obj(
        ["groups"], groups=arr(obj(["name", "rules"], name=STR, rules=arr({
            "type": "object", "required": ["expr"],
            "properties": {"alert": STR, "record": STR, "expr": STR, "for": STR,
                           "labels": ANY_OBJ, "annotations": ANY_OBJ},
            "oneOf": [{"required": ["alert"]}, {"required": ["record"]}],
        }))))),
}
