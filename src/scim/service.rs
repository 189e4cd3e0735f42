//! The SCIM service provider: what the HTTP layer calls. Every operation is scoped to the
//! tenant of the caller's credential; `base` is the SCIM base URL used in locations.

use std::sync::Arc;

use serde_json::Value;

use super::error::ScimError;
use super::list::{ListRequest, PageLimits};
use super::resource::{Precondition, Resource};
use super::schema::{Registry, ResourceKind};
use super::{groups, stored, users};
use crate::clock::SharedClock;
use crate::store::Store;
use crate::store::groups::GroupRow;
use crate::store::users::UserRow;

#[derive(Clone)]
pub struct ScimService {
    pub(super) store: Store,
    pub(super) registry: Arc<Registry>,
    pub(super) clock: SharedClock,
    limits: PageLimits,
}

impl ScimService {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        clock: SharedClock,
        limits: PageLimits,
    ) -> Self {
        Self {
            store,
            registry,
            clock,
            limits,
        }
    }

    pub fn limits(&self) -> PageLimits {
        self.limits
    }

    pub fn create(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        body: &Value,
        base: &str,
    ) -> Result<Resource, ScimError> {
        match kind {
            ResourceKind::User => users::create(self, tenant_id, body, base),
            ResourceKind::Group => groups::create(self, tenant_id, body, base),
        }
    }

    pub fn get(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        id: &str,
        base: &str,
    ) -> Result<Resource, ScimError> {
        match kind {
            ResourceKind::User => stored::get::<UserRow>(self, tenant_id, id, base),
            ResourceKind::Group => stored::get::<GroupRow>(self, tenant_id, id, base),
        }
    }

    pub fn replace(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        id: &str,
        body: &Value,
        precondition: &Precondition,
        base: &str,
    ) -> Result<Resource, ScimError> {
        match kind {
            ResourceKind::User => users::replace(self, tenant_id, id, body, precondition, base),
            ResourceKind::Group => groups::replace(self, tenant_id, id, body, precondition, base),
        }
    }

    pub fn patch(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        id: &str,
        body: &Value,
        precondition: &Precondition,
        base: &str,
    ) -> Result<Resource, ScimError> {
        match kind {
            ResourceKind::User => users::patch(self, tenant_id, id, body, precondition, base),
            ResourceKind::Group => groups::patch(self, tenant_id, id, body, precondition, base),
        }
    }

    pub fn delete(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        id: &str,
        precondition: &Precondition,
    ) -> Result<(), ScimError> {
        match kind {
            ResourceKind::User => users::delete(self, tenant_id, id, precondition),
            ResourceKind::Group => groups::delete(self, tenant_id, id, precondition),
        }
    }

    pub fn list(
        &self,
        kind: ResourceKind,
        tenant_id: &str,
        request: &ListRequest,
        base: &str,
    ) -> Result<Value, ScimError> {
        match kind {
            ResourceKind::User => stored::list::<UserRow>(self, tenant_id, request, base),
            ResourceKind::Group => stored::list::<GroupRow>(self, tenant_id, request, base),
        }
    }

    pub fn registry(&self) -> &Registry {
        &self.registry
    }
}
