//! Every request Scimitar sends out (push delivery of Security Event Tokens, a receiver's key
//! set and poll, a Global Token Revocation caller's key set) goes through one client with a
//! destination policy, so that nobody who can name a URL (an app creating a push stream, an
//! admin configuring a receiver) can make Scimitar reach what only Scimitar can reach:
//!
//! - `https` only, unless the destination is in the admin's allow-list (`outbound_allow`);
//! - loopback, private, link-local (cloud metadata), shared, multicast and reserved
//!   addresses are refused after DNS resolution, unless allow-listed; the connection goes to
//!   the address that was checked (the policy is the client's resolver), so a name that
//!   resolves differently a moment later (DNS rebinding) cannot switch it;
//! - redirects are not followed, proxies from the environment are not used, and response
//!   bodies are read up to a cap.
//!
//! `keys` caches the key sets fetched through it.

pub mod keys;
mod policy;

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;

pub use policy::{Destinations, PolicyError};

/// Largest response body read by default (a key set, a poll answer).
pub const DEFAULT_BODY_CAP: usize = 1024 * 1024;

/// Why an outbound request did not get an answer.
#[derive(Debug, thiserror::Error)]
pub enum EgressError {
    /// The destination policy refused the URL or every address it resolves to.
    #[error("destination refused: {0}")]
    Refused(String),
    /// Connecting, sending or reading failed (including timeouts).
    #[error("{0}")]
    Failed(String),
    /// The response body is larger than the cap.
    #[error("the response is larger than {0} bytes")]
    TooLarge(usize),
}

/// An answer: its status and body (read up to the cap).
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn is_success(&self) -> bool {
        (200..300).contains(&self.status)
    }
}

/// The outbound HTTP client. Cheap to clone; the clients are built on first use (loading the
/// system's certificate roots costs tens of milliseconds).
#[derive(Clone)]
pub struct Egress {
    destinations: Arc<Destinations>,
    timeout: Duration,
    public: Arc<std::sync::OnceLock<reqwest::Client>>,
    internal: Arc<std::sync::OnceLock<reqwest::Client>>,
}

impl std::fmt::Debug for Egress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Egress")
            .field("destinations", &self.destinations)
            .finish_non_exhaustive()
    }
}

impl Egress {
    pub fn new(destinations: Destinations, timeout: Duration) -> Self {
        Self {
            destinations: Arc::new(destinations),
            timeout,
            public: Arc::default(),
            internal: Arc::default(),
        }
    }

    pub fn destinations(&self) -> &Destinations {
        &self.destinations
    }

    /// Checks a URL before it is stored (a push endpoint, a key set's URI): the scheme, and
    /// an address given literally. Names are checked again at each request, once resolved.
    pub fn check(&self, url: &str) -> Result<Url, EgressError> {
        self.destinations
            .check_url(url)
            .map_err(|e| EgressError::Refused(e.to_string()))
    }

    /// `GET url`, reading at most `cap` bytes of the answer.
    pub async fn get(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        cap: usize,
    ) -> Result<Reply, EgressError> {
        self.send(reqwest::Method::GET, url, headers, None, cap)
            .await
    }

    /// `POST url` with `body`, reading at most `cap` bytes of the answer.
    pub async fn post(
        &self,
        url: &str,
        headers: &[(&str, &str)],
        body: Vec<u8>,
        cap: usize,
    ) -> Result<Reply, EgressError> {
        self.send(reqwest::Method::POST, url, headers, Some(body), cap)
            .await
    }

    /// Any method, for stream management at another transmitter (PATCH, DELETE, …).
    pub async fn send(
        &self,
        method: reqwest::Method,
        url: &str,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
        cap: usize,
    ) -> Result<Reply, EgressError> {
        let url = self.check(url)?;
        let client = self.client_for(&url);
        let mut request = client.request(method, url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        if let Some(body) = body {
            request = request.body(body);
        }
        let mut response = request.send().await.map_err(failed)?;
        let status = response.status().as_u16();
        if response
            .content_length()
            .is_some_and(|length| length > cap as u64)
        {
            return Err(EgressError::TooLarge(cap));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(failed)? {
            if body.len() + chunk.len() > cap {
                return Err(EgressError::TooLarge(cap));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Reply { status, body })
    }

    /// `https` goes through the public client, which reaches public and allow-listed
    /// addresses; plain `http` (allowed only towards allow-listed destinations) through one
    /// that reaches allow-listed addresses alone.
    fn client_for(&self, url: &Url) -> &reqwest::Client {
        let (cell, internal_only) = match url.scheme() {
            "https" => (&self.public, false),
            _ => (&self.internal, true),
        };
        cell.get_or_init(|| {
            let resolver = policy::Resolver::new(self.destinations.clone(), internal_only);
            reqwest::Client::builder()
                .timeout(self.timeout)
                .connect_timeout(self.timeout.min(Duration::from_secs(5)))
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .dns_resolver(Arc::new(resolver))
                .build()
                .unwrap_or_default()
        })
    }
}

/// A transport error in words, with the destination policy's refusal kept readable.
fn failed(error: reqwest::Error) -> EgressError {
    let mut source: Option<&dyn std::error::Error> = Some(&error);
    while let Some(cause) = source {
        if let Some(refused) = cause.downcast_ref::<PolicyError>() {
            return EgressError::Refused(refused.to_string());
        }
        source = cause.source();
    }
    EgressError::Failed(error.to_string())
}
