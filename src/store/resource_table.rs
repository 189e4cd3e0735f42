//! The store path that users and groups share: the `ResourceTable` trait, what the SCIM
//! layer reads of either table through one interface, and one macro that writes the filtered query, insert,
//! get, locked get, versioned update, delete, and the scanned page and count
//! (`page_matching`, `count_matching`, behind each table's public `page` and `count`) for a
//! resource table, so the two tables cannot drift apart. What differs (the columns a filter may use and how they sort,
//! `leaf` and `sorted`) stays written out in each table's module.

/// Writes the shared functions for `$table` (a diesel table with `tenant_id`, `id` and
/// `version`), its row type, changes type and filter column type, and implements
/// `ResourceTable` for the row with them, the module's `page` and `count`, and `$related`
/// (the related rows of some ids, each owned through its `$owner` field); `with_related`
/// names functions that read a page or one row with its related rows together. Expects
/// `leaf`, `sorted`, `page` and `count` in scope.
macro_rules! resource_table {
    (
        $table:ident, $row:ident, $changes:ident, $column:ident,
        related: $related:ident -> $related_row:ident by $owner:ident
        $(, with_related: $page_with:ident, $get_with:ident)?
    ) => {
        impl super::resource_table::ResourceTable for $row {
            type Column = $column;
            type Related = $related_row;

            fn id(&self) -> &str {
                &self.id
            }

            fn document(&self) -> &str {
                &self.attributes
            }

            fn meta(&self) -> super::resource_table::RowMeta {
                super::resource_table::RowMeta {
                    version: self.version,
                    created: self.created,
                    last_modified: self.last_modified,
                }
            }

            fn get(
                conn: &mut AnyConnection,
                tenant_id: &str,
                id: &str,
            ) -> Result<Option<Self>, StoreError> {
                get(conn, tenant_id, id)
            }

            fn count(
                conn: &mut AnyConnection,
                tenant_id: &str,
                condition: Option<&Condition<$column>>,
            ) -> Result<i64, StoreError> {
                count(conn, tenant_id, condition)
            }

            fn page(
                conn: &mut AnyConnection,
                tenant_id: &str,
                condition: Option<&Condition<$column>>,
                sort: Option<Sort<$column>>,
                offset: i64,
                limit: i64,
            ) -> Result<Vec<Self>, StoreError> {
                page(conn, tenant_id, condition, sort, offset, limit)
            }

            fn related(
                conn: &mut AnyConnection,
                tenant_id: &str,
                ids: &[String],
            ) -> Result<Vec<$related_row>, StoreError> {
                $related(conn, tenant_id, ids)
            }

            fn owner(related: &$related_row) -> &str {
                &related.$owner
            }

            $(
            fn page_with_related(
                conn: &mut AnyConnection,
                tenant_id: &str,
                condition: Option<&Condition<$column>>,
                sort: Option<Sort<$column>>,
                offset: i64,
                limit: i64,
            ) -> Result<Vec<(Self, Vec<$related_row>)>, StoreError> {
                $page_with(conn, tenant_id, condition, sort, offset, limit)
            }

            fn get_with_related(
                conn: &mut AnyConnection,
                tenant_id: &str,
                id: &str,
            ) -> Result<Option<(Self, Vec<$related_row>)>, StoreError> {
                $get_with(conn, tenant_id, id)
            }
            )?
        }

        fn matching(
            tenant_id: &str,
            condition: Option<&Condition<$column>>,
        ) -> $table::BoxedQuery<'static, Db> {
            let query = $table::table
                .into_boxed::<Db>()
                .filter($table::tenant_id.eq(tenant_id.to_string()));
            match condition {
                Some(condition) => {
                    query.filter(filter::compile(condition, &|c| leaf(c, tenant_id)))
                }
                None => query,
            }
        }

        pub fn insert(conn: &mut AnyConnection, row: &$row) -> Result<(), StoreError> {
            diesel::insert_into($table::table)
                .values(row)
                .execute(conn)?;
            Ok(())
        }

        pub fn get(
            conn: &mut AnyConnection,
            tenant_id: &str,
            id: &str,
        ) -> Result<Option<$row>, StoreError> {
            Ok($table::table
                .filter($table::tenant_id.eq(tenant_id))
                .filter($table::id.eq(id))
                .select($row::as_select())
                // By primary key: at most one row, and no bound `LIMIT` (`store::paging`).
                .get_result(conn)
                .optional()?)
        }

        /// Applies `changes` and increments the version (in the database, so two concurrent
        /// writers never produce the same version); `None` when the row does not exist.
        pub fn update(
            conn: &mut AnyConnection,
            tenant_id: &str,
            id: &str,
            changes: &$changes,
        ) -> Result<Option<$row>, StoreError> {
            Ok(diesel::update($table::table)
                .filter($table::tenant_id.eq(tenant_id))
                .filter($table::id.eq(id))
                .set((changes, $table::version.eq($table::version + 1)))
                .returning($table::all_columns)
                .get_result::<$row>(conn)
                .optional()?)
        }

        /// Reads a row and locks it for the rest of the transaction (read-modify-write). On
        /// Postgres in one statement (`SELECT … FOR UPDATE`): a lock and a read apart were
        /// two round trips per PATCH, PUT or DELETE, waited out one after another in a batch.
        /// SQLite's write transactions already run one at a time (`super::lock_clause`).
        pub fn get_for_update(
            conn: &mut AnyConnection,
            tenant_id: &str,
            id: &str,
        ) -> Result<Option<$row>, StoreError> {
            match conn {
                AnyConnection::Postgres(pg) => Ok($table::table
                    .filter($table::tenant_id.eq(tenant_id))
                    .filter($table::id.eq(id))
                    .select($row::as_select())
                    .for_update()
                    .get_result(pg)
                    .optional()?),
                AnyConnection::Sqlite(_) => get(conn, tenant_id, id),
            }
        }

        pub fn delete(
            conn: &mut AnyConnection,
            tenant_id: &str,
            id: &str,
        ) -> Result<bool, StoreError> {
            let deleted = diesel::delete($table::table)
                .filter($table::tenant_id.eq(tenant_id))
                .filter($table::id.eq(id))
                .execute(conn)?;
            Ok(deleted == 1)
        }

        /// One page of the tenant's rows that match `condition`, in a stable order (ids are
        /// time-ordered UUIDv7 and break ties).
        fn page_matching(
            conn: &mut AnyConnection,
            tenant_id: &str,
            condition: Option<&Condition<$column>>,
            sort: Option<Sort<$column>>,
            offset: i64,
            limit: i64,
        ) -> Result<Vec<$row>, StoreError> {
            let query = sorted(matching(tenant_id, condition), sort).select($row::as_select());
            Ok(super::paging::Literal::new(query, offset, limit).load(conn)?)
        }

        fn count_matching(
            conn: &mut AnyConnection,
            tenant_id: &str,
            condition: Option<&Condition<$column>>,
        ) -> Result<i64, StoreError> {
            Ok(matching(tenant_id, condition).count().get_result(conn)?)
        }
    };
}
pub(crate) use resource_table;

use super::filter::{Condition, Sort};
use super::{AnyConnection, StoreError};

/// A row's version and times, for its `meta`.
#[derive(Debug, Clone, Copy)]
pub struct RowMeta {
    pub version: i64,
    pub created: chrono::NaiveDateTime,
    pub last_modified: chrono::NaiveDateTime,
}

/// A row with its related rows (a user with their groups, a group with its members).
pub type WithRelated<R> = (R, Vec<<R as ResourceTable>::Related>);

/// What is read of a resource table, the same for users and groups: one row by id, a
/// filtered page and its count, and the rows related to some (memberships), alone or with
/// the rows they belong to. `scim::stored` reads both tables through it alone.
pub trait ResourceTable: Sized {
    /// The columns a filter or a sort can use.
    type Column: Copy + 'static;
    /// Rows computed at read time (memberships), each naming the resource it belongs to.
    type Related;

    fn id(&self) -> &str;
    /// The stored document (the resource's attributes as JSON text).
    fn document(&self) -> &str;
    fn meta(&self) -> RowMeta;
    fn get(conn: &mut AnyConnection, tenant_id: &str, id: &str)
    -> Result<Option<Self>, StoreError>;
    fn count(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<Self::Column>>,
    ) -> Result<i64, StoreError>;
    fn page(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<Self::Column>>,
        sort: Option<Sort<Self::Column>>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<Self>, StoreError>;
    /// The related rows of each of `ids`.
    fn related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        ids: &[String],
    ) -> Result<Vec<Self::Related>, StoreError>;
    /// The id of the row a related row belongs to.
    fn owner(related: &Self::Related) -> &str;

    /// A page with each row's related rows: by default the page, then the related rows of
    /// its ids; a table may read both in one statement.
    fn page_with_related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        condition: Option<&Condition<Self::Column>>,
        sort: Option<Sort<Self::Column>>,
        offset: i64,
        limit: i64,
    ) -> Result<Vec<WithRelated<Self>>, StoreError> {
        let rows = Self::page(conn, tenant_id, condition, sort, offset, limit)?;
        let ids: Vec<String> = rows.iter().map(|row| row.id().to_string()).collect();
        let related = Self::related(conn, tenant_id, &ids)?;
        Ok(super::membership::pair_by_owner(
            rows,
            related,
            Self::id,
            Self::owner,
        ))
    }

    /// One row by id with its related rows, as `page_with_related` reads them.
    fn get_with_related(
        conn: &mut AnyConnection,
        tenant_id: &str,
        id: &str,
    ) -> Result<Option<WithRelated<Self>>, StoreError> {
        let Some(row) = Self::get(conn, tenant_id, id)? else {
            return Ok(None);
        };
        let related = Self::related(conn, tenant_id, &[row.id().to_string()])?;
        Ok(Some((row, related)))
    }
}
