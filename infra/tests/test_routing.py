"""Routing at the edge, resolved: which backend a (method, path) reaches through the rendered
HTTPRoute (Gateway API variant) or VirtualService (Istio variant).

The two APIs share one origin. Browsers get pages from query-api-web (GET/HEAD outside /api)
and post their forms to the command API; JSON reads under /api go to the query Deployment of
the read model that owns the path; every other method goes to the command API. Both variants
must route every request in the table below the same way.

The resolvers follow each API's own rules:
- Gateway API (HTTPRoute, v1): among all matching matches, an Exact path wins, then the
  longest PathPrefix (by characters), then a match with a method over one without; only a
  full tie falls back to the order of the rules. PathPrefix matches whole path segments
  (/auth matches /auth and /auth/x, not /authors). A rule without backendRefs answers 500.
- Istio (VirtualService): the http routes in order, the first whose match list has an entry
  that matches wins (a route without match takes everything). `prefix` is a plain string
  prefix; `regex` must match the whole value (RE2 full match).
"""

from __future__ import annotations

import re

import pytest

from conftest import name, of_kind, render

BLOCKED = "blocked"
COMMAND = ("command-api", 8080)
WEB = ("query-api-web", 8081)
BOARD = ("query-api-board", 8081)
HOSPITAL = ("query-api-hospital", 8081)
MEMBER = ("query-api-member", 8081)

# (method, path, where it must go)
ROUTES = [
    # Pages for browsers.
    ("GET", "/", WEB),
    ("HEAD", "/", WEB),
    ("GET", "/boards/free", WEB),
    ("GET", "/posts/123", WEB),
    ("GET", "/posts/new", WEB),
    ("GET", "/posts/123/edit", WEB),
    ("GET", "/search", WEB),
    ("GET", "/hospitals", WEB),
    ("GET", "/hospitals/42", WEB),
    ("GET", "/hospitals/42/review", WEB),
    ("GET", "/me", WEB),
    ("GET", "/me/claims/7", WEB),
    ("GET", "/privacy", WEB),
    ("GET", "/moderation/log", WEB),
    ("GET", "/lang/en", WEB),
    ("GET", "/assets/ward.css", WEB),
    ("HEAD", "/assets/ward.css", WEB),
    ("GET", "/authors", WEB),  # /auth matches whole segments only
    # The pages' forms, and the command side's own pages.
    ("POST", "/posts", COMMAND),
    ("POST", "/posts/123/comments", COMMAND),
    ("POST", "/posts/123/edit", COMMAND),
    ("POST", "/reports", COMMAND),
    ("POST", "/signout", COMMAND),
    ("POST", "/me/withdraw", COMMAND),
    ("POST", "/hospitals/42/reviews", COMMAND),
    ("POST", "/moderation/post/123/hide", COMMAND),
    ("GET", "/moderation", COMMAND),
    ("HEAD", "/moderation", COMMAND),
    ("GET", "/auth", COMMAND),
    ("GET", "/auth/signin", COMMAND),
    ("GET", "/auth/kakao/callback", COMMAND),
    ("POST", "/auth/signout", COMMAND),
    # JSON reads.
    ("GET", "/api/v1/posts", BOARD),
    ("GET", "/api/v1/posts/123", BOARD),
    ("HEAD", "/api/v1/posts/123", BOARD),
    ("GET", "/api/v1/boards", BOARD),
    ("GET", "/api/v1/boards/free/posts", BOARD),
    ("GET", "/api/v1/moderation/log", BOARD),
    ("GET", "/api/v1/openapi.json", BOARD),
    ("GET", "/api/v1/hospitals", HOSPITAL),
    ("GET", "/api/v1/hospitals/42/reviews", HOSPITAL),
    ("HEAD", "/api/v1/hospitals/42", HOSPITAL),
    ("GET", "/api/v1/reviews/9", HOSPITAL),
    ("GET", "/api/v1/me", MEMBER),
    ("GET", "/api/v1/me/activity", MEMBER),
    ("HEAD", "/api/v1/me/notifications", MEMBER),
    # JSON commands, and the command API's own GETs under /api.
    ("GET", "/api/v1/openapi/commands.json", COMMAND),
    ("GET", "/api/v1/moderation/claims", COMMAND),
    ("GET", "/api/v1/moderation/claims/5", COMMAND),
    ("POST", "/api/v1/posts", COMMAND),
    ("DELETE", "/api/v1/posts/123", COMMAND),
    ("PATCH", "/api/v1/posts/123", COMMAND),
    ("POST", "/api/v1/hospitals/42/reviews", COMMAND),
    ("POST", "/api/v1/me/notifications/read", COMMAND),
    ("OPTIONS", "/api/v1/posts", COMMAND),
    # Operational endpoints never leave the cluster.
    ("GET", "/livez", BLOCKED),
    ("GET", "/readyz", BLOCKED),
    ("GET", "/metrics", BLOCKED),
    ("POST", "/metrics", BLOCKED),
]


# --- Gateway API ----------------------------------------------------------------------------

def _gateway_path_matches(path_match: dict | None, path: str) -> tuple[bool, int, int]:
    """(matches, is_exact, prefix length) for an HTTPRouteMatch's path."""
    kind = (path_match or {}).get("type", "PathPrefix")
    value = (path_match or {}).get("value", "/")
    if kind == "Exact":
        return path == value, 1, 0
    if kind == "PathPrefix":
        prefix = value.rstrip("/")
        return (prefix == "" or path == prefix or path.startswith(prefix + "/")), 0, len(value)
    raise NotImplementedError(f"path match {kind} is not modelled")


def resolve_http_route(rules: list[dict], method: str, path: str):
    """The backend a request reaches by Gateway API precedence, or None when nothing matches."""
    best = None
    for index, rule in enumerate(rules):
        for match in rule.get("matches") or [{}]:
            if match.get("headers") or match.get("queryParams"):
                raise NotImplementedError("header and query parameter matches are not modelled")
            ok, exact, prefix_length = _gateway_path_matches(match.get("path"), path)
            if not ok or match.get("method", method) != method:
                continue
            # Higher wins; a full tie goes to the earlier rule.
            key = (exact, prefix_length, "method" in match, -index)
            if best is None or key > best[0]:
                best = (key, rule)
    if best is None:
        return None
    backends = best[1].get("backendRefs") or []
    if not backends:
        return BLOCKED
    assert len(backends) == 1, best[1]
    return backends[0]["name"], backends[0]["port"]


def _https_route(docs):
    routes = [r for r in of_kind(docs, "HTTPRoute")
              if any(p.get("sectionName") in (None, "https") for p in r["spec"]["parentRefs"])]
    assert len(routes) == 1, [name(r) for r in routes]
    return routes[0]


# --- Istio -----------------------------------------------------------------------------------

def _istio_string_matches(string_match: dict | None, value: str) -> bool:
    if string_match is None:
        return True
    ((kind, want),) = string_match.items()
    if kind == "exact":
        return value == want
    if kind == "prefix":
        return value.startswith(want)
    if kind == "regex":
        return re.fullmatch(want, value) is not None
    raise NotImplementedError(kind)


def resolve_virtual_service(http: list[dict], method: str, path: str):
    """The destination of the first route that matches, or None."""
    for route in http:
        matches = route.get("match") or [{}]
        if not any(set(m) <= {"uri", "method", "name"}
                   and _istio_string_matches(m.get("uri"), path)
                   and _istio_string_matches(m.get("method"), method) for m in matches):
            continue
        if "directResponse" in route:
            assert route["directResponse"]["status"] >= 400, route["name"]
            return BLOCKED
        (destination,) = route["route"]
        host = destination["destination"]["host"]
        return host.removesuffix(".ward.svc.cluster.local"), destination["destination"]["port"]["number"]
    return None


def _virtual_service(docs):
    (service,) = of_kind(docs, "VirtualService")
    return service


# --- the rendered overlays -------------------------------------------------------------------

def resolver(docs):
    """A (method, path) -> backend function for whichever variant the overlay renders."""
    routes, services = of_kind(docs, "HTTPRoute"), of_kind(docs, "VirtualService")
    assert bool(routes) != bool(services), "an overlay routes with exactly one of the two APIs"
    if routes:
        rules = _https_route(docs)["spec"]["rules"]
        return lambda method, path: resolve_http_route(rules, method, path)
    http = _virtual_service(docs)["spec"]["http"]
    return lambda method, path: resolve_virtual_service(http, method, path)


@pytest.mark.parametrize("method, path, expected", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_requests_reach_the_right_backend(docs, method, path, expected):
    assert resolver(docs)(method, path) == expected


def test_only_reads_reach_the_query_side(docs):
    """CQRS at the edge: a query pod never sees a write, whatever the path."""
    resolve = resolver(docs)
    paths = {p for _, p, _ in ROUTES} | {"/x", "/api", "/api/v1/unknown"}
    for path in sorted(paths):
        for method in ("POST", "PUT", "PATCH", "DELETE", "OPTIONS"):
            assert resolve(method, path) in (COMMAND, BLOCKED), f"{method} {path}"
        assert resolve("GET", path) == resolve("HEAD", path), path


def test_route_backends_exist_and_every_api_is_routed(docs):
    services = {s["metadata"]["name"]: {p["port"] for p in s["spec"]["ports"]}
                for s in of_kind(docs, "Service")}
    apis = {s["metadata"]["name"] for s in of_kind(docs, "Service")
            if s["metadata"].get("labels", {}).get("app.kubernetes.io/component") in ("command-api", "query-api")}
    resolve = resolver(docs)
    reached = {resolve(m, p) for m, p, _ in ROUTES} - {BLOCKED, None}
    for backend, port in reached:
        assert port in services.get(backend, set()), f"{backend}:{port} is not a Service port"
    assert {backend for backend, _ in reached} == apis
    if of_kind(docs, "HTTPRoute"):
        declared = {(b["name"], b["port"]) for r in _https_route(docs)["spec"]["rules"]
                    for b in r.get("backendRefs", [])}
    else:
        declared = {(d["destination"]["host"].removesuffix(".ward.svc.cluster.local"),
                     d["destination"]["port"]["number"])
                    for r in _virtual_service(docs)["spec"]["http"] for d in r.get("route", [])}
    assert declared <= reached, f"backends no request in the table reaches: {declared - reached}"


def test_http_route_precedence_does_not_depend_on_rule_order():
    """The HTTPRoute's comment promises its order is for reading only: reversed, it routes
    the same (and the resolver really applies precedence rather than order)."""
    rules = _https_route(render("prod"))["spec"]["rules"]
    for method, path, expected in ROUTES:
        assert resolve_http_route(list(reversed(rules)), method, path) == expected, f"{method} {path}"


def test_the_resolvers_follow_each_api():
    """A few cases where the two APIs differ, on made-up routes."""
    rules = [
        {"matches": [{"path": {"type": "PathPrefix", "value": "/"}}], "backendRefs": [{"name": "any", "port": 1}]},
        {"matches": [{"method": "GET", "path": {"type": "PathPrefix", "value": "/"}}],
         "backendRefs": [{"name": "get", "port": 1}]},
        {"matches": [{"path": {"type": "PathPrefix", "value": "/a/"}}], "backendRefs": [{"name": "a", "port": 1}]},
        {"matches": [{"path": {"type": "Exact", "value": "/a/b"}}], "backendRefs": [{"name": "ab", "port": 1}]},
    ]
    assert resolve_http_route(rules, "GET", "/x") == ("get", 1)       # method beats no method
    assert resolve_http_route(rules, "POST", "/x") == ("any", 1)
    assert resolve_http_route(rules, "GET", "/a") == ("a", 1)         # trailing slash ignored
    assert resolve_http_route(rules, "GET", "/ab") == ("get", 1)      # whole segments only
    assert resolve_http_route(rules, "GET", "/a/b") == ("ab", 1)      # Exact beats any prefix
    http = [
        {"name": "get", "match": [{"method": {"regex": "GET|HEAD"}}],
         "route": [{"destination": {"host": "get", "port": {"number": 1}}}]},
        {"name": "a", "match": [{"uri": {"prefix": "/a"}}],
         "route": [{"destination": {"host": "a", "port": {"number": 1}}}]},
        {"name": "rest", "route": [{"destination": {"host": "rest", "port": {"number": 1}}}]},
    ]
    assert resolve_virtual_service(http, "GET", "/a") == ("get", 1)   # first match wins
    assert resolve_virtual_service(http, "GETS", "/x") == ("rest", 1)  # regex is a full match
    assert resolve_virtual_service(http, "POST", "/ab") == ("a", 1)   # plain string prefix
