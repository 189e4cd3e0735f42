//! Stream management (SSF 1.0 §8.1): create, read, update, delete, status, subjects and
//! verification. A stream belongs to the app client that created it; an admin credential
//! of the tenant may manage every stream of the tenant.

use serde_json::{Value, json};

use super::provisioning_events;
use super::sets::{self, SUPPORTED};
use super::{POLL, PUSH, Transmitter};
use crate::access::credentials::{Caller, CredentialKind};
use crate::egress::Destinations;
use crate::signals::SignalsError;
use crate::store::ssf::{self as rows, QueuedRow, StreamRow};
use crate::store::{AnyConnection, outbox, to_stored, users};

fn bad(detail: &str) -> SignalsError {
    SignalsError::InvalidValue(detail.to_string())
}

fn stream_id(body: &Value) -> Result<&str, SignalsError> {
    body.get("stream_id")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("`stream_id` is required"))
}

impl Transmitter {
    /// The stream's configuration as SSF describes it.
    pub fn describe(&self, stream: &StreamRow) -> Value {
        let requested: Vec<String> =
            serde_json::from_str(&stream.events_requested).unwrap_or_default();
        let delivered: Vec<&String> = requested
            .iter()
            .filter(|e| SUPPORTED.contains(&e.as_str()))
            .collect();
        let endpoint = match stream.delivery_method.as_str() {
            POLL => Some(format!("{}/ssf/poll/{}", self.issuer, stream.id)),
            _ => stream.endpoint_url.clone(),
        };
        json!({
            "stream_id": stream.id,
            "iss": self.issuer,
            "aud": stream.audience,
            "delivery": {"method": stream.delivery_method, "endpoint_url": endpoint},
            "events_supported": SUPPORTED,
            "events_requested": requested,
            "events_delivered": delivered,
            "description": stream.description,
        })
    }

    /// A stream of the caller's tenant that the caller may manage.
    fn owned(
        &self,
        conn: &mut AnyConnection,
        caller: &Caller,
        id: &str,
    ) -> Result<StreamRow, SignalsError> {
        let stream = rows::get_for_update(conn, &caller.tenant_id, id)?
            .ok_or_else(|| SignalsError::NotFound(format!("no stream `{id}`")))?;
        if caller.kind != CredentialKind::Admin && stream.client_id != caller.client_id {
            return Err(SignalsError::Forbidden(
                "this stream belongs to another client".into(),
            ));
        }
        Ok(stream)
    }

    pub fn create_stream(&self, caller: &Caller, body: &Value) -> Result<Value, SignalsError> {
        let now = to_stored(self.clock.now());
        let mut stream = StreamRow {
            id: uuid::Uuid::now_v7().to_string(),
            tenant_id: caller.tenant_id.clone(),
            client_id: caller.client_id.clone(),
            audience: caller.client_id.clone(),
            delivery_method: POLL.to_string(),
            endpoint_url: None,
            authorization_header: None,
            events_requested: "[]".into(),
            description: None,
            status: "enabled".into(),
            status_reason: None,
            default_subjects: "ALL".into(),
            cursor: 0,
            created: now,
            updated: now,
        };
        apply_config(&mut stream, body, self)?;
        full_events_need_an_admin(caller, &stream)?;
        self.store.write(|conn| {
            // A new stream carries what happens from now on.
            stream.cursor = outbox::head(conn, &caller.tenant_id)?;
            rows::insert(conn, &stream)?;
            Ok::<_, SignalsError>(())
        })?;
        Ok(self.describe(&stream))
    }

    /// The provisioning events a tenant can receive, for `ServiceProviderConfig`'s
    /// `securityEvents` (RFC 9967 §4), or `None` while the tenant has no stream: the RFC reads
    /// an absent attribute as "not currently configured for Security Events", and strict SCIM
    /// clients that do not know the attribute keep working for tenants that do not use it.
    pub fn security_event_uris(
        &self,
        tenant_id: &str,
    ) -> Result<Option<&'static [&'static str]>, SignalsError> {
        let streams = self.store.read(|conn| rows::count(conn, tenant_id))?;
        Ok((streams > 0).then_some(&provisioning_events::URIS[..]))
    }

    /// One stream, or every stream the caller may manage.
    pub fn read_streams(&self, caller: &Caller, id: Option<&str>) -> Result<Value, SignalsError> {
        match id {
            Some(id) => self
                .store
                .write(|conn| Ok(self.describe(&self.owned(conn, caller, id)?))),
            None => {
                let owner =
                    (caller.kind != CredentialKind::Admin).then_some(caller.client_id.as_str());
                let streams = self
                    .store
                    .read(|conn| rows::list(conn, &caller.tenant_id, owner))?;
                Ok(Value::Array(
                    streams.iter().map(|s| self.describe(s)).collect(),
                ))
            }
        }
    }

    /// PATCH (the fields given) or PUT (the whole configuration) of a stream.
    pub fn update_stream(
        &self,
        caller: &Caller,
        body: &Value,
        replace: bool,
    ) -> Result<Value, SignalsError> {
        let id = stream_id(body)?;
        self.store.write(|conn| {
            let mut stream = self.owned(conn, caller, id)?;
            if replace {
                stream.events_requested = "[]".into();
                stream.description = None;
            }
            apply_config(&mut stream, body, self)?;
            full_events_need_an_admin(caller, &stream)?;
            stream.updated = to_stored(self.clock.now());
            rows::update(conn, &stream)?;
            Ok(self.describe(&stream))
        })
    }

    pub fn delete_stream(&self, caller: &Caller, id: &str) -> Result<(), SignalsError> {
        self.store.write(|conn| {
            self.owned(conn, caller, id)?;
            rows::delete(conn, &caller.tenant_id, id)?;
            Ok(())
        })
    }

    pub fn status(&self, caller: &Caller, id: &str) -> Result<Value, SignalsError> {
        self.store.write(|conn| {
            let stream = self.owned(conn, caller, id)?;
            Ok(json!({"stream_id": stream.id, "status": stream.status, "reason": stream.status_reason}))
        })
    }

    /// Sets `enabled`, `paused` (events are kept for later) or `disabled` (events are dropped).
    pub fn set_status(&self, caller: &Caller, body: &Value) -> Result<Value, SignalsError> {
        let id = stream_id(body)?;
        let status = body
            .get("status")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if !matches!(status, "enabled" | "paused" | "disabled") {
            return Err(bad("`status` is enabled, paused or disabled"));
        }
        self.store.write(|conn| {
            let mut stream = self.owned(conn, caller, id)?;
            stream.status = status.to_string();
            stream.status_reason = body.get("reason").and_then(Value::as_str).map(String::from);
            stream.updated = to_stored(self.clock.now());
            rows::update(conn, &stream)?;
            Ok(json!({"stream_id": stream.id, "status": stream.status, "reason": stream.status_reason}))
        })
    }

    /// Adds or removes a subject. With subjects added, a stream's default stays `ALL`; adding
    /// subjects narrows it to them. An unknown subject is accepted and ignored, so the API
    /// does not tell who exists.
    pub fn subject(&self, caller: &Caller, body: &Value, add: bool) -> Result<(), SignalsError> {
        let id = stream_id(body)?;
        let subject = body
            .get("subject")
            .ok_or_else(|| bad("`subject` is required"))?;
        self.store.write(|conn| {
            let mut stream = self.owned(conn, caller, id)?;
            let Some(user_id) = self.resolve(conn, &caller.tenant_id, subject)? else {
                return Ok(());
            };
            if add {
                rows::add_subject(conn, &stream.id, &user_id)?;
                if stream.default_subjects != "NONE" {
                    stream.default_subjects = "NONE".into();
                    rows::update(conn, &stream)?;
                }
            } else {
                rows::remove_subject(conn, &stream.id, &user_id)?;
            }
            Ok(())
        })
    }

    /// The user an RFC 9493 subject names: `iss_sub` (our issuer), `opaque` (the user id),
    /// `email` (the userName), or the `user` of a `complex` subject.
    fn resolve(
        &self,
        conn: &mut AnyConnection,
        tenant_id: &str,
        subject: &Value,
    ) -> Result<Option<String>, SignalsError> {
        let text = |name: &str| {
            subject
                .get(name)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        let by_id = |conn: &mut AnyConnection, id: &str| -> Result<Option<String>, SignalsError> {
            Ok(users::get(conn, tenant_id, id)?.map(|u| u.id))
        };
        match subject.get("format").and_then(Value::as_str) {
            Some("iss_sub") if text("iss") == self.issuer => by_id(conn, &text("sub")),
            Some("iss_sub") => Ok(None),
            Some("opaque") => by_id(conn, &text("id")),
            Some("email") => {
                let key = crate::text::fold(&text("email"));
                Ok(
                    users::find_by(conn, tenant_id, users::UserColumn::UserNameKey, &key)?
                        .first()
                        .map(|u| u.id.clone()),
                )
            }
            Some("complex") => match subject.get("user") {
                Some(user) => self.resolve(conn, tenant_id, user),
                None => Ok(None),
            },
            _ => Err(bad(
                "subject format must be iss_sub, opaque, email or complex",
            )),
        }
    }

    /// Queues a verification event for the stream, echoing `state`.
    pub fn verify(&self, caller: &Caller, body: &Value) -> Result<(), SignalsError> {
        let id = stream_id(body)?;
        let state = body.get("state").and_then(Value::as_str);
        let now = self.clock.now();
        self.store.write(|conn| {
            let stream = self.owned(conn, caller, id)?;
            let jti = uuid::Uuid::now_v7().to_string();
            let claims = sets::verification(
                &self.issuer,
                &stream.audience,
                &stream.id,
                state,
                &jti,
                now.timestamp(),
            );
            let token = self
                .keys
                .sign(sets::SET_TYP, &claims, now)
                .map_err(|_| SignalsError::Internal)?;
            let queued = QueuedRow::new(&stream.id, jti, stream.cursor, token, to_stored(now));
            rows::enqueue(conn, &[queued])?;
            self.store.ring();
            Ok(())
        })
    }
}

/// RFC 9967's `full` events carry the resource as written (names, addresses): the user
/// directory. An app client reads revocations, not the directory, so only a stream an admin
/// credential owns may ask for them; `notice` events (ids and attribute names) are for all.
fn full_events_need_an_admin(caller: &Caller, stream: &StreamRow) -> Result<(), SignalsError> {
    let requested: Vec<String> = serde_json::from_str(&stream.events_requested).unwrap_or_default();
    let full = requested
        .iter()
        .any(|uri| provisioning_events::is_provisioning(uri) && uri.ends_with(":full"));
    let admin_owned = caller.kind == CredentialKind::Admin && stream.client_id == caller.client_id;
    if full && !admin_owned {
        return Err(SignalsError::Forbidden(
            "`full` provisioning events carry the user directory: only a stream of an admin credential may ask for them (`notice` events are open to app clients)".into(),
        ));
    }
    Ok(())
}

/// Applies a stream configuration from a create, update or replace request. A push endpoint
/// must pass the destination policy: `https`, and not an internal address unless the admin
/// allow-listed it (checked again, once resolved, at each delivery). The receiver's
/// `authorization_header` is stored sealed.
fn apply_config(
    stream: &mut StreamRow,
    body: &Value,
    transmitter: &Transmitter,
) -> Result<(), SignalsError> {
    let destinations: &Destinations = transmitter.egress.destinations();
    if let Some(delivery) = body.get("delivery") {
        let method = delivery
            .get("method")
            .and_then(Value::as_str)
            .unwrap_or(POLL);
        match method {
            PUSH => {
                let url = delivery
                    .get("endpoint_url")
                    .and_then(Value::as_str)
                    .ok_or_else(|| bad("push delivery needs an `endpoint_url`"))?;
                destinations
                    .check_url(url)
                    .map_err(|e| bad(&format!("`endpoint_url`: {e}")))?;
                stream.endpoint_url = Some(url.to_string());
                let place = super::authorization_place(&stream.id, Some(url));
                stream.authorization_header = delivery
                    .get("authorization_header")
                    .and_then(Value::as_str)
                    .map(|header| transmitter.sealer.seal(header, &place))
                    .transpose()
                    .map_err(|e| SignalsError::Randomness(e.to_string()))?;
            }
            POLL => {
                stream.endpoint_url = None;
                stream.authorization_header = None;
            }
            other => return Err(bad(&format!("delivery method `{other}` is not supported"))),
        }
        stream.delivery_method = method.to_string();
    }
    if let Some(requested) = body.get("events_requested") {
        let requested: Vec<&str> = requested
            .as_array()
            .ok_or_else(|| bad("`events_requested` is an array of event type URIs"))?
            .iter()
            .filter_map(Value::as_str)
            .collect();
        stream.events_requested = json!(requested).to_string();
    }
    if let Some(description) = body.get("description").and_then(Value::as_str) {
        stream.description = Some(description.to_string());
    }
    Ok(())
}
