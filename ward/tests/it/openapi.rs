//! The command API's OpenAPI document: served at `GET /api/v1/openapi/commands.json`, OpenAPI 3.1,
//! documenting every route with its success answer and its errors.

use crate::support::*;
use serde_json::Value;

/// Every (method, path) that the command API's router serves (`ward_command_api::app`),
/// besides the document itself.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/v1/posts"),
    ("patch", "/api/v1/posts/{id}"),
    ("delete", "/api/v1/posts/{id}"),
    ("put", "/api/v1/posts/{id}/like"),
    ("delete", "/api/v1/posts/{id}/like"),
    ("post", "/api/v1/posts/{id}/comments"),
    ("patch", "/api/v1/posts/{id}/comments/{comment}"),
    ("delete", "/api/v1/posts/{id}/comments/{comment}"),
    ("put", "/api/v1/posts/{id}/accepted-answer"),
    ("post", "/api/v1/hospitals/{id}/claims"),
    ("post", "/api/v1/claims/{id}/approval"),
    ("post", "/api/v1/claims/{id}/rejection"),
    ("post", "/api/v1/hospitals/{id}/reviews"),
    ("patch", "/api/v1/reviews/{id}"),
    ("delete", "/api/v1/reviews/{id}"),
    ("put", "/api/v1/reviews/{id}/helpful"),
    ("post", "/api/v1/reports"),
    ("post", "/api/v1/moderation/{kind}/{id}/hide"),
    ("post", "/api/v1/moderation/{kind}/{id}/restore"),
    ("delete", "/api/v1/me"),
    ("patch", "/api/v1/me"),
    ("post", "/api/v1/claims/{id}/revocation"),
    ("post", "/api/v1/moderation/{kind}/{id}/suspend-author"),
    ("get", "/api/v1/moderation/claims"),
];

/// The creates among them: `201`, and `Idempotency-Key`.
const CREATES: &[&str] = &[
    "/api/v1/posts",
    "/api/v1/posts/{id}/comments",
    "/api/v1/hospitals/{id}/claims",
    "/api/v1/hospitals/{id}/reviews",
    "/api/v1/reports",
];

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// The `$ref` of a response's JSON body, if it has one.
fn body_ref(response: &Value) -> Option<&str> {
    response["content"]["application/json"]["schema"]["$ref"].as_str()
}

fn is_error_body(response: &Value) -> bool {
    body_ref(response) == Some("#/components/schemas/ErrorBody")
}

/// A response, or, if it is a `$ref` to a reusable one (`#/components/responses/<name>`), the
/// response it refers to (`Null` if the document lacks it).
fn resolve<'a>(document: &'a Value, response: &'a Value) -> &'a Value {
    match response["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/responses/"))
    {
        Some(name) => &document["components"]["responses"][name],
        None => response,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_command_api_documents_every_route_in_openapi_3_1() -> Result {
    let stack = Stack::new().await?;
    let commands = stack.command_api().await?;
    let client = reqwest::Client::new();

    // Served without a session, as JSON.
    let response = client
        .get(commands.url("/api/v1/openapi/commands.json"))
        .send()
        .await?;
    anyhow::ensure!(response.status() == 200, "status {}", response.status());
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    anyhow::ensure!(
        content_type.starts_with("application/json"),
        "content type {content_type}"
    );
    let document: Value = response.json().await?;

    let version = document["openapi"].as_str().unwrap_or_default();
    anyhow::ensure!(version.starts_with("3.1"), "openapi {version}");
    anyhow::ensure!(
        document["info"]["title"] == "Ward command API",
        "info {}",
        document["info"]
    );
    anyhow::ensure!(
        document["info"]["version"].is_string(),
        "info {}",
        document["info"]
    );

    // Every routed (method, path) is documented.
    let paths = &document["paths"];
    let missing: Vec<String> = ROUTES
        .iter()
        .filter(|(method, path)| !paths[*path][*method].is_object())
        .map(|(method, path)| format!("{} {path}", method.to_uppercase()))
        .collect();
    anyhow::ensure!(missing.is_empty(), "undocumented routes: {missing:?}");

    // Each create answers 201 with a JSON body and accepts an Idempotency-Key.
    for path in CREATES {
        let operation = &paths[*path]["post"];
        let created = &operation["responses"]["201"];
        anyhow::ensure!(
            body_ref(created).is_some(),
            "POST {path} documents no 201 with a body: {}",
            operation["responses"]
        );
        let idempotent = operation["parameters"]
            .as_array()
            .is_some_and(|parameters| {
                parameters
                    .iter()
                    .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
            });
        anyhow::ensure!(idempotent, "POST {path} documents no Idempotency-Key");
    }

    // Every documented operation needs the session cookie and has a 4xx with the error body.
    let operations = paths
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("no paths: {document}"))?
        .iter()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item[**method].is_object())
                .map(move |method| (path.clone(), *method, &item[*method]))
        })
        .collect::<Vec<_>>();
    anyhow::ensure!(
        operations.len() >= ROUTES.len(),
        "{} operations documented",
        operations.len()
    );
    for (path, method, operation) in &operations {
        let responses = operation["responses"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("{method} {path} has no responses"))?;
        let client_error = responses.iter().any(|(status, response)| {
            status.starts_with('4') && is_error_body(resolve(&document, response))
        });
        anyhow::ensure!(
            client_error,
            "{method} {path} documents no 4xx with ErrorBody: {responses:?}"
        );
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r["session_cookie"].is_array()));
        anyhow::ensure!(secured, "{method} {path} needs no session cookie");
    }

    // The schemes and schemas that the operations refer to.
    let cookie = &document["components"]["securitySchemes"]["session_cookie"];
    anyhow::ensure!(
        cookie["type"] == "apiKey" && cookie["in"] == "cookie" && cookie["name"] == "ward_session",
        "session cookie scheme {cookie}"
    );
    let schemas = &document["components"]["schemas"];
    for name in ["Created", "CommentCreated", "Changed", "ErrorBody"] {
        anyhow::ensure!(schemas[name].is_object(), "no schema {name}");
    }
    for name in ["id", "version"] {
        anyhow::ensure!(
            schemas["Created"]["properties"][name].is_object()
                && schemas["Changed"]["properties"][name].is_object(),
            "Created or Changed has no {name}"
        );
    }

    // ErrorBody describes what the API really answers.
    let error_body = &schemas["ErrorBody"];
    let refused = client
        .post(commands.url("/api/v1/posts"))
        .json(&serde_json::json!({"board": "free", "title": "제목", "body": "본문"}))
        .send()
        .await?;
    anyhow::ensure!(refused.status() == 401, "status {}", refused.status());
    let refused: Value = refused.json().await?;
    let fields = refused
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("error body {refused}"))?;
    for field in fields.keys() {
        anyhow::ensure!(
            error_body["properties"][field].is_object(),
            "ErrorBody lacks {field}: {error_body}"
        );
    }
    for required in error_body["required"].as_array().into_iter().flatten() {
        let required = required.as_str().unwrap_or_default();
        anyhow::ensure!(
            fields.contains_key(required),
            "the error {refused} lacks {required}"
        );
    }
    anyhow::ensure!(
        error_body["properties"]["details"].is_object(),
        "ErrorBody lacks details: {error_body}"
    );

    stack.finish().await
}

/// Every GET path the query API serves (`ward_query_api::app`), besides the document itself.
const QUERY_ROUTES: &[&str] = &[
    "/api/v1/boards",
    "/api/v1/boards/{board}/posts",
    "/api/v1/posts",
    "/api/v1/posts/{id}",
    "/api/v1/moderation/log",
    "/api/v1/hospitals",
    "/api/v1/hospitals/{id}",
    "/api/v1/hospitals/{id}/reviews",
    "/api/v1/reviews/{id}",
    "/api/v1/me",
    "/api/v1/me/affiliations",
    "/api/v1/me/activity",
    "/api/v1/me/notifications",
];

#[tokio::test(flavor = "multi_thread")]
async fn the_query_api_documents_every_route_in_openapi_3_1() -> Result {
    let stack = Stack::new().await?;
    let queries = stack.query_api().await?;
    let document = Http::new(&queries).get("/api/v1/openapi.json").await?;
    let version = document["openapi"].as_str().unwrap_or_default();
    anyhow::ensure!(version.starts_with("3.1"), "openapi {version}");
    anyhow::ensure!(document["info"]["title"] == "Ward query API");
    let paths = &document["paths"];
    let missing: Vec<&&str> = QUERY_ROUTES
        .iter()
        .filter(|path| !paths[**path]["get"].is_object())
        .collect();
    anyhow::ensure!(missing.is_empty(), "undocumented routes: {missing:?}");
    for path in QUERY_ROUTES {
        let operation = &paths[*path]["get"];
        let responses = operation["responses"]
            .as_object()
            .ok_or_else(|| anyhow::anyhow!("GET {path} has no responses"))?;
        anyhow::ensure!(
            body_ref(&responses["200"]).is_some(),
            "GET {path} documents no 200 body"
        );
        // Whatever takes input can refuse it (only the list of boards takes none).
        let takes_input = operation["parameters"]
            .as_array()
            .is_some_and(|p| !p.is_empty());
        anyhow::ensure!(
            !takes_input
                || responses
                    .iter()
                    .any(|(status, r)| status.starts_with('4') && is_error_body(r)),
            "GET {path} documents no 4xx with ErrorBody: {responses:?}"
        );
        let secured = operation["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|r| r["session_cookie"].is_array()));
        anyhow::ensure!(
            secured == path.starts_with("/api/v1/me"),
            "GET {path}: only me/* needs the session cookie"
        );
    }
    let cookie = &document["components"]["securitySchemes"]["session_cookie"];
    anyhow::ensure!(cookie["in"] == "cookie", "session cookie scheme {cookie}");
    stack.finish().await
}

/// The command API's operations that count against one of the member's rate limits
/// (`command_api.rate_limits`), by operation id.
const RATE_LIMITED: &[&str] = &[
    "create_post",
    "edit_post",
    "like_post",
    "unlike_post",
    "create_comment",
    "edit_comment",
    "submit_claim",
    "send_email_code",
    "write_review",
    "edit_review",
    "report",
    "change_me",
];

/// Every operation of `document`: path, method and the operation.
fn operations(document: &Value) -> Vec<(String, &'static str, &Value)> {
    document["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .flat_map(|(path, item)| {
            METHODS
                .iter()
                .filter(|method| item[**method].is_object())
                .map(move |method| (path.clone(), *method, &item[*method]))
        })
        .collect()
}

/// Whether `operation` documents an error body for `status`.
fn documents_error(document: &Value, operation: &Value, status: &str) -> bool {
    is_error_body(resolve(document, &operation["responses"][status]))
}

// Found by the API fuzzing (api_fuzz.rs): answers that the document did not mention.
#[tokio::test]
async fn every_command_documents_refused_bodies_rate_limits_and_outages() -> Result {
    let document = serde_json::to_value(ward_command_api::openapi::document().await.0)?;
    let operations = operations(&document);
    anyhow::ensure!(operations.len() >= ROUTES.len(), "{document}");
    for (path, method, operation) in &operations {
        let mut expected = vec!["503"];
        if operation["requestBody"].is_object() {
            // ApiJson's refusals: malformed JSON, too large, not JSON.
            expected.extend(["400", "413", "415"]);
        }
        if RATE_LIMITED.contains(&operation["operationId"].as_str().unwrap_or_default()) {
            expected.push("429");
        }
        for status in expected {
            anyhow::ensure!(
                documents_error(&document, operation, status),
                "{method} {path} documents no {status}: {}",
                operation["responses"]
            );
        }
    }
    let retry_after = &document["components"]["responses"]["Unavailable"]["headers"]["Retry-After"];
    anyhow::ensure!(retry_after.is_object(), "503 without Retry-After");
    Ok(())
}

// Found by the API fuzzing (api_fuzz.rs): a comment's handle was documented as an object,
// but `"original_poster"` is a string.
#[tokio::test]
async fn the_query_api_documents_comment_handles_and_outages_as_answered() -> Result {
    let document = serde_json::to_value(ward_query_api::openapi::document().await.0)?;
    for (path, method, operation) in operations(&document) {
        anyhow::ensure!(
            documents_error(&document, operation, "503"),
            "{method} {path} documents no 503: {}",
            operation["responses"]
        );
    }
    let schemas = &document["components"]["schemas"];
    let mut handle = &schemas["CommentView"]["properties"]["handle"];
    if let Some(name) = handle["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        handle = &schemas[name];
    }
    let variants = handle["oneOf"].as_array().cloned().unwrap_or_default();
    let original_poster = variants.iter().any(|v| {
        v["type"] == "string"
            && v["enum"]
                .as_array()
                .is_some_and(|e| e.contains(&Value::from("original_poster")))
    });
    let anonymous = variants.iter().any(|v| {
        v["type"] == "object"
            && v["properties"]["anonymous"]["type"] == "integer"
            && v["required"]
                .as_array()
                .is_some_and(|r| r.contains(&Value::from("anonymous")))
    });
    anyhow::ensure!(
        original_poster && anonymous,
        "a handle is \"original_poster\" or {{\"anonymous\": n}}, documented as {handle}"
    );
    Ok(())
}
