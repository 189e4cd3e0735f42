//! Console reads through the SCIM service, under the operator's credential: the same filters,
//! paging and projections as `GET /scim/v2/Users`, so the console has no query language or
//! paging of its own.

use actix_web::HttpRequest;
use serde_json::Value;

use crate::access::operator_sessions::Operator;
use crate::audit::{Actor, RequestInfo};
use crate::http::error::ApiError;
use crate::http::{AppState, base_url, request_info};
use crate::scim::Context;
use crate::scim::list::ListRequest;
use crate::scim::projection::Projection;
use crate::scim::quirks::Quirks;
use crate::scim::schema::ResourceKind;

/// What a SCIM read needs to know about the console request making it.
pub struct ScimReads {
    tenant_id: String,
    base: String,
    actor: Actor,
    request: RequestInfo,
    quirks: Quirks,
}

/// One page of a list, with the cursor of the next page (RFC 9865) and the total.
pub struct ListPage {
    pub resources: Vec<Value>,
    pub total: i64,
    pub next: Option<String>,
}

impl ScimReads {
    pub fn new(operator: &Operator, request: &HttpRequest, state: &AppState) -> Self {
        let info = request_info(request);
        Self {
            tenant_id: operator.tenant_id.clone(),
            base: base_url(request, state),
            actor: operator.actor(),
            quirks: Quirks::new(false, &info.id),
            request: info,
        }
    }

    fn context<'a>(&'a self, projection: &'a Projection) -> Context<'a> {
        Context {
            tenant_id: &self.tenant_id,
            base: &self.base,
            projection,
            actor: &self.actor,
            request: &self.request,
            quirks: &self.quirks,
        }
    }

    /// A cursor-paged list of `kind` matching `filter`, `count` to a page, leaving out
    /// `excluded` attributes (a group's members, which can be unbounded).
    pub fn list(
        &self,
        state: &AppState,
        kind: ResourceKind,
        filter: Option<&str>,
        cursor: Option<&str>,
        count: i64,
        excluded: Option<&str>,
    ) -> Result<ListPage, ApiError> {
        let count = count.to_string();
        let mut params = vec![("count", count.as_str()), ("cursor", cursor.unwrap_or(""))];
        if let Some(filter) = filter.filter(|f| !f.trim().is_empty()) {
            params.push(("filter", filter));
        }
        let request = ListRequest::from_query(params, state.scim.limits(), &self.quirks)?;
        let projection =
            Projection::from_params(state.scim.registry().resource(kind), None, excluded)?;
        let response = state
            .scim
            .list(kind, &self.context(&projection), &request)?;
        Ok(ListPage {
            resources: response["Resources"]
                .as_array()
                .cloned()
                .unwrap_or_default(),
            total: response["totalResults"].as_i64().unwrap_or_default(),
            next: response["nextCursor"].as_str().map(String::from),
        })
    }

    /// One resource, leaving out `excluded` attributes.
    pub fn get(
        &self,
        state: &AppState,
        kind: ResourceKind,
        id: &str,
        excluded: Option<&str>,
    ) -> Result<Value, ApiError> {
        let projection =
            Projection::from_params(state.scim.registry().resource(kind), None, excluded)?;
        Ok(state.scim.get(kind, &self.context(&projection), id)?.body)
    }
}
