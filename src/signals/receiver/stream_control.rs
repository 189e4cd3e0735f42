//! A receiver that manages its own stream at its transmitter (SSF 1.0 §7–8): given the
//! transmitter's issuer and a credential for its management API, Scimitar reads
//! `/.well-known/ssf-configuration`, creates the stream (push to itself, or poll), learns the
//! `aud` the transmitter assigns, asks for verification, and later updates, pauses, resumes
//! and deletes the stream as the receiver changes. Every request goes through the destination
//! policy (`egress`). The credential is an OAuth client (client credentials grant at the
//! issuer's token endpoint, RFC 8414 discovery, `ssf.manage ssf.read` by default) or a fixed
//! `Authorization` header; it is stored sealed, and access tokens are kept in memory only.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use reqwest::{Method, Url};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{POLL, PUSH, Receiver};
use crate::sealing::Sealer;
use crate::signals::SignalsError;
use crate::store::receivers::ReceiverRow;

/// The events a managed stream asks for unless told otherwise: those the receiver acts on.
pub const DEFAULT_EVENTS: [&str; 5] = [
    "https://schemas.openid.net/secevent/caep/event-type/session-revoked",
    "https://schemas.openid.net/secevent/caep/event-type/credential-change",
    "https://schemas.openid.net/secevent/risc/event-type/account-disabled",
    "https://schemas.openid.net/secevent/risc/event-type/account-enabled",
    "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked",
];
/// SSF 1.0 §8.1.5.
pub const STREAM_UPDATED: &str =
    "https://schemas.openid.net/secevent/ssf/event-type/stream-updated";
/// SSF 1.0 §8.1.4.1.
pub const VERIFICATION: &str = "https://schemas.openid.net/secevent/ssf/event-type/verification";
/// The scopes asked for when the admin names none (SSF 1.0 §9: every authorization server
/// of SSF receivers supports them).
pub const DEFAULT_SCOPE: &str = "ssf.manage ssf.read";

/// Largest metadata, token or stream answer read.
const ANSWER_CAP: usize = 256 * 1024;
/// An access token is renewed this long before it expires.
const TOKEN_MARGIN: Duration = Duration::from_secs(30);

/// How Scimitar authenticates to the transmitter's management API.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Access {
    /// OAuth 2.0 client credentials (SSF 1.0 §9, the CAEP interoperability profile).
    ClientCredentials {
        client_id: String,
        client_secret: String,
        /// Given by the admin, or discovered from the issuer's RFC 8414 metadata.
        token_endpoint: Option<String>,
        scope: Option<String>,
    },
    /// A fixed `Authorization` header value (a token the transmitter issued by hand).
    Header { authorization: String },
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Access::ClientCredentials { client_id, .. } => {
                write!(f, "ClientCredentials({client_id}, …)")
            }
            Access::Header { .. } => f.write_str("Header(…)"),
        }
    }
}

impl Access {
    /// What the admin API shows of it: never a secret.
    pub fn shown(&self) -> Value {
        match self {
            Access::ClientCredentials {
                client_id,
                token_endpoint,
                scope,
                ..
            } => json!({
                "client_id": client_id, "client_secret_set": true,
                "token_endpoint": token_endpoint, "scope": scope.as_deref().unwrap_or(DEFAULT_SCOPE),
            }),
            Access::Header { .. } => json!({"authorization_header_set": true}),
        }
    }
}

/// The admin's request for a managed stream.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamRequest {
    pub access: Access,
    pub events_requested: Vec<String>,
    pub description: Option<String>,
}

/// A stream Scimitar manages, as stored with its receiver (`ssf_receivers.stream`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ManagedStream {
    pub stream_id: String,
    pub configuration_endpoint: String,
    pub status_endpoint: Option<String>,
    pub verification_endpoint: Option<String>,
    pub events_requested: Vec<String>,
    pub events_delivered: Vec<String>,
    /// `enabled`, `paused` or `disabled`, as the transmitter last said.
    pub status: String,
    pub reason: Option<String>,
    pub description: Option<String>,
    /// The credential as the admin API shows it (`Access::shown`: no secret).
    #[serde(default)]
    pub credential: Value,
}

impl ManagedStream {
    pub fn of(row: &ReceiverRow) -> Option<Self> {
        serde_json::from_str(row.stream.as_deref()?).ok()
    }

    pub fn stored(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Where a receiver's sealed management credential is stored, as its associated data: the
/// row and the issuer, so a credential moved to another row or another issuer does not open.
fn credential_place(receiver_id: &str, issuer: &str) -> String {
    format!("ssf_receivers.stream_credential:{receiver_id}:{issuer}")
}

pub fn seal_access(
    sealer: &Sealer,
    receiver_id: &str,
    issuer: &str,
    access: &Access,
) -> Result<String, SignalsError> {
    let clear = serde_json::to_string(access).map_err(|_| SignalsError::Internal)?;
    sealer
        .seal(&clear, &credential_place(receiver_id, issuer))
        .map_err(|e| SignalsError::Randomness(e.to_string()))
}

pub fn open_access(sealer: &Sealer, row: &ReceiverRow) -> Result<Option<Access>, SignalsError> {
    let Some(sealed) = &row.stream_credential else {
        return Ok(None);
    };
    let clear = sealer
        .open(sealed, &credential_place(&row.id, &row.issuer))
        .map_err(|e| SignalsError::Transmitter(format!("the stream credential: {e}")))?;
    serde_json::from_str(&clear)
        .map(Some)
        .map_err(|_| SignalsError::Transmitter("the stream credential is unreadable".into()))
}

/// Access tokens of managed receivers, by receiver id, in this process only.
#[derive(Default)]
pub struct TokenCache(Mutex<HashMap<String, (String, Instant)>>);

impl TokenCache {
    fn get(&self, receiver_id: &str) -> Option<String> {
        let tokens = self.0.lock().ok()?;
        let (token, until) = tokens.get(receiver_id)?;
        (Instant::now() + TOKEN_MARGIN < *until).then(|| token.clone())
    }

    fn put(&self, receiver_id: &str, token: String, lifetime: Duration) {
        if let Ok(mut tokens) = self.0.lock() {
            tokens.insert(receiver_id.to_string(), (token, Instant::now() + lifetime));
        }
    }

    pub fn forget(&self, receiver_id: &str) {
        if let Ok(mut tokens) = self.0.lock() {
            tokens.remove(receiver_id);
        }
    }
}

/// The transmitter's metadata (SSF 1.0 §7.1), the parts a receiver uses.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: Option<String>,
    pub configuration_endpoint: Option<String>,
    pub status_endpoint: Option<String>,
    pub verification_endpoint: Option<String>,
    #[serde(default)]
    pub delivery_methods_supported: Vec<String>,
}

/// A well-known URL of an issuer (SSF 1.0 §7.2.1, RFC 8414 §3): the well-known segment goes
/// between the host and the issuer's path.
pub fn well_known(issuer: &str, name: &str) -> Result<String, SignalsError> {
    let mut url = Url::parse(issuer)
        .map_err(|_| SignalsError::InvalidValue(format!("`issuer` `{issuer}` is not a URL")))?;
    let path = url.path().trim_end_matches('/').to_string();
    url.set_path(&format!("/.well-known/{name}{path}"));
    url.set_query(None);
    url.set_fragment(None);
    Ok(url.to_string())
}

fn failed(what: &str, why: impl std::fmt::Display) -> SignalsError {
    SignalsError::Transmitter(format!("{what}: {why}"))
}

fn json_of(what: &str, reply: &crate::egress::Reply) -> Result<Value, SignalsError> {
    if !reply.is_success() {
        let detail: String = String::from_utf8_lossy(&reply.body)
            .chars()
            .take(200)
            .collect();
        return Err(failed(
            what,
            format!("the transmitter answered {} {detail}", reply.status),
        ));
    }
    serde_json::from_slice(&reply.body).map_err(|e| failed(what, format!("not JSON ({e})")))
}

/// `url` with `stream_id` added to its query.
fn with_stream_id(url: &str, stream_id: &str) -> Result<String, SignalsError> {
    let mut url = Url::parse(url).map_err(|e| failed("an endpoint", e))?;
    url.query_pairs_mut().append_pair("stream_id", stream_id);
    Ok(url.to_string())
}

/// `aud` of a stream configuration: a string or an array of strings.
fn audiences(config: &Value) -> Vec<String> {
    match config.get("aud") {
        Some(Value::String(one)) => vec![one.clone()],
        Some(Value::Array(many)) => many
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        _ => Vec::new(),
    }
}

fn strings(config: &Value, name: &str) -> Vec<String> {
    config
        .get(name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default()
}

/// How the new stream delivers: push to this receiver's endpoint with its secret, or poll.
pub enum Delivery<'a> {
    Push {
        endpoint_url: &'a str,
        authorization_header: &'a str,
    },
    Poll,
    /// An update that leaves the delivery as the transmitter has it.
    Unchanged,
}

impl Delivery<'_> {
    fn method(&self) -> Option<&'static str> {
        match self {
            Delivery::Push { .. } => Some(PUSH),
            Delivery::Poll => Some(POLL),
            Delivery::Unchanged => None,
        }
    }

    fn to_json(&self) -> Option<Value> {
        match self {
            Delivery::Push {
                endpoint_url,
                authorization_header,
            } => Some(json!({"method": PUSH, "endpoint_url": endpoint_url,
                        "authorization_header": authorization_header})),
            Delivery::Poll => Some(json!({"method": POLL})),
            Delivery::Unchanged => None,
        }
    }
}

/// What creating a stream taught the receiver.
#[derive(Debug, Clone)]
pub struct Opened {
    pub stream: ManagedStream,
    pub audiences: Vec<String>,
    pub jwks_uri: Option<String>,
    /// Poll streams: where to poll (the transmitter's URL, query string included).
    pub poll_endpoint: Option<String>,
}

/// A managed receiver's transmitter: its issuer, credential and the receiver's id (the key
/// of its cached access token).
pub struct Transmitter<'a> {
    pub rx: &'a Receiver,
    pub receiver_id: &'a str,
    pub issuer: &'a str,
    pub access: &'a Access,
}

impl Transmitter<'_> {
    /// Reads `/.well-known/ssf-configuration`; its `issuer` must be the one configured.
    pub async fn metadata(&self) -> Result<Metadata, SignalsError> {
        let url = well_known(self.issuer, "ssf-configuration")?;
        let reply = self
            .rx
            .egress
            .get(&url, &[("accept", "application/json")], ANSWER_CAP)
            .await
            .map_err(|e| failed("the transmitter's metadata", e))?;
        let metadata: Metadata = serde_json::from_value(json_of("the metadata", &reply)?)
            .map_err(|e| failed("the transmitter's metadata", e))?;
        if metadata.issuer != self.issuer {
            return Err(failed(
                "the transmitter's metadata",
                format!("it names the issuer `{}`", metadata.issuer),
            ));
        }
        Ok(metadata)
    }

    /// The `Authorization` header for a management call; a fresh token when `fresh`.
    async fn authorization(&self, fresh: bool) -> Result<String, SignalsError> {
        let Access::ClientCredentials {
            client_id,
            client_secret,
            token_endpoint,
            scope,
        } = self.access
        else {
            let Access::Header { authorization } = self.access else {
                return Err(SignalsError::Internal);
            };
            return Ok(authorization.clone());
        };
        let cache = &self.rx.stream_tokens;
        if fresh {
            cache.forget(self.receiver_id);
        } else if let Some(token) = cache.get(self.receiver_id) {
            return Ok(format!("Bearer {token}"));
        }
        let endpoint = match token_endpoint {
            Some(endpoint) => endpoint.clone(),
            None => self.token_endpoint().await?,
        };
        let form = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope.as_deref().unwrap_or(DEFAULT_SCOPE))
            .finish();
        // RFC 6749 §2.3.1: client_secret_basic, both parts form-encoded first.
        let basic = {
            use base64::Engine;
            let encode =
                |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let pair = format!("{}:{}", encode(client_id), encode(client_secret));
            format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(pair)
            )
        };
        let headers = [
            ("content-type", "application/x-www-form-urlencoded"),
            ("accept", "application/json"),
            ("authorization", basic.as_str()),
        ];
        let reply = self
            .rx
            .egress
            .post(&endpoint, &headers, form.into_bytes(), ANSWER_CAP)
            .await
            .map_err(|e| failed("the token endpoint", e))?;
        let answer = json_of("the token endpoint", &reply)?;
        let token = answer
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("the token endpoint", "no access_token"))?
            .to_string();
        let lifetime = answer
            .get("expires_in")
            .and_then(Value::as_u64)
            .unwrap_or(300);
        cache.put(
            self.receiver_id,
            token.clone(),
            Duration::from_secs(lifetime),
        );
        Ok(format!("Bearer {token}"))
    }

    /// The issuer's token endpoint, from its RFC 8414 metadata (whose `issuer` must match).
    async fn token_endpoint(&self) -> Result<String, SignalsError> {
        let url = well_known(self.issuer, "oauth-authorization-server")?;
        let reply = self
            .rx
            .egress
            .get(&url, &[("accept", "application/json")], ANSWER_CAP)
            .await
            .map_err(|e| failed("the authorization server metadata", e))?;
        let metadata = json_of("the authorization server metadata", &reply)?;
        if metadata.get("issuer").and_then(Value::as_str) != Some(self.issuer) {
            return Err(failed(
                "the authorization server metadata",
                "its `issuer` is not the transmitter's; give `stream.token_endpoint`",
            ));
        }
        metadata
            .get("token_endpoint")
            .and_then(Value::as_str)
            .map(String::from)
            .ok_or_else(|| failed("the authorization server metadata", "no token_endpoint"))
    }

    /// One management call; a 401 gets one retry with a fresh token (an expired one).
    pub async fn call(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
    ) -> Result<crate::egress::Reply, SignalsError> {
        let mut fresh = false;
        loop {
            let authorization = self.authorization(fresh).await?;
            let mut headers = vec![
                ("accept", "application/json"),
                ("authorization", authorization.as_str()),
            ];
            if body.is_some() {
                headers.push(("content-type", "application/json"));
            }
            let bytes = body.map(|b| b.to_string().into_bytes());
            let reply = self
                .rx
                .egress
                .send(method.clone(), url, &headers, bytes, ANSWER_CAP)
                .await
                .map_err(|e| failed(&format!("{method} {url}"), e))?;
            let retry = reply.status == 401
                && !fresh
                && matches!(self.access, Access::ClientCredentials { .. });
            if !retry {
                return Ok(reply);
            }
            fresh = true;
        }
    }

    /// The header a poll of a managed stream sends.
    pub async fn poll_authorization(&self) -> Result<String, SignalsError> {
        self.authorization(false).await
    }

    /// Creates the stream. A transmitter that answers with another issuer, or no `aud`, gets
    /// its stream deleted again and the creation fails.
    pub async fn open(
        &self,
        request: &StreamRequest,
        delivery: Delivery<'_>,
    ) -> Result<Opened, SignalsError> {
        let metadata = self.metadata().await?;
        let configuration = metadata
            .configuration_endpoint
            .clone()
            .ok_or_else(|| failed("the metadata", "no configuration_endpoint"))?;
        let (Some(method), Some(delivery_json)) = (delivery.method(), delivery.to_json()) else {
            return Err(SignalsError::Internal);
        };
        if !metadata.delivery_methods_supported.is_empty()
            && !metadata
                .delivery_methods_supported
                .iter()
                .any(|m| m == method)
        {
            return Err(failed(
                "the metadata",
                format!("the transmitter does not deliver by {method}"),
            ));
        }
        let mut body = json!({
            "delivery": delivery_json,
            "events_requested": request.events_requested,
        });
        if let Some(description) = &request.description {
            body["description"] = json!(description);
        }
        let reply = self.call(Method::POST, &configuration, Some(&body)).await?;
        let config = json_of("creating the stream", &reply)?;
        let stream_id = config
            .get("stream_id")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("creating the stream", "no stream_id"))?
            .to_string();
        let stream = ManagedStream {
            stream_id,
            configuration_endpoint: configuration,
            status_endpoint: metadata.status_endpoint.clone(),
            verification_endpoint: metadata.verification_endpoint.clone(),
            events_requested: request.events_requested.clone(),
            events_delivered: strings(&config, "events_delivered"),
            status: "enabled".into(),
            reason: None,
            description: request.description.clone(),
            credential: request.access.shown(),
        };
        let audiences = audiences(&config);
        let issuer_matches = config.get("iss").and_then(Value::as_str) == Some(self.issuer);
        let poll_endpoint = config
            .pointer("/delivery/endpoint_url")
            .and_then(Value::as_str)
            .map(String::from);
        let poll_endpoint = poll_endpoint.filter(|_| matches!(delivery, Delivery::Poll));
        // Only a poll stream's endpoint is called from here: it must pass the egress policy.
        let refused_poll = poll_endpoint
            .as_deref()
            .and_then(|url| self.rx.egress.check(url).err())
            .map(|e| format!("the poll endpoint: {e}"));
        let problem = if !issuer_matches {
            Some("the stream names another issuer".to_string())
        } else if audiences.is_empty() {
            Some("the stream has no `aud`".to_string())
        } else if matches!(delivery, Delivery::Poll) && poll_endpoint.is_none() {
            Some("the poll stream has no `delivery.endpoint_url`".to_string())
        } else {
            refused_poll
        };
        if let Some(problem) = problem {
            // Not used, not left behind.
            let _ = self.delete(&stream).await;
            return Err(failed("creating the stream", problem));
        }
        Ok(Opened {
            stream,
            audiences,
            jwks_uri: metadata.jwks_uri,
            poll_endpoint,
        })
    }

    /// Changes the events requested, the delivery and the description (PATCH, SSF 1.0
    /// §8.1.1.3); returns the events the transmitter now delivers.
    pub async fn update(
        &self,
        stream: &ManagedStream,
        request: &StreamRequest,
        delivery: Delivery<'_>,
    ) -> Result<Vec<String>, SignalsError> {
        let mut body = json!({
            "stream_id": stream.stream_id,
            "events_requested": request.events_requested,
        });
        if let Some(delivery) = delivery.to_json() {
            body["delivery"] = delivery;
        }
        if let Some(description) = &request.description {
            body["description"] = json!(description);
        }
        let reply = self
            .call(Method::PATCH, &stream.configuration_endpoint, Some(&body))
            .await?;
        let config = json_of("updating the stream", &reply)?;
        Ok(strings(&config, "events_delivered"))
    }

    /// Sets the stream's status (`enabled` or `paused`, SSF 1.0 §8.1.2.2).
    pub async fn set_status(
        &self,
        stream: &ManagedStream,
        status: &str,
        reason: &str,
    ) -> Result<(), SignalsError> {
        let endpoint = stream
            .status_endpoint
            .as_deref()
            .ok_or_else(|| failed("the metadata", "no status_endpoint"))?;
        let body = json!({"stream_id": stream.stream_id, "status": status, "reason": reason});
        let reply = self.call(Method::POST, endpoint, Some(&body)).await?;
        json_of("setting the stream's status", &reply).map(|_| ())
    }

    /// The stream's status as the transmitter reports it.
    pub async fn status(
        &self,
        stream: &ManagedStream,
    ) -> Result<(String, Option<String>), SignalsError> {
        let endpoint = stream
            .status_endpoint
            .as_deref()
            .ok_or_else(|| failed("the metadata", "no status_endpoint"))?;
        let url = with_stream_id(endpoint, &stream.stream_id)?;
        let answer = json_of(
            "reading the stream's status",
            &self.call(Method::GET, &url, None).await?,
        )?;
        let status = answer
            .get("status")
            .and_then(Value::as_str)
            .ok_or_else(|| failed("reading the stream's status", "no status"))?;
        let reason = answer
            .get("reason")
            .and_then(Value::as_str)
            .map(String::from);
        Ok((status.to_string(), reason))
    }

    /// Asks for a verification event carrying `state` (SSF 1.0 §8.1.4.2).
    pub async fn request_verification(
        &self,
        stream: &ManagedStream,
        state: &str,
    ) -> Result<(), SignalsError> {
        let endpoint = stream
            .verification_endpoint
            .as_deref()
            .ok_or_else(|| failed("the metadata", "no verification_endpoint"))?;
        let body = json!({"stream_id": stream.stream_id, "state": state});
        let reply = self.call(Method::POST, endpoint, Some(&body)).await?;
        if reply.is_success() {
            Ok(())
        } else {
            json_of("requesting verification", &reply).map(|_| ())
        }
    }

    /// Deletes the stream; one the transmitter no longer knows (404) counts as deleted.
    pub async fn delete(&self, stream: &ManagedStream) -> Result<(), SignalsError> {
        let url = with_stream_id(&stream.configuration_endpoint, &stream.stream_id)?;
        let reply = self.call(Method::DELETE, &url, None).await?;
        if reply.is_success() || reply.status == 404 {
            Ok(())
        } else {
            Err(failed(
                "deleting the stream",
                format!("the transmitter answered {}", reply.status),
            ))
        }
    }
}

/// A new verification `state`: 128 random bits.
pub fn new_state() -> Result<String, SignalsError> {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|e| SignalsError::Randomness(e.to_string()))?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_urls_insert_the_segment_before_the_issuers_path() {
        let at = |issuer| well_known(issuer, "ssf-configuration").unwrap_or_default();
        assert_eq!(
            at("https://idp.example"),
            "https://idp.example/.well-known/ssf-configuration"
        );
        assert_eq!(
            at("https://idp.example/"),
            "https://idp.example/.well-known/ssf-configuration"
        );
        assert_eq!(
            at("https://idp.example/tenants/a"),
            "https://idp.example/.well-known/ssf-configuration/tenants/a"
        );
        assert_eq!(
            at("http://127.0.0.1:8080"),
            "http://127.0.0.1:8080/.well-known/ssf-configuration"
        );
        assert!(well_known("not a url", "x").is_err());
    }

    #[test]
    fn a_stream_id_joins_an_endpoints_own_query() {
        assert_eq!(
            with_stream_id("https://t.example/events?tenant=1", "a b").unwrap_or_default(),
            "https://t.example/events?tenant=1&stream_id=a+b"
        );
    }

    #[test]
    fn access_never_shows_or_prints_its_secret() {
        let access = Access::ClientCredentials {
            client_id: "id".into(),
            client_secret: "s3cret".into(),
            token_endpoint: None,
            scope: None,
        };
        assert!(!access.shown().to_string().contains("s3cret"));
        assert!(!format!("{access:?}").contains("s3cret"));
        let header = Access::Header {
            authorization: "Bearer t0ken".into(),
        };
        assert!(!header.shown().to_string().contains("t0ken"));
        assert!(!format!("{header:?}").contains("t0ken"));
    }
}
