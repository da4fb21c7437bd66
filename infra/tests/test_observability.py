"""Monitors, alerts and the dashboard refer to metrics the services really export, in valid
PromQL, and cover what the issue asks to watch."""

from __future__ import annotations

import json
import re

import promql_parser
import pytest

from conftest import (QUERY_DEPLOYMENTS, REPO, WARD_METRICS, of_kind, pod_labels, render,
                      selector_matches, WORKLOAD_KINDS)

DASHBOARD = REPO / "infra" / "observability" / "dashboards" / "ward.json"
HISTOGRAMS = {m for m in WARD_METRICS if m.endswith("_seconds")}
KNOWN = (WARD_METRICS
         | {f"{h}_{suffix}" for h in HISTOGRAMS for suffix in ("bucket", "sum", "count")}
         | {"up", "container_memory_working_set_bytes", "container_cpu_usage_seconds_total"})
GRAFANA_VARIABLES = {"$__rate_interval": "5m", "$namespace": "ward", "${datasource}": "x"}


def grafana_to_promql(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    assert "$" not in expr, f"unknown Grafana variable in {expr}"
    return expr


def metric_names(expr: str) -> set[str]:
    names = set(re.findall(r"\b([a-z_][a-z0-9_]*)\s*(?=\{|\[|\)|$|\s(?:>|<|==|and|or|/))", expr))
    functions = {"sum", "max", "min", "rate", "histogram_quantile", "count", "absent", "by", "on",
                 "and", "or", "le", "topic", "partition", "group", "namespace", "route", "status",
                 "pod", "container", "dependency"}
    return {n for n in names if n not in functions and not n.isdigit()}


def _rules():
    docs = render("prod")
    (rule,) = of_kind(docs, "PrometheusRule")
    return [r for g in rule["spec"]["groups"] for r in g["rules"]]


def _dashboard():
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def _targets():
    for panel in _dashboard()["panels"]:
        for target in panel.get("targets", []):
            yield panel["title"], target["expr"]


def test_alert_expressions_parse_and_use_real_metrics():
    for rule in _rules():
        promql_parser.parse(rule["expr"])
        unknown = {m for m in metric_names(rule["expr"]) if m not in KNOWN}
        assert not unknown, f"{rule['alert']}: {unknown}"


def test_the_metric_name_extraction_works():
    assert metric_names("sum by (group) (rate(ward_projector_events_applied_total[5m])) > 0") == {
        "ward_projector_events_applied_total"}
    assert "ward_command_outbox_backlog" in metric_names("max(ward_command_outbox_backlog{a=\"b\"}) > 1")


def test_alerts_cover_what_the_issue_asks():
    rules = _rules()

    def alerting_on(pattern):
        return [r["alert"] for r in rules if re.search(pattern, r["expr"])]

    assert alerting_on(r"ward_projector_lag"), "projector lag"
    assert alerting_on(r"ward_command_outbox_backlog"), "outbox backlog"
    assert alerting_on(r'status=~"5\.\."'), "5xx rate"
    assert len(alerting_on(r"histogram_quantile\(0\.99")) >= 2, "p99 latency (reads and commands)"
    assert alerting_on(r"ward_command_outbox_relay_leader\) < 1"), "relay without leader"


def test_alerts_are_actionable():
    for rule in _rules():
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"].get("summary"), rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "")), rule["alert"]


def test_dashboard_queries_parse_and_use_real_metrics():
    for title, expr in _targets():
        promql = grafana_to_promql(expr)
        promql_parser.parse(promql)
        unknown = {m for m in metric_names(promql) if m not in KNOWN}
        assert not unknown, f"{title}: {unknown}"


def test_dashboard_shows_every_exported_metric():
    text = DASHBOARD.read_text(encoding="utf-8")
    # The projectors' own HTTP metrics only count /metrics and probe requests.
    wanted = WARD_METRICS - {"ward_projector_http_requests_total", "ward_projector_http_request_duration_seconds"}
    missing = {m for m in wanted if m not in text}
    assert not missing


def test_dashboard_is_well_formed():
    dashboard = _dashboard()
    assert dashboard["uid"] and dashboard["title"]
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    boxes = []
    for panel in dashboard["panels"]:
        g = panel["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, panel["title"]
        for other_title, o in boxes:
            overlap = (g["x"] < o["x"] + o["w"] and o["x"] < g["x"] + g["w"]
                       and g["y"] < o["y"] + o["h"] and o["y"] < g["y"] + g["h"])
            assert not overlap, f"{panel['title']} overlaps {other_title}"
        boxes.append((panel["title"], g))
        if panel["type"] != "row":
            assert panel["datasource"]["uid"] == "${datasource}", panel["title"]


def test_the_dashboard_ships_in_a_config_map():
    docs = render("prod")
    (cm,) = [c for c in of_kind(docs, "ConfigMap") if c["metadata"]["name"] == "ward-grafana-dashboard"]
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(cm["data"]["ward.json"]) == _dashboard()


@pytest.mark.parametrize("overlay", ["dev", "prod"])
def test_monitors_select_every_ward_process(overlay):
    docs = render(overlay)
    services = of_kind(docs, "Service")
    (service_monitor,) = of_kind(docs, "ServiceMonitor")
    (pod_monitor,) = of_kind(docs, "PodMonitor")
    scraped_services = [s for s in services if selector_matches(service_monitor["spec"]["selector"],
                                                                s["metadata"].get("labels", {}))]
    assert {s["metadata"]["name"] for s in scraped_services} == {"command-api", *QUERY_DEPLOYMENTS}
    for svc in scraped_services:
        assert service_monitor["spec"]["endpoints"][0]["port"] in {p["name"] for p in svc["spec"]["ports"]}
    projectors = [d for d in of_kind(docs, *WORKLOAD_KINDS)
                  if selector_matches(pod_monitor["spec"]["selector"], pod_labels(d))]
    assert sorted(d["metadata"]["name"] for d in projectors) == [
        "projector-board", "projector-hospital", "projector-member"]


def test_keda_queries_parse():
    for so in of_kind(render("prod"), "ScaledObject"):
        promql_parser.parse(so["spec"]["triggers"][0]["metadata"]["query"])
