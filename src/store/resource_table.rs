//! The store path that users and groups share: one macro writes the filtered query, insert,
//! get, locked get, versioned update, delete, and the scanned page and count
//! (`page_matching`, `count_matching`, behind each table's public `page` and `count`) for a
//! resource table, so the two tables cannot drift apart. What differs (the columns a filter may use and how they sort,
//! `leaf` and `sorted`) stays written out in each table's module.

/// Writes the shared functions for `$table` (a diesel table with `tenant_id`, `id` and
/// `version`), its row type, changes type and filter column type. Expects `leaf`
/// and `sorted` in scope.
macro_rules! resource_table {
    ($table:ident, $row:ident, $changes:ident, $column:ident) => {
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
