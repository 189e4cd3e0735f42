//! A receiver's life as the admin API drives it: created, replaced, verified and deleted. A
//! manual receiver is a row; a managed one (`stream` given) also owns a stream at its
//! transmitter, which Scimitar creates first (learning its `aud`, keys and poll endpoint),
//! then stores, then asks to verify; a replacement updates, pauses or resumes that stream, and
//! a deletion deletes it. Transmitter calls run on the async task, database work on
//! blocking threads; a failure to reach the transmitter is recorded as the receiver's last
//! error. Each call has the egress timeout, and the whole conversation has deadlines
//! (`OPEN_DEADLINE`, `VERIFY_DEADLINE`) well inside the request's own, so a slow transmitter
//! gets the admin a 502 that says so, never a request cut off half way.

use chrono::{DateTime, Utc};
use serde_json::{Value, json};

use super::manage::{self, ChangedBy};
use super::settings::{self, Request};
use super::stream_control::{self, Delivery, ManagedStream, Opened, Transmitter};
use super::{POLL, PUSH, Receiver, blocking};
use crate::audit::{Actor, RequestInfo};
use crate::signals::SignalsError;
use crate::store::receivers::{self as rows, ReceiverRow};
use crate::store::to_stored;

/// The longest the transmitter may take to create a stream (metadata, token, creation).
const OPEN_DEADLINE: std::time::Duration = std::time::Duration::from_secs(25);
/// The longest asking for a verification and reading the stream's status may take; past it
/// the receiver stays, with the timeout as its last error.
const VERIFY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(15);

fn too_slow(what: &str, deadline: std::time::Duration) -> SignalsError {
    SignalsError::Transmitter(format!(
        "the transmitter did not complete {what} within {} s",
        deadline.as_secs()
    ))
}

/// Who asks for a change, owned so it can cross to a blocking thread.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: Actor,
    pub request: RequestInfo,
}

impl Change {
    fn by(&self) -> ChangedBy<'_> {
        ChangedBy {
            actor: &self.actor,
            request: &self.request,
        }
    }
}

fn invalid(why: &str) -> SignalsError {
    SignalsError::InvalidValue(why.to_string())
}

impl Receiver {
    async fn store_work<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Receiver) -> Result<T, SignalsError> + Send + 'static,
    ) -> Result<T, SignalsError> {
        let this = self.clone();
        blocking(move || work(&this)).await
    }

    /// Creates a receiver; a push receiver's secret comes back once. `push_base` is the URL
    /// its transmitter pushes to, without the receiver's id.
    pub async fn create_receiver(
        &self,
        tenant_id: &str,
        body: &Value,
        change: Change,
        push_base: &str,
    ) -> Result<(ReceiverRow, Option<String>), SignalsError> {
        let request = settings::parse(body, self.egress.destinations())?;
        let now = self.clock.now();
        let mut row = manage::new_row(uuid::Uuid::now_v7().to_string(), tenant_id, now);
        manage::fill(&mut row, &request, &self.sealer)?;
        let secret = match request.method.as_str() {
            PUSH => {
                let (secret, digest) = manage::new_push_secret()?;
                row.push_secret_digest = Some(digest);
                Some(secret)
            }
            _ => None,
        };
        let Some(partial) = request.stream.clone() else {
            let stored = row.clone();
            self.store_work(move |rx| manage::insert(&rx.store, &stored, change.by(), now))
                .await?;
            return Ok((row, secret));
        };
        let stream_request = partial.with_access(None)?;
        let access = stream_request.access.clone();
        let (id, issuer) = (row.id.clone(), row.issuer.clone());
        let transmitter = Transmitter {
            rx: self,
            receiver_id: &id,
            issuer: &issuer,
            access: &access,
        };
        let push_url = format!("{push_base}/{id}");
        let authorization = secret.as_deref().map(manage::push_authorization);
        let delivery = match &authorization {
            Some(header) => Delivery::Push {
                endpoint_url: &push_url,
                authorization_header: header,
            },
            None => Delivery::Poll,
        };
        let opened =
            tokio::time::timeout(OPEN_DEADLINE, transmitter.open(&stream_request, delivery))
                .await
                .map_err(|_| too_slow("the stream's creation", OPEN_DEADLINE))??;
        if let Err(error) = learn(&mut row, &request, opened, self) {
            let _ = transmitter
                .delete(&ManagedStream::of(&row).unwrap_or_default())
                .await;
            return Err(error);
        }
        row.stream_credential = Some(stream_control::seal_access(
            &self.sealer,
            &row.id,
            &row.issuer,
            &access,
        )?);
        let stored = row.clone();
        let inserted = self
            .store_work(move |rx| manage::insert(&rx.store, &stored, change.by(), now))
            .await;
        if let Err(error) = inserted {
            // Not stored, so not left behind at the transmitter either.
            if let Some(stream) = ManagedStream::of(&row) {
                let _ = transmitter.delete(&stream).await;
            }
            return Err(error);
        }
        let row = self.verify_stream(row, &access).await?;
        Ok((row, secret))
    }

    /// Asks a managed receiver's transmitter for a verification event (with a new `state`,
    /// stored first so a fast answer finds it) and reads the stream's status; a failure is
    /// recorded as the receiver's last error, not returned.
    async fn verify_stream(
        &self,
        mut row: ReceiverRow,
        access: &stream_control::Access,
    ) -> Result<ReceiverRow, SignalsError> {
        let Some(mut stream) = ManagedStream::of(&row) else {
            return Ok(row);
        };
        let transmitter = Transmitter {
            rx: self,
            receiver_id: &row.id,
            issuer: &row.issuer,
            access,
        };
        let now = self.clock.now();
        let state = stream_control::new_state()?;
        let (id, tenant, expected) = (row.id.clone(), row.tenant_id.clone(), state.clone());
        self.store_work(move |rx| {
            Ok(rx.store.write(|conn| {
                rows::expect_verification(conn, &tenant, &id, &expected, to_stored(now))
            })?)
        })
        .await?;
        row.verification_state = Some(state.clone());
        row.verification_requested = Some(to_stored(now));
        let conversation = async {
            let asked = transmitter.request_verification(&stream, &state).await;
            let status = if stream.status_endpoint.is_some() {
                transmitter.status(&stream).await.map(Some)
            } else {
                Ok(None)
            };
            (asked, status)
        };
        let (asked, status) = tokio::time::timeout(VERIFY_DEADLINE, conversation)
            .await
            .unwrap_or_else(|_| (Err(too_slow("the verification", VERIFY_DEADLINE)), Ok(None)));
        let failure = match (asked, status) {
            (Err(error), _) | (_, Err(error)) => Some(error.to_string()),
            (Ok(()), Ok(Some((status, reason)))) => {
                stream.status = status;
                stream.reason = reason;
                None
            }
            (Ok(()), Ok(None)) => None,
        };
        row.stream = Some(stream.stored());
        let (stored, error) = (row.clone(), failure.clone());
        self.store_work(move |rx| {
            Ok(rx.store.write(|conn| {
                rows::set_stream(conn, &stored)?;
                if let Some(error) = &error {
                    rows::note_error(conn, &stored.tenant_id, &stored.id, error, to_stored(now))?;
                }
                Ok::<_, crate::store::StoreError>(())
            })?)
        })
        .await?;
        if let Some(error) = failure {
            row.last_error = Some(error);
            row.last_error_at = Some(to_stored(now));
        }
        Ok(row)
    }

    /// `POST /admin/v1/signal-receivers/{id}/verify`: a new verification of a managed stream.
    pub async fn reverify(&self, tenant_id: &str, id: &str) -> Result<ReceiverRow, SignalsError> {
        let (tenant, key) = (tenant_id.to_string(), id.to_string());
        let row = self
            .store_work(move |rx| manage::get(&rx.store, &tenant, &key))
            .await?;
        let access = stream_control::open_access(&self.sealer, &row)?
            .ok_or_else(|| invalid("this receiver does not manage a stream at its transmitter"))?;
        self.verify_stream(row, &access).await
    }

    /// Replaces a receiver's configuration. A push receiver keeps its secret (a new one comes
    /// back with `rotate_secret`, or when a poll receiver becomes a push one). A managed
    /// receiver's stream is updated at its transmitter, and paused or resumed with `enabled`.
    pub async fn replace_receiver(
        &self,
        tenant_id: &str,
        id: &str,
        body: &Value,
        change: Change,
        push_base: &str,
    ) -> Result<(ReceiverRow, Option<String>), SignalsError> {
        let request = settings::parse(body, self.egress.destinations())?;
        let rotate = body.get("rotate_secret").and_then(Value::as_bool) == Some(true);
        let (tenant, key) = (tenant_id.to_string(), id.to_string());
        let existing = self
            .store_work(move |rx| manage::get(&rx.store, &tenant, &key))
            .await?;
        let now = self.clock.now();
        let mut row = existing.clone();
        let secret = match (request.method.as_str(), &row.push_secret_digest) {
            (PUSH, Some(_)) if !rotate => None,
            (PUSH, _) => Some(manage::new_push_secret()?),
            _ => None,
        };
        manage::fill(&mut row, &request, &self.sealer)?;
        if request.method == POLL {
            row.push_secret_digest = None;
        } else if let Some((_, digest)) = &secret {
            row.push_secret_digest = Some(digest.clone());
        }
        row.updated = to_stored(now);
        let secret = secret.map(|(secret, _)| secret);
        let extra = match (ManagedStream::of(&existing), request.stream.clone()) {
            (None, None) => json!({}),
            (None, Some(_)) => {
                return Err(invalid(
                    "a receiver that was configured by hand cannot take over a stream: create a new receiver with `stream`",
                ));
            }
            (Some(_), None) => {
                return Err(invalid(
                    "this receiver manages a stream at its transmitter: keep `stream` (deleting the receiver deletes the stream)",
                ));
            }
            (Some(stream), Some(partial)) => {
                self.update_stream(
                    &existing,
                    &mut row,
                    stream,
                    partial,
                    &request,
                    secret.as_deref(),
                    push_base,
                )
                .await?
            }
        };
        let stored = row.clone();
        self.store_work(move |rx| {
            manage::save(
                &rx.store,
                &stored,
                "signal_receiver.replace",
                change.by(),
                now,
                extra,
            )
        })
        .await?;
        Ok((row, secret))
    }

    /// The transmitter's half of replacing a managed receiver; returns the audit details.
    #[allow(clippy::too_many_arguments)]
    async fn update_stream(
        &self,
        existing: &ReceiverRow,
        row: &mut ReceiverRow,
        mut stream: ManagedStream,
        partial: settings::PartialStream,
        request: &Request,
        new_secret: Option<&str>,
        push_base: &str,
    ) -> Result<Value, SignalsError> {
        if request.issuer != existing.issuer {
            return Err(invalid(
                "a managed receiver's issuer cannot change: create a receiver for the new transmitter",
            ));
        }
        if request.method != existing.delivery_method {
            return Err(invalid(
                "a managed receiver's delivery method cannot change: create a new receiver",
            ));
        }
        let stored_access = stream_control::open_access(&self.sealer, existing)?;
        let stream_request = partial.with_access(stored_access)?;
        let access = stream_request.access.clone();
        let transmitter = Transmitter {
            rx: self,
            receiver_id: &existing.id,
            issuer: &existing.issuer,
            access: &access,
        };
        // The learned parts stay: the transmitter's audience, keys and poll endpoint.
        row.audiences = existing.audiences.clone();
        row.poll_endpoint = existing.poll_endpoint.clone();
        if request.jwks_uri.is_none() && request.jwks.is_none() {
            row.jwks_uri = existing.jwks_uri.clone();
        }
        let changed = stream.events_requested != stream_request.events_requested
            || stream.description != stream_request.description
            || new_secret.is_some();
        if changed {
            let push_url = format!("{push_base}/{}", row.id);
            let authorization = new_secret.map(manage::push_authorization);
            let delivery = match (&authorization, request.method.as_str()) {
                (Some(header), _) => Delivery::Push {
                    endpoint_url: &push_url,
                    authorization_header: header,
                },
                (None, PUSH) => {
                    // The transmitter keeps the header it has; PATCH leaves `delivery` out.
                    Delivery::Unchanged
                }
                _ => Delivery::Poll,
            };
            stream.events_delivered = transmitter
                .update(&stream, &stream_request, delivery)
                .await?;
            stream.events_requested = stream_request.events_requested.clone();
            stream.description = stream_request.description.clone();
        }
        let status = match (existing.enabled, request.enabled) {
            (true, false) => Some("paused"),
            (false, true) => Some("enabled"),
            _ => None,
        };
        if let Some(status) = status {
            transmitter
                .set_status(&stream, status, "changed by the receiver's administrator")
                .await?;
            stream.status = status.to_string();
            stream.reason = None;
        }
        stream.credential = access.shown();
        row.stream = Some(stream.stored());
        row.stream_credential = Some(stream_control::seal_access(
            &self.sealer,
            &row.id,
            &row.issuer,
            &access,
        )?);
        Ok(json!({"stream_updated": changed, "stream_status": status}))
    }

    /// Deletes a receiver. A managed receiver's stream is deleted at its transmitter first;
    /// if that fails the receiver is still deleted (its pushes are refused from now on), and
    /// the audit record says so.
    pub async fn delete_receiver(
        &self,
        tenant_id: &str,
        id: &str,
        change: Change,
    ) -> Result<(), SignalsError> {
        let (tenant, key) = (tenant_id.to_string(), id.to_string());
        let row = self
            .store_work(move |rx| manage::get(&rx.store, &tenant, &key))
            .await?;
        let extra = match ManagedStream::of(&row) {
            None => json!({}),
            Some(stream) => {
                let deleted = match stream_control::open_access(&self.sealer, &row)? {
                    Some(access) => {
                        let transmitter = Transmitter {
                            rx: self,
                            receiver_id: &row.id,
                            issuer: &row.issuer,
                            access: &access,
                        };
                        transmitter.delete(&stream).await
                    }
                    None => Err(invalid("no stream credential")),
                };
                self.stream_tokens.forget(&row.id);
                match deleted {
                    Ok(()) => json!({"stream_deleted": true}),
                    Err(error) => {
                        json!({"stream_deleted": false, "stream_error": error.to_string()})
                    }
                }
            }
        };
        let now: DateTime<Utc> = self.clock.now();
        self.store_work(move |rx| manage::delete(&rx.store, &row, change.by(), now, extra))
            .await
    }
}

/// Writes what creating the stream taught into the row.
fn learn(
    row: &mut ReceiverRow,
    request: &Request,
    opened: Opened,
    rx: &Receiver,
) -> Result<(), SignalsError> {
    row.stream = Some(opened.stream.stored());
    row.audiences = json!(opened.audiences).to_string();
    row.poll_endpoint = opened.poll_endpoint;
    if request.jwks_uri.is_none() && request.jwks.is_none() {
        let uri = opened.jwks_uri.ok_or_else(|| {
            SignalsError::Transmitter("the metadata has no jwks_uri: give `jwks_uri`".into())
        })?;
        rx.egress
            .check(&uri)
            .map_err(|e| SignalsError::Transmitter(format!("the metadata's jwks_uri: {e}")))?;
        row.jwks_uri = Some(uri);
    }
    Ok(())
}
