//! The SCIM service provider: what the HTTP layer calls. Every operation is scoped to the
//! tenant of the caller's credential; `base` is the SCIM base URL used in locations.

use std::sync::Arc;

use serde_json::Value;

use super::error::ScimError;
use super::list::{ListRequest, PageLimits};
use super::projection::Projection;
use super::quirks::Quirks;
use super::resource::{Precondition, Resource};
use super::schema::{Registry, ResourceKind};
use super::{groups, stored, users};
use crate::access::provisioning::{Cascade, Fact};
use crate::audit::{self, Actor, Event, RequestInfo};
use crate::clock::SharedClock;
use crate::store::Store;
use crate::store::groups::GroupRow;
use crate::store::users::UserRow;

/// Who is asking and how the answer should look.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The tenant of the caller's credential.
    pub tenant_id: &'a str,
    /// The SCIM base URL, for locations.
    pub base: &'a str,
    /// `attributes` / `excludedAttributes` of the request.
    pub projection: &'a Projection,
    /// The credential making the request, for the audit log.
    pub actor: &'a Actor,
    /// The request itself, for the audit log.
    pub request: &'a RequestInfo,
    /// The tenant's quirk policy (strict or lenient), for this request.
    pub quirks: &'a Quirks,
}

impl<'a> Context<'a> {
    /// The provisioning fact this request states, caused by its audit record `cause`.
    pub(super) fn fact<'c>(&self, cause: &'c str, now: chrono::DateTime<chrono::Utc>) -> Fact<'c>
    where
        'a: 'c,
    {
        Fact {
            tenant_id: self.tenant_id,
            cause,
            actor: Some(self.actor),
            request: Some(self.request),
            now,
            received: self.request.received,
        }
    }

    /// An audit event about a resource, attributed to this request.
    pub(super) fn event(
        &self,
        action: &'static str,
        kind: ResourceKind,
        resource_id: &str,
        details: Value,
        personal: Option<Value>,
    ) -> Event<'a> {
        Event {
            actor: Some(self.actor),
            request: Some(self.request),
            resource_type: Some(kind.name()),
            resource_id: Some(resource_id.to_string()),
            personal,
            ..Event::new(action, details)
        }
    }
}

#[derive(Clone)]
pub struct ScimService {
    pub(super) store: Store,
    pub(super) registry: Arc<Registry>,
    pub(super) clock: SharedClock,
    limits: PageLimits,
    /// The cascade every write of this service states its facts to.
    pub(super) cascade: Cascade,
    /// Where the next page of a walk by `startIndex` starts (`page_memo`).
    pub(super) pages: Arc<super::page_memo::PageMemo>,
}

impl ScimService {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        clock: SharedClock,
        limits: PageLimits,
    ) -> Self {
        super::quirks::expose_counters();
        Self {
            store,
            registry,
            clock,
            limits,
            cascade: Cascade::default(),
            pages: Arc::default(),
        }
    }

    /// Flags a reactivation that comes within `window` of the user's deactivation.
    pub fn with_reactivation_alert(mut self, window: chrono::Duration) -> Self {
        self.cascade = self.cascade.with_reactivation_alert(window);
        self
    }

    /// Flags a deprovisioning burst past `threshold` steps (deactivations and membership
    /// removals) within `window` in one tenant; 0 turns the flag off.
    pub fn with_burst_limit(mut self, threshold: usize, window: chrono::Duration) -> Self {
        self.cascade = self.cascade.with_burst_limit(threshold, window);
        self
    }

    pub fn limits(&self) -> PageLimits {
        self.limits
    }

    pub fn create(
        &self,
        kind: ResourceKind,
        context: &Context,
        body: &Value,
    ) -> Result<Resource, ScimError> {
        let created = self.refused(
            kind,
            ("user.create", "group.create"),
            context,
            None,
            match kind {
                ResourceKind::User => users::create(self, context, body),
                ResourceKind::Group => groups::create(self, context, body),
            },
        )?;
        Ok(self.project(kind, context, created))
    }

    pub fn get(
        &self,
        kind: ResourceKind,
        context: &Context,
        id: &str,
    ) -> Result<Resource, ScimError> {
        let found = match kind {
            ResourceKind::User => stored::get::<UserRow>(self, context, id),
            ResourceKind::Group => stored::get::<GroupRow>(self, context, id),
        }?;
        Ok(self.project(kind, context, found))
    }

    pub fn replace(
        &self,
        kind: ResourceKind,
        context: &Context,
        id: &str,
        body: &Value,
        precondition: &Precondition,
    ) -> Result<Resource, ScimError> {
        let replaced = self.refused(
            kind,
            ("user.replace", "group.replace"),
            context,
            Some(id),
            match kind {
                ResourceKind::User => users::replace(self, context, id, body, precondition),
                ResourceKind::Group => groups::replace(self, context, id, body, precondition),
            },
        )?;
        Ok(self.project(kind, context, replaced))
    }

    pub fn patch(
        &self,
        kind: ResourceKind,
        context: &Context,
        id: &str,
        body: &Value,
        precondition: &Precondition,
    ) -> Result<Resource, ScimError> {
        let patched = self.refused(
            kind,
            ("user.patch", "group.patch"),
            context,
            Some(id),
            match kind {
                ResourceKind::User => users::patch(self, context, id, body, precondition),
                ResourceKind::Group => groups::patch(self, context, id, body, precondition),
            },
        )?;
        Ok(self.project(kind, context, patched))
    }

    /// Deactivates (or reactivates) a user inside the caller's transaction through the same
    /// path as a SCIM PATCH of `active`, with its whole cascade, the records and events caused
    /// by `cause` (what made it happen, e.g. a received Security Event Token). `None` when the
    /// user does not exist; `Some(false)` when it already was in that state.
    pub fn set_active_in(
        &self,
        conn: &mut crate::store::Write,
        context: &Context,
        id: &str,
        active: bool,
        cause: &str,
    ) -> Result<Option<bool>, ScimError> {
        users::set_active_in(self, conn, context, id, active, cause)
    }

    /// The store this service writes to.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The clock this service reads.
    pub fn clock(&self) -> &SharedClock {
        &self.clock
    }

    pub fn delete(
        &self,
        kind: ResourceKind,
        context: &Context,
        id: &str,
        precondition: &Precondition,
    ) -> Result<(), ScimError> {
        let deleted = match kind {
            ResourceKind::User => users::delete(self, context, id, precondition),
            ResourceKind::Group => groups::delete(self, context, id, precondition),
        };
        self.refused(
            kind,
            ("user.delete", "group.delete"),
            context,
            Some(id),
            deleted,
        )
    }

    pub fn list(
        &self,
        kind: ResourceKind,
        context: &Context,
        request: &ListRequest,
    ) -> Result<Value, ScimError> {
        match kind {
            ResourceKind::User => stored::list::<UserRow>(self, context, request),
            ResourceKind::Group => stored::list::<GroupRow>(self, context, request),
        }
    }

    /// A BulkRequest (RFC 7644 §3.7).
    pub fn bulk(&self, context: &Context, body: &Value) -> Result<Value, ScimError> {
        super::bulk::run(self, context, body)
    }

    /// Search across all resource types (`POST /.search` at the root).
    pub fn search_all(&self, context: &Context, request: &ListRequest) -> Result<Value, ScimError> {
        stored::search_all::<UserRow, GroupRow>(self, context, request)
    }

    /// A write the request got wrong (4xx) leaves a `failure` record (action by kind: user,
    /// group) of who tried what: the
    /// change itself rolled back, so this is written on its own, and best-effort.
    fn refused<T>(
        &self,
        kind: ResourceKind,
        actions: (&'static str, &'static str),
        context: &Context,
        resource_id: Option<&str>,
        result: Result<T, ScimError>,
    ) -> Result<T, ScimError> {
        let Err(error) = &result else { return result };
        if !(400..500).contains(&error.status()) {
            return result;
        }
        let action = match kind {
            ResourceKind::User => actions.0,
            ResourceKind::Group => actions.1,
        };
        let details = serde_json::json!({"status": error.status(), "scimType": error.scim_type()});
        let mut event = context.event(
            action,
            kind,
            resource_id.unwrap_or_default(),
            details,
            Some(serde_json::json!({"detail": error.to_string()})),
        );
        event.outcome = "failure";
        if resource_id.is_none() {
            event.resource_id = None;
        }
        let now = self.clock.now();
        if let Err(failure) = self
            .store
            .write(|conn| audit::record(conn, context.tenant_id, now, event))
        {
            tracing::warn!(error = %failure, "could not record a refused write");
        }
        result
    }

    fn project(&self, kind: ResourceKind, context: &Context, mut resource: Resource) -> Resource {
        context
            .projection
            .apply(self.registry.resource(kind), &mut resource.body);
        resource
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
