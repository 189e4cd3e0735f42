//! The SCIM 2.0 protocol (RFC 7643/7644): schemas, validation of what identity providers send,
//! the resources' operations and their representation. Knows nothing of HTTP frameworks.

pub mod bulk;
pub mod catalog;
pub mod cursor;
mod direct_roles;
pub mod discovery;
pub mod error;
pub mod evaluate;
mod events;
pub mod filter;
mod group_members;
mod groups;
mod identifiers;
pub mod json;
pub mod list;
pub mod match_sync;
pub mod matching;
mod membership_query;
pub mod normalize;
pub mod page_memo;
pub mod patch;
pub mod preview;
pub mod projection;
pub mod query;
pub mod quirks;
pub mod resource;
pub mod schema;
mod search;
mod service;
mod stored;
mod users;
#[cfg(test)]
mod value_shapes;

pub use error::ScimError;
pub use service::{Context, ScimService};
