//! One trial: a user is provisioned and gets a token the app accepts; the trigger is sent to
//! the writer, and the app (one of the deployment's protected apps, by its `/me`) is asked
//! again and again until it refuses the token.

use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

use crate::deployment::Deployment;

pub const ISSUER: &str = "https://idp.bench.test";
pub const AUDIENCE: &str = "scimitar-bench";

/// One trial's times, from sending the trigger.
#[derive(Debug, Clone, Copy)]
pub struct Trial {
    /// Until the app's first 401 for the token.
    pub refused: Duration,
    /// Until the trigger's own answer (its commit included).
    pub answered: Duration,
}

#[derive(Debug, Clone, Copy)]
pub enum Trigger {
    /// SCIM PATCH `active: false`.
    Scim,
    /// `POST /oauth2/global-token-revocation` with the SCIM credential.
    Gtr,
    /// A pushed CAEP `session-revoked` SET.
    Set,
}

impl Trigger {
    pub fn name(self) -> &'static str {
        match self {
            Trigger::Scim => "SCIM deactivation",
            Trigger::Gtr => "Global Token Revocation",
            Trigger::Set => "pushed SET (session-revoked)",
        }
    }
}

/// The transmitter's ES256 key.
pub struct Signer {
    pem: String,
    pub jwk: Value,
}

impl Signer {
    pub fn new() -> Self {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).expect("EC key");
        let raw = pair.public_key_raw();
        let (x, y) = raw[1..].split_at(32);
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        Self {
            pem: pair.serialize_pem(),
            jwk: json!({"kty": "EC", "crv": "P-256", "x": b64(x), "y": b64(y), "kid": "bench-1", "alg": "ES256"}),
        }
    }

    fn session_revoked(&self, jti: &str, external_id: &str) -> String {
        let now = chrono::Utc::now().timestamp();
        let claims = json!({
            "iss": ISSUER, "aud": AUDIENCE, "jti": jti, "iat": now,
            "sub_id": {"format": "iss_sub", "iss": ISSUER, "sub": external_id},
            "events": {"https://schemas.openid.net/secevent/caep/event-type/session-revoked": {"event_timestamp": now}},
        });
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::ES256);
        header.kid = Some("bench-1".into());
        header.typ = Some("secevent+jwt".into());
        let key = jsonwebtoken::EncodingKey::from_ec_pem(self.pem.as_bytes()).expect("key");
        jsonwebtoken::encode(&header, &claims, &key).expect("sign")
    }
}

impl Deployment {
    /// `samples` trials of `trigger`, asking the app at `me`.
    pub async fn measure(&self, trigger: Trigger, me: &str, samples: usize) -> Vec<Trial> {
        let mut latencies = Vec::with_capacity(samples);
        for i in 0..samples {
            latencies.push(self.trial(trigger, i, me).await);
        }
        latencies
    }

    async fn trial(&self, trigger: Trigger, i: usize, me: &str) -> Trial {
        let (client, writer) = (&self.client, &self.writer);
        let external_id = format!("ext-{}", uuid::Uuid::new_v4().simple());
        let created: Value = client
            .post(format!("{writer}/scim/v2/Users"))
            .bearer_auth(&self.scim_token)
            .header("content-type", "application/scim+json")
            .body(json!({"userName": format!("{external_id}@example.com"), "externalId": external_id}).to_string())
            .send()
            .await
            .expect("create")
            .json()
            .await
            .expect("json");
        let user = created["id"].as_str().expect("id").to_string();
        let form = serde_urlencoded::to_string([
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", user.as_str()),
            (
                "subject_token_type",
                "urn:scimitar:params:oauth:token-type:scim-user",
            ),
        ])
        .expect("form");
        let issued: Value = client
            .post(format!("{writer}/oauth2/token"))
            .basic_auth(&self.app_id, Some(&self.app_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form)
            .send()
            .await
            .expect("token")
            .json()
            .await
            .expect("json");
        let access = issued["access_token"]
            .as_str()
            .expect("access token")
            .to_string();
        // The app accepts the fresh token (on replicas, once the follower serves its key).
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let status = client
                .get(me)
                .bearer_auth(&access)
                .send()
                .await
                .expect("GET");
            if status.status() == 200 {
                break;
            }
            assert!(Instant::now() < deadline, "the app accepts a fresh token");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let request = match trigger {
            Trigger::Scim => {
                let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                    "Operations": [{"op": "replace", "path": "active", "value": false}]});
                client
                    .patch(format!("{writer}/scim/v2/Users/{user}"))
                    .bearer_auth(&self.scim_token)
                    .header("content-type", "application/scim+json")
                    .body(patch.to_string())
            }
            Trigger::Gtr => client
                .post(format!("{writer}/oauth2/global-token-revocation"))
                .bearer_auth(&self.scim_token)
                .header("content-type", "application/json")
                .body(json!({"sub_id": {"format": "opaque", "id": user}}).to_string()),
            Trigger::Set => client
                .post(&self.push_url)
                .header("authorization", &self.push_auth)
                .header("content-type", "application/secevent+jwt")
                .body(
                    self.signer
                        .session_revoked(&format!("bench-{i}-{external_id}"), &external_id),
                ),
        };
        let started = Instant::now();
        let sent = async {
            let response = request.send().await;
            (response, started.elapsed())
        };
        // The app is asked again and again until it refuses, the asker resting
        // `GUARD_POLL_PAUSE_MS` (1 ms by default) between requests so that it and the app do
        // not take both cores from the server and the database; the resolution is one request
        // plus the pause.
        let pause = poll_pause();
        let refused = async {
            loop {
                let response = client
                    .get(me)
                    .bearer_auth(&access)
                    .send()
                    .await
                    .expect("GET");
                if response.status() == 401 {
                    return started.elapsed();
                }
                if let Some(pause) = pause {
                    tokio::time::sleep(pause).await;
                }
            }
        };
        let ((response, answered), latency) =
            tokio::join!(sent, tokio::time::timeout(Duration::from_secs(10), refused));
        let response = response.expect("trigger");
        assert!(
            response.status().is_success(),
            "{}: {}",
            trigger.name(),
            response.status()
        );
        Trial {
            refused: latency.expect("the app refuses within 10 s"),
            answered,
        }
    }
}

/// `GUARD_POLL_PAUSE_MS`: the asker's rest between two requests to the app (1 ms by
/// default; 0 asks back to back, as the first version of this bench did).
fn poll_pause() -> Option<Duration> {
    let ms = std::env::var("GUARD_POLL_PAUSE_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(1);
    (ms > 0).then(|| Duration::from_millis(ms))
}
