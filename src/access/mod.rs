//! Access: who may call Scimitar. Today: credentials for the SCIM and admin APIs.
//! Roles and the tokens Scimitar issues to apps will live here too.

pub mod credentials;
pub mod failures;
