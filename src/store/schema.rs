//! Diesel table definitions, written by hand to match both trees under `migrations/`.
//! Only types that `MultiConnection` supports on both backends appear here.

diesel::table! {
    role_catalog (tenant_id, value) {
        tenant_id -> Text,
        value -> Text,
        display_name -> Text,
        description -> Nullable<Text>,
        assignable -> Bool,
        entitlements -> Text,
        created -> Timestamp,
        updated -> Timestamp,
    }
}

diesel::table! {
    user_roles (tenant_id, user_id, role) {
        tenant_id -> Text,
        user_id -> Text,
        role -> Text,
        assigned_by -> Text,
        assigned_at -> Timestamp,
        cause -> Nullable<Text>,
    }
}

diesel::table! {
    tenants (id) {
        id -> Text,
        name -> Text,
        created -> Timestamp,
        strict -> Bool,
        unique_group_names -> Bool,
    }
}

diesel::table! {
    credentials (id) {
        id -> Text,
        tenant_id -> Text,
        name -> Text,
        kind -> Text,
        secret_hash -> Text,
        created -> Timestamp,
        last_used -> Nullable<Timestamp>,
        revoked -> Nullable<Timestamp>,
        trusted -> Bool,
        oauth_per_second -> Nullable<Integer>,
    }
}

diesel::table! {
    users (id) {
        id -> Text,
        tenant_id -> Text,
        user_name -> Text,
        user_name_key -> Text,
        external_id -> Nullable<Text>,
        active -> Bool,
        attributes -> Text,
        version -> BigInt,
        created -> Timestamp,
        last_modified -> Timestamp,
        search -> Text,
    }
}

diesel::table! {
    groups (id) {
        id -> Text,
        tenant_id -> Text,
        display_name -> Text,
        display_name_key -> Text,
        external_id -> Nullable<Text>,
        attributes -> Text,
        version -> BigInt,
        created -> Timestamp,
        last_modified -> Timestamp,
        search -> Text,
        display_name_unique -> Nullable<Text>,
    }
}

diesel::table! {
    group_members (group_id, user_id) {
        tenant_id -> Text,
        group_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    group_member_counts (group_id) {
        group_id -> Text,
        members -> BigInt,
    }
}

diesel::table! {
    tenant_counts (tenant_id) {
        tenant_id -> Text,
        active_users -> BigInt,
        inactive_users -> BigInt,
        groups -> BigInt,
    }
}

diesel::joinable!(credentials -> tenants (tenant_id));
diesel::allow_tables_to_appear_in_same_query!(
    tenants,
    credentials,
    users,
    groups,
    group_members,
    group_member_counts,
    tenant_counts
);

diesel::table! {
    audit_heads (tenant_id) {
        tenant_id -> Text,
        seq -> BigInt,
        hash -> Text,
    }
}

diesel::table! {
    audit_records (id) {
        id -> Text,
        tenant_id -> Text,
        seq -> BigInt,
        occurred -> Timestamp,
        action -> Text,
        actor_id -> Nullable<Text>,
        actor_name -> Nullable<Text>,
        request_id -> Nullable<Text>,
        method -> Nullable<Text>,
        path -> Nullable<Text>,
        resource_type -> Nullable<Text>,
        resource_id -> Nullable<Text>,
        outcome -> Text,
        cause -> Nullable<Text>,
        details -> Text,
        personal -> Nullable<Text>,
        personal_salt -> Nullable<Text>,
        personal_digest -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::allow_tables_to_appear_in_same_query!(audit_records, tenants);

diesel::table! {
    audit_checkpoints (id) {
        id -> Text,
        tenant_id -> Text,
        seq -> BigInt,
        hash -> Text,
        created -> Timestamp,
        public_key -> Text,
        signature -> Text,
    }
}

diesel::table! {
    role_mappings (id) {
        id -> Text,
        tenant_id -> Text,
        match_by -> Text,
        match_value -> Text,
        match_key -> Text,
        role -> Text,
        source -> Text,
        created -> Timestamp,
        bound_group_id -> Nullable<Text>,
        follow_name -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        tenant_id -> Text,
        user_id -> Text,
        client_id -> Text,
        audience -> Text,
        roles -> Text,
        created -> Timestamp,
        expires -> Timestamp,
        idle_seconds -> BigInt,
        access_seconds -> BigInt,
        last_used -> Timestamp,
        idle_expires -> Timestamp,
        ended -> Nullable<Timestamp>,
        end_reason -> Nullable<Text>,
    }
}

diesel::table! {
    refresh_tokens (hash) {
        hash -> Text,
        session_id -> Text,
        issued -> Timestamp,
        consumed -> Nullable<Timestamp>,
        successor -> Nullable<Text>,
    }
}

diesel::table! {
    revoked_tokens (jti) {
        jti -> Text,
        tenant_id -> Text,
        session_id -> Text,
        expires -> Timestamp,
        revoked -> Timestamp,
    }
}

diesel::table! {
    signing_keys (kid) {
        kid -> Text,
        algorithm -> Text,
        public_key -> Text,
        created -> Timestamp,
        activates -> Timestamp,
        retires -> Nullable<Timestamp>,
        removes -> Nullable<Timestamp>,
    }
}

diesel::joinable!(refresh_tokens -> sessions (session_id));
diesel::allow_tables_to_appear_in_same_query!(refresh_tokens, sessions);
diesel::allow_tables_to_appear_in_same_query!(sessions, users);

diesel::table! {
    outbox_heads (tenant_id) {
        tenant_id -> Text,
        seq -> BigInt,
    }
}

diesel::table! {
    outbox (tenant_id, seq) {
        tenant_id -> Text,
        seq -> BigInt,
        kind -> Text,
        user_id -> Nullable<Text>,
        session_id -> Nullable<Text>,
        jti -> Nullable<Text>,
        not_before -> Nullable<Timestamp>,
        details -> Text,
        cause -> Nullable<Text>,
        occurred -> Timestamp,
    }
}

diesel::table! {
    ssf_streams (id) {
        id -> Text,
        tenant_id -> Text,
        client_id -> Text,
        audience -> Text,
        delivery_method -> Text,
        endpoint_url -> Nullable<Text>,
        authorization_header -> Nullable<Text>,
        events_requested -> Text,
        description -> Nullable<Text>,
        status -> Text,
        status_reason -> Nullable<Text>,
        default_subjects -> Text,
        cursor -> BigInt,
        created -> Timestamp,
        updated -> Timestamp,
    }
}

diesel::table! {
    ssf_subjects (stream_id, user_id) {
        stream_id -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    ssf_queue (stream_id, jti) {
        stream_id -> Text,
        jti -> Text,
        seq -> BigInt,
        token -> Text,
        created -> Timestamp,
        attempts -> BigInt,
        next_attempt -> Timestamp,
        delivered -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
    }
}

diesel::table! {
    flags (id) {
        id -> Text,
        tenant_id -> Text,
        kind -> Text,
        severity -> Text,
        subject -> Text,
        details -> Text,
        raised -> Timestamp,
        last_seen -> Timestamp,
        occurrences -> BigInt,
        acknowledged -> Nullable<Timestamp>,
        acknowledged_by -> Nullable<Text>,
    }
}

diesel::joinable!(ssf_queue -> ssf_streams (stream_id));
diesel::allow_tables_to_appear_in_same_query!(ssf_queue, ssf_streams);

diesel::table! {
    match_values (tenant_id, attribute, value, user_id) {
        tenant_id -> Text,
        attribute -> Text,
        value -> Text,
        user_id -> Text,
    }
}

diesel::table! {
    match_attributes (tenant_id, attribute) {
        tenant_id -> Text,
        attribute -> Text,
        ready -> Bool,
    }
}

diesel::allow_tables_to_appear_in_same_query!(users, match_values);

diesel::table! {
    console_sessions (id_hash) {
        id_hash -> Text,
        tenant_id -> Text,
        client_id -> Text,
        created -> Timestamp,
        last_seen -> Timestamp,
        expires -> Timestamp,
    }
}

diesel::joinable!(console_sessions -> credentials (client_id));
diesel::allow_tables_to_appear_in_same_query!(console_sessions, credentials);

diesel::table! {
    ssf_receivers (id) {
        id -> Text,
        tenant_id -> Text,
        issuer -> Text,
        audiences -> Text,
        jwks_uri -> Nullable<Text>,
        jwks -> Nullable<Text>,
        delivery_method -> Text,
        push_secret_digest -> Nullable<Text>,
        poll_endpoint -> Nullable<Text>,
        poll_authorization -> Nullable<Text>,
        settings -> Text,
        enabled -> Bool,
        created -> Timestamp,
        updated -> Timestamp,
        stream -> Nullable<Text>,
        stream_credential -> Nullable<Text>,
        verification_state -> Nullable<Text>,
        verification_requested -> Nullable<Timestamp>,
        verified -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        last_error_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    ssf_received (id) {
        id -> Text,
        tenant_id -> Text,
        receiver_id -> Text,
        issuer -> Text,
        jti -> Text,
        delivery -> Text,
        event_types -> Text,
        outcome -> Text,
        error -> Nullable<Text>,
        description -> Nullable<Text>,
        effects -> Text,
        cause -> Nullable<Text>,
        received -> Timestamp,
    }
}

diesel::table! {
    cache_epochs (name) {
        name -> Text,
        epoch -> BigInt,
    }
}

diesel::table! {
    revocation_assertions (issuer, jti) {
        issuer -> Text,
        jti -> Text,
        tenant_id -> Text,
        expires -> Timestamp,
    }
}
