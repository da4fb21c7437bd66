"""Every overlay renders, and every rendered object is valid for its schema: core kinds
against the Kubernetes 1.32 OpenAPI schemas shipped by kubernetes-validate (strict: unknown
fields fail), custom resources against the structural rules in crd_rules.py."""

from __future__ import annotations

import jsonschema
import kubernetes_validate
import pytest

from conftest import name, render, OVERLAYS
from crd_rules import SCHEMAS

KUBERNETES_VERSION = "1.32.0"


def test_every_overlay_renders_something(overlay):
    assert len(render(overlay)) > 20


def test_names_are_unique(docs):
    seen = [name(d) for d in docs]
    assert len(seen) == len(set(seen)), sorted(n for n in seen if seen.count(n) > 1)


def test_core_objects_match_the_kubernetes_schemas(docs):
    failures = []
    for doc in docs:
        if (doc["apiVersion"], doc["kind"]) in SCHEMAS:
            continue
        try:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.SchemaNotFoundError:
            failures.append(f"{name(doc)}: {doc['apiVersion']} {doc['kind']} is neither a "
                            f"Kubernetes {KUBERNETES_VERSION} kind nor listed in crd_rules.py")
        except kubernetes_validate.ValidationError as error:
            path = "/".join(str(p) for p in error.path)
            failures.append(f"{name(doc)}: {path}: {error.message}")
    assert not failures, "\n".join(failures)


def test_custom_resources_are_well_formed(docs):
    failures = []
    for doc in docs:
        schema = SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if schema is None:
            continue
        for error in jsonschema.Draft202012Validator(schema).iter_errors(doc):
            path = "/".join(str(p) for p in error.absolute_path)
            failures.append(f"{name(doc)}: {path}: {error.message}")
    assert not failures, "\n".join(failures)


@pytest.mark.parametrize("key", sorted(SCHEMAS), ids=lambda k: f"{k[0]}-{k[1]}")
def test_every_custom_resource_rule_is_exercised(key):
    """A rule no overlay uses is dead weight, or a sign that a resource went missing."""
    assert any((d["apiVersion"], d["kind"]) == key for o in OVERLAYS for d in render(o))


def test_the_crd_rules_catch_mistakes():
    """The rules are not vacuous: a few typical mistakes must fail them."""
    broken = [
        ({"apiVersion": "kafka.strimzi.io/v1", "kind": "KafkaTopic",
          "metadata": {"name": "t"}, "spec": {"partitions": 6, "replicas": 3}}, "labels"),
        ({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
          "metadata": {"name": "s"}, "spec": {"triggers": []}}, "scaleTargetRef"),
        ({"apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
          "metadata": {"name": "r"},
          "spec": {"parentRefs": [{"name": "g"}],
                   "rules": [{"matches": [{"method": "get"}]}]}}, "get"),
    ]
    for doc, needle in broken:
        errors = list(jsonschema.Draft202012Validator(SCHEMAS[(doc["apiVersion"], doc["kind"])])
                      .iter_errors(doc))
        assert any(needle in e.message or needle in str(list(e.absolute_path)) for e in errors), doc
