//! The two migration trees describe one schema: applied to empty databases, they give the same
//! tables, columns (types mapped between the backends), nullability, primary and foreign keys
//! and indexes. A migration added to one tree and not the other fails here.

use std::collections::BTreeMap;

use diesel::sql_types::{BigInt, Bool, Integer, Nullable, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use scimitar::store::{DatabaseUrl, PoolSettings, Store};

use crate::helpers::{Backend, TestDb};

/// A table as both backends can describe it.
#[derive(Debug, Default, PartialEq)]
struct Table {
    /// Name, mapped type, nullable; in declaration order.
    columns: Vec<(String, String, bool)>,
    primary_key: Vec<String>,
    /// (column, referenced table, referenced column), sorted.
    foreign_keys: Vec<(String, String, String)>,
    /// (unique, partial, columns; an expression is `<expr>`), sorted.
    indexes: Vec<(bool, bool, Vec<String>)>,
}

type Schema = BTreeMap<String, Table>;

/// The name both backends agree on for a declared type.
fn mapped(declared: &str) -> String {
    match declared.to_ascii_lowercase().as_str() {
        "text" | "character varying" | "varchar" => "text",
        "bigint" | "int8" => "bigint",
        "integer" | "int" | "int4" => "integer",
        "boolean" | "bool" => "boolean",
        "timestamp" | "timestamp without time zone" => "timestamp",
        other => return other.to_string(),
    }
    .to_string()
}

fn migrated(backend: Backend) -> Option<TestDb> {
    let db = TestDb::create(backend)?;
    let url = DatabaseUrl::parse(&db.url).expect("database url");
    Store::open(&url, &PoolSettings::default()).expect("migrate");
    Some(db)
}

const SKIPPED: &str = "__diesel_schema_migrations";

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = Text)]
    name: String,
}

#[derive(QueryableByName)]
struct SqliteColumn {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    r#type: String,
    #[diesel(sql_type = Integer)]
    notnull: i32,
    #[diesel(sql_type = Integer)]
    pk: i32,
}

#[derive(QueryableByName)]
struct SqliteIndex {
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Integer)]
    unique: i32,
    #[diesel(sql_type = Text)]
    origin: String,
    #[diesel(sql_type = Integer)]
    partial: i32,
}

#[derive(QueryableByName)]
struct SqliteIndexColumn {
    #[diesel(sql_type = Nullable<Text>)]
    name: Option<String>,
}

#[derive(QueryableByName)]
struct SqliteForeignKey {
    #[diesel(sql_type = Text)]
    table: String,
    #[diesel(sql_type = Text)]
    from: String,
    #[diesel(sql_type = Nullable<Text>)]
    to: Option<String>,
}

fn sqlite_schema(url: &str) -> Schema {
    let mut conn = SqliteConnection::establish(url).expect("connect");
    let tables: Vec<Name> = diesel::sql_query(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .load(&mut conn)
    .expect("tables");
    let mut schema = Schema::new();
    for Name { name: table } in tables.into_iter().filter(|t| t.name != SKIPPED) {
        let mut described = Table::default();
        let columns: Vec<SqliteColumn> =
            diesel::sql_query(format!("PRAGMA table_info(\"{table}\")"))
                .load(&mut conn)
                .expect("columns");
        let mut key: Vec<(i32, String)> = Vec::new();
        for column in columns {
            // A primary-key column is never null, whatever SQLite's declaration says.
            let nullable = column.notnull == 0 && column.pk == 0;
            described
                .columns
                .push((column.name.clone(), mapped(&column.r#type), nullable));
            if column.pk > 0 {
                key.push((column.pk, column.name));
            }
        }
        key.sort();
        described.primary_key = key.into_iter().map(|(_, name)| name).collect();
        let foreign: Vec<SqliteForeignKey> =
            diesel::sql_query(format!("PRAGMA foreign_key_list(\"{table}\")"))
                .load(&mut conn)
                .expect("foreign keys");
        for fk in foreign {
            // An omitted referenced column means the referenced table's primary key.
            let to = fk.to.unwrap_or_else(|| "id".into());
            described.foreign_keys.push((fk.from, fk.table, to));
        }
        described.foreign_keys.sort();
        let indexes: Vec<SqliteIndex> =
            diesel::sql_query(format!("PRAGMA index_list(\"{table}\")"))
                .load(&mut conn)
                .expect("indexes");
        for index in indexes.into_iter().filter(|i| i.origin != "pk") {
            let columns: Vec<SqliteIndexColumn> =
                diesel::sql_query(format!("PRAGMA index_info(\"{}\")", index.name))
                    .load(&mut conn)
                    .expect("index columns");
            let columns = columns
                .into_iter()
                .map(|c| c.name.unwrap_or_else(|| "<expr>".into()))
                .collect();
            described
                .indexes
                .push((index.unique != 0, index.partial != 0, columns));
        }
        described.indexes.sort();
        schema.insert(table, described);
    }
    schema
}

#[derive(QueryableByName)]
struct PgColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Text)]
    data_type: String,
    #[diesel(sql_type = Text)]
    is_nullable: String,
}

#[derive(QueryableByName)]
struct PgKeyColumn {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
    #[diesel(sql_type = Nullable<Text>)]
    foreign_table: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    foreign_column: Option<String>,
}

#[derive(QueryableByName)]
struct PgIndex {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Bool)]
    unique: bool,
    #[diesel(sql_type = Bool)]
    partial: bool,
    #[diesel(sql_type = Text)]
    definition: String,
    #[diesel(sql_type = BigInt)]
    keys: i64,
}

/// The key columns of a Postgres index definition: `… USING btree (a, lower(b)) WHERE …`.
fn index_columns(definition: &str, keys: i64) -> Vec<String> {
    let Some(start) = definition
        .find(" USING ")
        .and_then(|at| definition[at..].find('(').map(|p| at + p + 1))
    else {
        return Vec::new();
    };
    let (mut depth, mut current, mut columns) = (0, String::new(), Vec::new());
    for c in definition[start..].chars() {
        match c {
            '(' => depth += 1,
            ')' if depth == 0 => break,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                columns.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    columns.push(current);
    columns
        .into_iter()
        .take(keys as usize)
        .map(|c| {
            let c = c.trim().trim_matches('"');
            if c.chars().all(|ch| ch.is_ascii_alphanumeric() || ch == '_') {
                c.to_string()
            } else {
                "<expr>".to_string()
            }
        })
        .collect()
}

fn postgres_schema(url: &str) -> Schema {
    let mut conn = PgConnection::establish(url).expect("connect");
    let columns: Vec<PgColumn> = diesel::sql_query(
        "SELECT table_name::text, column_name::text, data_type::text, is_nullable::text \
         FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY table_name, ordinal_position",
    )
    .load(&mut conn)
    .expect("columns");
    let mut schema = Schema::new();
    for column in columns.into_iter().filter(|c| c.table_name != SKIPPED) {
        schema.entry(column.table_name).or_default().columns.push((
            column.column_name,
            mapped(&column.data_type),
            column.is_nullable == "YES",
        ));
    }
    let keys: Vec<PgKeyColumn> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, a.attname::text AS column_name, \
                f.relname::text AS foreign_table, fa.attname::text AS foreign_column \
         FROM pg_constraint k \
         JOIN pg_class c ON c.oid = k.conrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
         CROSS JOIN LATERAL unnest(k.conkey, COALESCE(k.confkey, k.conkey)) WITH ORDINALITY AS u(attnum, fattnum, position) \
         JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum \
         LEFT JOIN pg_class f ON f.oid = k.confrelid \
         LEFT JOIN pg_attribute fa ON fa.attrelid = k.confrelid AND fa.attnum = u.fattnum \
         WHERE k.contype IN ('p', 'f') ORDER BY c.relname, k.contype, k.conname, u.position",
    )
    .load(&mut conn)
    .expect("keys");
    for key in keys.into_iter().filter(|k| k.table_name != SKIPPED) {
        let table = schema.entry(key.table_name).or_default();
        match (key.foreign_table, key.foreign_column) {
            (Some(foreign), Some(column)) => {
                table.foreign_keys.push((key.column_name, foreign, column))
            }
            _ => table.primary_key.push(key.column_name),
        }
    }
    let indexes: Vec<PgIndex> = diesel::sql_query(
        "SELECT c.relname::text AS table_name, ix.indisunique AS unique, \
                (ix.indpred IS NOT NULL) AS partial, pg_get_indexdef(ix.indexrelid) AS definition, \
                ix.indnkeyatts::bigint AS keys \
         FROM pg_index ix JOIN pg_class c ON c.oid = ix.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' \
         WHERE NOT ix.indisprimary",
    )
    .load(&mut conn)
    .expect("indexes");
    for index in indexes.into_iter().filter(|i| i.table_name != SKIPPED) {
        let columns = index_columns(&index.definition, index.keys);
        schema.entry(index.table_name).or_default().indexes.push((
            index.unique,
            index.partial,
            columns,
        ));
    }
    for table in schema.values_mut() {
        table.foreign_keys.sort();
        table.indexes.sort();
    }
    schema
}

#[test]
fn both_migration_trees_give_the_same_schema() {
    let Some(postgres) = migrated(Backend::Postgres) else {
        return;
    };
    let sqlite = migrated(Backend::Sqlite).expect("sqlite");
    let (lite, pg) = (sqlite_schema(&sqlite.url), postgres_schema(&postgres.url));
    assert!(lite.len() > 10, "the schema was read: {lite:?}");
    let names = |s: &Schema| s.keys().cloned().collect::<Vec<_>>();
    assert_eq!(names(&lite), names(&pg), "the same tables");
    for (name, table) in &lite {
        assert_eq!(
            Some(table),
            pg.get(name),
            "table `{name}`: SQLite (left) and Postgres (right) differ"
        );
    }
}

#[test]
fn an_index_definition_is_read_into_its_columns() {
    let definition = "CREATE UNIQUE INDEX x ON public.t USING btree (tenant_id, lower((a)::text), \"b\") WHERE (c IS NULL)";
    assert_eq!(
        index_columns(definition, 3),
        vec!["tenant_id", "<expr>", "b"]
    );
}

/// Diesel orders and records migrations by the version before the first `_`: two migrations
/// with one version (added on two branches) would make one of them never run.
#[test]
fn migration_versions_are_unique_and_the_same_in_both_trees() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let versions = |tree: &str| {
        let mut names: Vec<String> = std::fs::read_dir(root.join(tree))
            .expect("migrations")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().to_string())
            .collect();
        names.sort();
        let versions: Vec<String> = names
            .iter()
            .map(|n| n.split('_').next().unwrap_or_default().to_string())
            .collect();
        let mut unique = versions.clone();
        unique.dedup();
        assert_eq!(
            unique, versions,
            "{tree}: two migrations share a version: {names:?}"
        );
        names
    };
    assert_eq!(
        versions("sqlite"),
        versions("postgres"),
        "the same migrations, by name, in both trees"
    );
}
