//! The local OpenID Connect provider (`infra/dev-idp`) that development and the sign-in tests
//! use: discovery, the login form taking any user name, the authorization code flow with PKCE
//! (S256, required) and client_secret_basic, and ID tokens carrying `sub` and nothing about
//! the person.

use crate::support::{dev_idp_login, DevIdp, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde_json::Value;
use sha2::{Digest, Sha256};

const REDIRECT_URI: &str = "http://127.0.0.1:8080/auth/oidc/callback";

/// A browser of its own: keeps cookies, does not follow redirects.
fn browser() -> Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .cookie_store(true)
        .redirect(reqwest::redirect::Policy::none())
        .build()?)
}

fn random() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A PKCE verifier and its S256 challenge.
fn pkce() -> (String, String) {
    let verifier = random();
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

async fn discover(idp: &DevIdp) -> Result<Value> {
    let response = reqwest::get(idp.discovery_url()).await?;
    anyhow::ensure!(response.status() == 200, "discovery: {}", response.status());
    Ok(response.json().await?)
}

fn endpoint(discovery: &Value, name: &str) -> Result<String> {
    discovery[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("discovery has no {name}: {discovery}"))
}

fn authorize_url(idp: &DevIdp, discovery: &Value, extra: &[(&str, &str)]) -> Result<reqwest::Url> {
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", idp.client_id()),
        ("redirect_uri", REDIRECT_URI),
    ];
    params.extend_from_slice(extra);
    Ok(reqwest::Url::parse_with_params(
        &endpoint(discovery, "authorization_endpoint")?,
        &params,
    )?)
}

fn query(url: &reqwest::Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

/// Signs in as `user` with PKCE, asking for `scope`; the code and the verifier that goes
/// with it.
async fn sign_in(
    idp: &DevIdp,
    discovery: &Value,
    user: &str,
    scope: &str,
    nonce: &str,
) -> Result<(String, String)> {
    let (verifier, challenge) = pkce();
    let state = random();
    let url = authorize_url(
        idp,
        discovery,
        &[
            ("scope", scope),
            ("state", &state),
            ("nonce", nonce),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ],
    )?;
    let back = reqwest::Url::parse(&dev_idp_login(&browser()?, url.as_str(), user).await?)?;
    assert!(
        back.as_str().starts_with(REDIRECT_URI),
        "back at the client: {back}"
    );
    assert_eq!(query(&back, "error"), None, "{back}");
    assert_eq!(query(&back, "state"), Some(state), "the same state");
    let code = query(&back, "code").ok_or_else(|| anyhow::anyhow!("no code in {back}"))?;
    Ok((code, verifier))
}

/// `POST` to the token endpoint with client_secret_basic; the status and the JSON answer.
async fn exchange(
    idp: &DevIdp,
    discovery: &Value,
    code: &str,
    verifier: &str,
) -> Result<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(endpoint(discovery, "token_endpoint")?)
        .basic_auth(idp.client_id(), Some(idp.client_secret()))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", verifier),
        ])
        .send()
        .await?;
    Ok((response.status().as_u16(), response.json().await?))
}

/// One part of a JWT (0: header, 1: payload), decoded; the signature is not checked here.
fn jwt_part(token: &str, index: usize) -> Result<Value> {
    let part = token
        .split('.')
        .nth(index)
        .ok_or_else(|| anyhow::anyhow!("not a JWT: {token}"))?;
    Ok(serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part)?)?)
}

/// Signs in and exchanges the code; the ID token's header and payload.
async fn id_token(
    idp: &DevIdp,
    discovery: &Value,
    user: &str,
    scope: &str,
    nonce: &str,
) -> Result<(Value, Value)> {
    let (code, verifier) = sign_in(idp, discovery, user, scope, nonce).await?;
    let (status, tokens) = exchange(idp, discovery, &code, &verifier).await?;
    assert_eq!(status, 200, "{tokens}");
    assert_eq!(tokens["scope"], "openid", "only openid is ever granted");
    let token = tokens["id_token"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id_token: {tokens}"))?;
    Ok((jwt_part(token, 0)?, jwt_part(token, 1)?))
}

const PROTOCOL_CLAIMS: [&str; 9] = [
    "sub",
    "nonce",
    "at_hash",
    "aud",
    "exp",
    "iat",
    "iss",
    "auth_time",
    "sid",
];

/// The ID token's claims are the protocol's (issuer, audience, times, nonce, token hash) and
/// the subject: nothing about the person.
fn assert_only_the_subject(claims: &Value) -> Result {
    let names: Vec<&str> = claims
        .as_object()
        .ok_or_else(|| anyhow::anyhow!("claims are not an object: {claims}"))?
        .keys()
        .map(String::as_str)
        .collect();
    for name in &names {
        assert!(PROTOCOL_CLAIMS.contains(name), "{name} in {claims}");
    }
    for personal in ["email", "name", "preferred_username"] {
        assert!(!names.contains(&personal), "{personal} in {claims}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn any_user_name_signs_in_and_the_id_token_carries_only_the_subject() -> Result {
    let idp = DevIdp::start(REDIRECT_URI).await?;
    let discovery = discover(&idp).await?;
    assert_eq!(discovery["issuer"], idp.issuer());
    assert_eq!(
        discovery["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    assert_eq!(discovery["scopes_supported"], serde_json::json!(["openid"]));
    let jwks: Value = reqwest::get(endpoint(&discovery, "jwks_uri")?)
        .await?
        .json()
        .await?;

    let nonce = random();
    let (header, claims) = id_token(&idp, &discovery, "nurse-kim", "openid", &nonce).await?;
    assert_eq!(header["alg"], "RS256");
    let kids: Vec<&Value> = jwks["keys"]
        .as_array()
        .map(|keys| keys.iter().map(|key| &key["kid"]).collect())
        .unwrap_or_default();
    assert!(kids.contains(&&header["kid"]), "{header} signed by {jwks}");
    assert_eq!(claims["sub"], "nurse-kim");
    assert_eq!(claims["nonce"], nonce.as_str());
    assert_eq!(claims["iss"], idp.issuer());
    assert_eq!(claims["aud"], idp.client_id());
    assert_only_the_subject(&claims)?;

    // A fresh browser, the same user name: the same subject; another name, another subject.
    let (_, again) = id_token(&idp, &discovery, "nurse-kim", "openid", &random()).await?;
    assert_eq!(again["sub"], "nurse-kim");
    let (_, other) = id_token(&idp, &discovery, "doctor-lee", "openid", &random()).await?;
    assert_eq!(other["sub"], "doctor-lee");

    // Asking for more gets nothing more: the provider knows no other scope or claim.
    let greedy = "openid email profile phone address";
    let (_, claims) = id_token(&idp, &discovery, "nurse-kim", greedy, &random()).await?;
    assert_eq!(claims["sub"], "nurse-kim");
    assert_only_the_subject(&claims)?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_code_is_good_once_with_its_own_verifier_and_the_client_secret() -> Result {
    let idp = DevIdp::start(REDIRECT_URI).await?;
    let discovery = discover(&idp).await?;

    let (code, _) = sign_in(&idp, &discovery, "tech-park", "openid", &random()).await?;
    let (status, answer) = exchange(&idp, &discovery, &code, &pkce().0).await?;
    assert_eq!((status, &answer["error"]), (400, &"invalid_grant".into()));

    let (code, verifier) = sign_in(&idp, &discovery, "tech-park", "openid", &random()).await?;
    let status = reqwest::Client::new()
        .post(endpoint(&discovery, "token_endpoint")?)
        .basic_auth(idp.client_id(), Some("not-the-secret"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &verifier),
        ])
        .send()
        .await?
        .status();
    assert_eq!(status, 401, "a wrong client secret");

    let (code, verifier) = sign_in(&idp, &discovery, "tech-park", "openid", &random()).await?;
    let (status, tokens) = exchange(&idp, &discovery, &code, &verifier).await?;
    assert_eq!(status, 200, "{tokens}");
    let (status, answer) = exchange(&idp, &discovery, &code, &verifier).await?;
    assert_eq!(
        (status, &answer["error"]),
        (400, &"invalid_grant".into()),
        "a code is good once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_authorization_request_without_s256_pkce_is_refused() -> Result {
    let idp = DevIdp::start(REDIRECT_URI).await?;
    let discovery = discover(&idp).await?;
    let (_, challenge) = pkce();
    for (what, extra) in [
        ("no code_challenge", vec![]),
        (
            "the plain method",
            vec![
                ("code_challenge", challenge.as_str()),
                ("code_challenge_method", "plain"),
            ],
        ),
    ] {
        let mut extra = extra;
        extra.extend([("scope", "openid"), ("state", "s"), ("nonce", "n")]);
        let url = authorize_url(&idp, &discovery, &extra)?;
        let response = browser()?.get(url).send().await?;
        assert!(
            response.status().is_redirection(),
            "{what}: {}",
            response.status()
        );
        let location = response
            .headers()
            .get(reqwest::header::LOCATION)
            .ok_or_else(|| anyhow::anyhow!("{what}: no Location"))?
            .to_str()?;
        let back = reqwest::Url::parse(location)?;
        assert!(back.as_str().starts_with(REDIRECT_URI), "{what}: {back}");
        assert_eq!(
            query(&back, "error").as_deref(),
            Some("invalid_request"),
            "{what}: {back}"
        );
        assert_eq!(query(&back, "code"), None, "{what}: {back}");
        assert_eq!(
            query(&back, "state").as_deref(),
            Some("s"),
            "{what}: {back}"
        );
    }
    Ok(())
}
