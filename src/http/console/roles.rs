//! Published roles on the console: each role the identity provider sees at `/Roles`, whether
//! it may assign it directly, the entitlements it carries, and who holds it directly; a form
//! describes a role (the admin API's `PUT /admin/v1/roles/{value}`, audited under the
//! operator's credential).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::error::ConsoleError;
use super::session::{SignedIn, check_csrf, redirect};
use super::view;
use crate::access::catalog::{self, Description};
use crate::http::{AppState, blocking, request_info};
use crate::store::{AnyConnection, StoreError, role_catalog, users};

/// Holders named per role; beyond them, a count.
const NAMED: i64 = 10;

/// A published role as the groups page lists it.
pub struct RoleView {
    pub value: String,
    pub display_name: String,
    pub description: String,
    pub assignable: bool,
    pub entitlements: String,
    /// Granted through group mappings too.
    pub mapped: bool,
    /// (user id, userName) of the first holders; and how many hold it directly.
    pub holders: Vec<(String, String)>,
    pub direct_holders: i64,
}

/// The tenant's published roles with their direct holders.
pub fn published(conn: &mut AnyConnection, tenant_id: &str) -> Result<Vec<RoleView>, StoreError> {
    let mut roles = Vec::new();
    for role in catalog::published(conn, tenant_id)?.into_values() {
        let (rows, total) = role_catalog::holders(conn, tenant_id, &role.value, NAMED)?;
        let mut holders = Vec::with_capacity(rows.len());
        for row in rows {
            let name = users::get(conn, tenant_id, &row.user_id)?
                .map_or_else(|| row.user_id.clone(), |u| u.user_name);
            holders.push((row.user_id, name));
        }
        roles.push(RoleView {
            description: role.description.unwrap_or_default(),
            entitlements: role.entitlements.join(", "),
            value: role.value,
            display_name: role.display_name,
            assignable: role.assignable,
            mapped: role.mapped,
            holders,
            direct_holders: total,
        });
    }
    Ok(roles)
}

#[derive(Deserialize)]
pub struct RoleForm {
    csrf: Option<String>,
    #[serde(default)]
    value: String,
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    description: String,
    /// A checkbox.
    #[serde(default)]
    assignable: Option<String>,
    /// Comma-separated.
    #[serde(default)]
    entitlements: String,
}

/// `POST /console/roles`: describes a role.
pub async fn describe(
    SignedIn(operator): SignedIn,
    request: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, ConsoleError> {
    let form: RoleForm = view::form(&body)?;
    check_csrf(&operator, form.csrf.as_deref())?;
    let non_empty = |text: &str| Some(text.trim().to_string()).filter(|t| !t.is_empty());
    let description = Description {
        display_name: non_empty(&form.display_name),
        description: non_empty(&form.description),
        assignable: form.assignable.is_some(),
        entitlements: form
            .entitlements
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty())
            .map(String::from)
            .collect(),
    };
    let (actor, info) = (operator.actor(), request_info(&request));
    let (store, tenant, now, value) = (
        state.store.clone(),
        operator.tenant_id.clone(),
        state.clock.now(),
        form.value.trim().to_string(),
    );
    blocking(move || {
        Ok(store.write(|conn| {
            catalog::describe(
                conn,
                &tenant,
                &value,
                description,
                (Some(&actor), Some(&info)),
                now,
            )
        })?)
    })
    .await?;
    Ok(redirect("/console/groups#roles"))
}
