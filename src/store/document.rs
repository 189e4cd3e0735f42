//! Conditions on the JSON search document (`search` column), compiled to SQL for each backend:
//! SQLite's `json_extract`/`json_each`, Postgres' `jsonb_extract_path`/`jsonb_array_elements`.
//! Every condition is TRUE or FALSE, never NULL (absent values compare false, except under
//! `NOT`), matching the in-memory evaluator in `scim::evaluate`.

use diesel::expression::{
    AppearsOnTable, Expression, SelectableExpression, ValidGrouping, is_aggregate,
};
use diesel::query_builder::{AstPass, QueryFragment, QueryId};
use diesel::result::QueryResult;
use diesel::sql_types::{Bool, Double, Text};

use super::filter::Db;

/// A value to compare with, already in its searchable form (folded, canonical time).
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Text(String),
    Number(f64),
    Bool(bool),
}

#[derive(Debug, Clone, PartialEq)]
pub enum Test {
    Eq(Scalar),
    Gt(Scalar),
    Ge(Scalar),
    Lt(Scalar),
    Le(Scalar),
    /// A LIKE pattern, already escaped with `\`.
    Like(String),
    /// Present and not empty (RFC 7644 `pr`).
    Present,
}

/// A path of object keys, with its SQLite spelling (`$."name"."sub"`) made once.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    keys: Vec<String>,
    sqlite: String,
}

impl JsonPath {
    /// Keys come from the schema, never from a request.
    pub fn new(keys: Vec<String>) -> Self {
        let mut sqlite = String::from("$");
        for key in &keys {
            sqlite.push_str(".\"");
            sqlite.push_str(key);
            sqlite.push('"');
        }
        Self { keys, sqlite }
    }
}

/// A condition on the fields of one item of a multi-valued attribute.
#[derive(Debug, Clone, PartialEq)]
pub enum ItemCondition {
    /// `sub` of the item, or the item itself when `None`.
    Field {
        sub: Option<JsonPath>,
        test: Test,
    },
    And(Box<ItemCondition>, Box<ItemCondition>),
    Or(Box<ItemCondition>, Box<ItemCondition>),
    Not(Box<ItemCondition>),
}

#[derive(Debug, Clone, PartialEq)]
pub enum DocCondition {
    /// The value at `path` (object keys from the document's root).
    Value { path: JsonPath, test: Test },
    /// Some item of the array at `path` satisfies `item`.
    AnyItem {
        path: JsonPath,
        item: Box<ItemCondition>,
    },
}

/// A `DocCondition` as a SQL expression over the `search` column of the queried table.
#[derive(Debug, Clone)]
pub struct DocPredicate(pub DocCondition);

impl Expression for DocPredicate {
    type SqlType = Bool;
}

impl<T> AppearsOnTable<T> for DocPredicate {}
impl<T> SelectableExpression<T> for DocPredicate {}

impl ValidGrouping<()> for DocPredicate {
    type IsAggregate = is_aggregate::Never;
}

impl QueryId for DocPredicate {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl QueryFragment<Db> for DocPredicate {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, Db>) -> QueryResult<()> {
        let postgres = matches!(out.backend(), Db::Postgres(_));
        Sql { postgres }.condition(&self.0, &mut out)
    }
}

/// Where a value lives: the document root or the current item of an array.
#[derive(Clone, Copy)]
enum Base<'a> {
    Root(&'a JsonPath),
    Item(Option<&'a JsonPath>),
}

struct Sql {
    postgres: bool,
}

impl Sql {
    fn condition<'b>(
        &self,
        condition: &'b DocCondition,
        out: &mut AstPass<'_, 'b, Db>,
    ) -> QueryResult<()> {
        match condition {
            DocCondition::Value { path, test } => self.test(Base::Root(path), test, out),
            DocCondition::AnyItem { path, item } => {
                out.push_sql("EXISTS (SELECT 1 FROM ");
                if self.postgres {
                    out.push_sql("jsonb_array_elements(CASE WHEN jsonb_typeof(");
                    self.root_json(path, out)?;
                    out.push_sql(") = 'array' THEN ");
                    self.root_json(path, out)?;
                    out.push_sql(" ELSE '[]'::jsonb END) AS item(value)");
                } else {
                    out.push_sql("json_each(search, ");
                    out.push_bind_param::<Text, _>(&path.sqlite)?;
                    out.push_sql(") AS item");
                }
                out.push_sql(" WHERE ");
                self.item(item, out)?;
                out.push_sql(")");
                Ok(())
            }
        }
    }

    fn item<'b>(
        &self,
        condition: &'b ItemCondition,
        out: &mut AstPass<'_, 'b, Db>,
    ) -> QueryResult<()> {
        match condition {
            ItemCondition::Field { sub, test } => self.test(Base::Item(sub.as_ref()), test, out),
            ItemCondition::And(a, b) | ItemCondition::Or(a, b) => {
                out.push_sql("(");
                self.item(a, out)?;
                out.push_sql(if matches!(condition, ItemCondition::And(..)) {
                    " AND "
                } else {
                    " OR "
                });
                self.item(b, out)?;
                out.push_sql(")");
                Ok(())
            }
            ItemCondition::Not(a) => {
                out.push_sql("NOT (");
                self.item(a, out)?;
                out.push_sql(")");
                Ok(())
            }
        }
    }

    /// `COALESCE((type check AND comparison), FALSE)`: never NULL.
    fn test<'b>(
        &self,
        base: Base<'b>,
        test: &'b Test,
        out: &mut AstPass<'_, 'b, Db>,
    ) -> QueryResult<()> {
        let (text, number, boolean) = if self.postgres {
            ("'string'", "'number'", "'boolean'")
        } else {
            ("'text'", "'integer', 'real'", "'true', 'false'")
        };
        out.push_sql("COALESCE((");
        match test {
            Test::Present => {
                self.json_type(base, out)?;
                out.push_sql(" IS NOT NULL AND ");
                self.json_type(base, out)?;
                out.push_sql(" <> 'null' AND NOT (");
                self.json_type(base, out)?;
                out.push_sql(&format!(" = {text} AND "));
                self.text_value(base, out)?;
                out.push_sql(" = '')");
            }
            Test::Like(pattern) => {
                self.json_type(base, out)?;
                out.push_sql(&format!(" = {text} AND "));
                self.text_value(base, out)?;
                out.push_sql(" LIKE ");
                out.push_bind_param::<Text, _>(pattern)?;
                out.push_sql(" ESCAPE '\\'");
            }
            Test::Eq(Scalar::Bool(value)) => {
                self.json_type(base, out)?;
                out.push_sql(&format!(" IN ({boolean}) AND "));
                self.text_value_of_bool(base, out)?;
                out.push_sql(if *value { " = 'true'" } else { " = 'false'" });
            }
            Test::Eq(scalar)
            | Test::Gt(scalar)
            | Test::Ge(scalar)
            | Test::Lt(scalar)
            | Test::Le(scalar) => {
                let operator = match test {
                    Test::Eq(_) => " = ",
                    Test::Gt(_) => " > ",
                    Test::Ge(_) => " >= ",
                    Test::Lt(_) => " < ",
                    _ => " <= ",
                };
                self.json_type(base, out)?;
                match scalar {
                    Scalar::Text(value) => {
                        out.push_sql(&format!(" = {text} AND "));
                        self.text_value(base, out)?;
                        out.push_sql(operator);
                        out.push_bind_param::<Text, _>(value)?;
                    }
                    Scalar::Number(value) => {
                        out.push_sql(&format!(" IN ({number}) AND "));
                        self.number_value(base, out)?;
                        out.push_sql(operator);
                        out.push_bind_param::<Double, _>(value)?;
                    }
                    // Booleans have no order; `Gt(true)` and the like never match.
                    Scalar::Bool(_) => out.push_sql(" IS NULL AND 1 = 0"),
                }
            }
        }
        out.push_sql("), FALSE)");
        Ok(())
    }

    /// The JSON value at a root path (Postgres only).
    fn root_json<'b>(&self, path: &'b JsonPath, out: &mut AstPass<'_, 'b, Db>) -> QueryResult<()> {
        out.push_sql("jsonb_extract_path(search::jsonb");
        for key in &path.keys {
            out.push_sql(", ");
            out.push_bind_param::<Text, _>(key)?;
        }
        out.push_sql(")");
        Ok(())
    }

    fn json_type<'b>(&self, base: Base<'b>, out: &mut AstPass<'_, 'b, Db>) -> QueryResult<()> {
        match (self.postgres, base) {
            (true, _) => {
                out.push_sql("jsonb_typeof(");
                self.pg_value(base, false, out)?;
                out.push_sql(")");
            }
            (false, Base::Root(path)) => {
                out.push_sql("json_type(search, ");
                out.push_bind_param::<Text, _>(&path.sqlite)?;
                out.push_sql(")");
            }
            (false, Base::Item(Some(sub))) => {
                out.push_sql("json_type(item.value, ");
                out.push_bind_param::<Text, _>(&sub.sqlite)?;
                out.push_sql(")");
            }
            (false, Base::Item(None)) => out.push_sql("item.type"),
        }
        Ok(())
    }

    /// The value as text, compared byte by byte on both backends.
    fn text_value<'b>(&self, base: Base<'b>, out: &mut AstPass<'_, 'b, Db>) -> QueryResult<()> {
        if self.postgres {
            out.push_sql("(");
            self.pg_value(base, true, out)?;
            out.push_sql(" COLLATE \"C\")");
            return Ok(());
        }
        self.sqlite_value(base, out)
    }

    /// A boolean as the text `true` or `false`.
    fn text_value_of_bool<'b>(
        &self,
        base: Base<'b>,
        out: &mut AstPass<'_, 'b, Db>,
    ) -> QueryResult<()> {
        if self.postgres {
            return self.pg_value(base, true, out);
        }
        self.json_type(base, out)
    }

    fn number_value<'b>(&self, base: Base<'b>, out: &mut AstPass<'_, 'b, Db>) -> QueryResult<()> {
        if self.postgres {
            out.push_sql("CAST(");
            self.pg_value(base, true, out)?;
            out.push_sql(" AS DOUBLE PRECISION)");
            return Ok(());
        }
        self.sqlite_value(base, out)
    }

    fn sqlite_value<'b>(&self, base: Base<'b>, out: &mut AstPass<'_, 'b, Db>) -> QueryResult<()> {
        match base {
            Base::Root(path) => {
                out.push_sql("json_extract(search, ");
                out.push_bind_param::<Text, _>(&path.sqlite)?;
                out.push_sql(")");
            }
            Base::Item(Some(sub)) => {
                out.push_sql("json_extract(item.value, ");
                out.push_bind_param::<Text, _>(&sub.sqlite)?;
                out.push_sql(")");
            }
            Base::Item(None) => out.push_sql("item.atom"),
        }
        Ok(())
    }

    /// Postgres: the JSON value (`as_text` false) or its text (`as_text` true).
    fn pg_value<'b>(
        &self,
        base: Base<'b>,
        as_text: bool,
        out: &mut AstPass<'_, 'b, Db>,
    ) -> QueryResult<()> {
        let function = if as_text {
            "jsonb_extract_path_text"
        } else {
            "jsonb_extract_path"
        };
        match base {
            Base::Root(path) => {
                out.push_sql(&format!("{function}(search::jsonb"));
                for key in &path.keys {
                    out.push_sql(", ");
                    out.push_bind_param::<Text, _>(key)?;
                }
                out.push_sql(")");
            }
            Base::Item(Some(sub)) => {
                out.push_sql(&format!("{function}(item.value"));
                for key in &sub.keys {
                    out.push_sql(", ");
                    out.push_bind_param::<Text, _>(key)?;
                }
                out.push_sql(")");
            }
            Base::Item(None) if as_text => out.push_sql("(item.value #>> '{}')"),
            Base::Item(None) => out.push_sql("item.value"),
        }
        Ok(())
    }
}
