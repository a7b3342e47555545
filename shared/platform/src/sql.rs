//! The SQL in `sql/`, compiled into the binaries (a Lambda has no `sql/` folder), and
//! the one way parameters get into it.
//!
//! Statements name their parameters `:batch_id` and `:batch_date`; the report's queries
//! take a few more ([`Param`]). Both the PostgreSQL and the Redshift Data API adapters
//! run multi-statement text, where bind parameters are not available, so values are
//! rendered as literals. That is safe because each is validated first: a batch id is
//! `[A-Za-z0-9_-]{1,128}`, a date is a `NaiveDate`, a count a number, and a text holds
//! no backslash or control character (the two dialects read a backslash differently),
//! its quotes doubled.

use ppmt_domain::BatchRef;

use crate::ports::SqlStep;

macro_rules! step {
    ($dir:literal, $name:literal) => {
        step!($dir, $name, [])
    };
    ($dir:literal, $name:literal, [$($table:literal),*]) => {
        SqlStep {
            name: $name,
            sql: include_str!(concat!("../../../sql/", $dir, "/", $name)),
            analyze: &[$($table),*],
        }
    };
}

/// Warehouse DDL, portable between PostgreSQL and Redshift, in order.
pub const SCHEMA: &[SqlStep] = &[step!("schema", "001_warehouse.sql")];

/// What only PostgreSQL has: indexes (Redshift uses sort keys instead), and the tally of
/// the files a batch loaded in parts has staged.
pub const POSTGRES_SCHEMA: &[SqlStep] =
    &[step!("schema/postgres", "010_indexes.sql"), step!("schema/postgres", "020_load_files.sql")];

/// Rules as data (brand aliases, category rules, price bounds), applied after the
/// schema; each replaces only its own `origin = 'seed'` rows.
pub const SEEDS: &[SqlStep] = &[
    step!("seed", "010_brand_aliases.sql"),
    step!("seed", "020_category_rules.sql"),
    step!("seed", "030_category_price_bounds.sql"),
];

/// The transform, in order, run in one transaction per batch.
pub const TRANSFORM_STEPS: &[SqlStep] = &[
    step!("transform", "010_reset_day.sql"),
    step!("transform", "020_remove_duplicates.sql"),
    step!("transform", "030_pin_fx_rates.sql"),
    step!("transform", "040_match_offers.sql", ["offer_work"]),
    step!("transform", "041_match_gtin.sql", ["offer_work"]),
    step!("transform", "042_match_mpn_brand.sql", ["offer_work"]),
    step!("transform", "043_match_name_brand.sql", ["offer_work"]),
    // New products by GTIN, then the weaker rules again, ...
    step!("transform", "044_found_products.sql", ["offer_work"]),
    step!("transform", "042_match_mpn_brand.sql", ["offer_work"]),
    step!("transform", "043_match_name_brand.sql", ["offer_work"]),
    // ... by MPN and brand, then the name rule again, ...
    step!("transform", "044_found_products.sql", ["offer_work"]),
    step!("transform", "043_match_name_brand.sql", ["offer_work"]),
    // ... by name and brand, and by the offer alone.
    step!("transform", "044_found_products.sql", ["offer_work"]),
    step!("transform", "044_found_products.sql", ["offer_work"]),
    step!("transform", "048_save_matches.sql", ["product_offers", "dim_products"]),
    step!("transform", "050_check_offers.sql", ["category_work", "product_windows", "offer_checks"]),
    step!("transform", "060_quarantine.sql"),
    step!("transform", "070_offer_facts.sql", ["fact_offer_prices"]),
    step!("transform", "080_source_stats.sql"),
    step!("transform", "090_product_facts.sql", ["fact_product_prices"]),
    step!("transform", "100_mark_current.sql"),
    step!("transform", "110_cleanup.sql"),
];

/// The transform's work tables: they hold a batch's rows only while it is transformed.
/// 010 and [`CLEANUP_STEP`] delete the batch's rows from each; PostgreSQL truncates them
/// instead, inside the transform's transaction.
pub const WORK_TABLES: &[&str] = &["offer_work", "offer_checks", "product_windows", "category_work"];

/// The transform's last step, which empties the batch's rows from [`WORK_TABLES`].
pub const CLEANUP_STEP: &str = "110_cleanup.sql";

/// Row accounting of a batch after its transform.
pub const BATCH_COUNTS: SqlStep = step!("queries", "batch_counts.sql");
/// What the syncer reads for a batch, in the order [`crate::sync_rows`] reads it.
pub const SYNC_QUERIES: &[SqlStep] = &[
    step!("queries", "sync_products.sql"),
    step!("queries", "sync_offers.sql"),
    step!("queries", "sync_history.sql"),
    step!("queries", "retired_offers.sql"),
    step!("queries", "retired_products.sql"),
    step!("queries", "retired_history.sql"),
];
/// The batch currently staged for a day.
pub const CURRENT_BATCH: SqlStep = step!("queries", "current_batch.sql");
/// A day's rows that did not become facts, by kind, source and reason (`ppmt rejects`).
pub const SET_ASIDE_ROWS: SqlStep = step!("queries", "set_aside_rows.sql");
/// The day's products whose price moved most (`ppmt report`); takes `:limit`.
pub const TOP_MOVERS: SqlStep = step!("queries", "top_movers.sql");
/// Some products' market prices over the days up to a day (`ppmt report`); takes
/// `:product_ids` and `:days`.
pub const MOVER_HISTORY: SqlStep = step!("queries", "mover_history.sql");

/// SQL that cannot be rendered for a batch.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("{step}: unknown parameter `:{name}`")]
    UnknownParameter { step: &'static str, name: String },
    #[error("batch id `{0}` is not safe to use in SQL")]
    UnsafeBatchId(String),
    #[error("text `{0}` is not safe to use in SQL (a backslash or a control character)")]
    UnsafeText(String),
}

/// The value of a parameter other than `:batch_id` and `:batch_date`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Param<'a> {
    /// A number, e.g. a `LIMIT`.
    Count(u32),
    /// Texts as a list of quoted literals, for `IN (...)`; no text is `NULL`, which
    /// matches nothing.
    Texts(&'a [String]),
}

impl Param<'_> {
    fn literal(&self) -> Result<String, RenderError> {
        match self {
            Param::Count(n) => Ok(n.to_string()),
            Param::Texts([]) => Ok("NULL".to_owned()),
            Param::Texts(texts) => {
                let quoted: Result<Vec<String>, RenderError> = texts
                    .iter()
                    .map(|t| {
                        if t.chars().any(|c| c == '\\' || c.is_control()) {
                            return Err(RenderError::UnsafeText(t.clone()));
                        }
                        Ok(format!("'{}'", t.replace('\'', "''")))
                    })
                    .collect();
                Ok(quoted?.join(", "))
            }
        }
    }
}

/// A day, for the queries that read only `:batch_date` (`set_aside_rows.sql`): its
/// `:batch_id` names no batch.
pub fn day(date: chrono::NaiveDate) -> BatchRef {
    BatchRef {
        batch_id: ppmt_domain::BatchId(format!("day-{date}")),
        batch_date: date,
        bucket: String::new(),
        manifest_key: String::new(),
    }
}

/// Replaces `:batch_id` and `:batch_date` with quoted literals. `::` casts, text inside
/// quotes and `--` comments are left alone.
pub fn render(step: &SqlStep, batch: &BatchRef) -> Result<String, RenderError> {
    render_with(step, batch, &[])
}

/// [`render`], with the values of the statement's other parameters, by name.
pub fn render_with(step: &SqlStep, batch: &BatchRef, params: &[(&str, Param)]) -> Result<String, RenderError> {
    if !batch.batch_id.is_valid() {
        return Err(RenderError::UnsafeBatchId(batch.batch_id.0.clone()));
    }
    let sql = step.sql;
    let mut out = String::with_capacity(sql.len() + 64);
    let mut chars = sql.char_indices().peekable();
    let mut in_quote = false;
    while let Some((i, c)) = chars.next() {
        match c {
            '\'' => {
                in_quote = !in_quote;
                out.push(c);
            }
            '-' if !in_quote && sql[i..].starts_with("--") => {
                // A comment runs to the end of the line; quotes in it mean nothing.
                let end = sql[i..].find('\n').map_or(sql.len(), |n| i + n);
                out.push_str(&sql[i..end]);
                while chars.peek().is_some_and(|(j, _)| *j < end) {
                    chars.next();
                }
            }
            ':' if !in_quote => {
                if let Some((_, ':')) = chars.peek() {
                    chars.next();
                    out.push_str("::");
                    continue;
                }
                let rest = &sql[i + 1..];
                let len = rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_')).unwrap_or(rest.len());
                if len == 0 {
                    out.push(c);
                    continue;
                }
                let name = &rest[..len];
                match name {
                    "batch_id" => out.push_str(&format!("'{}'", batch.batch_id)),
                    "batch_date" => out.push_str(&format!("'{}'", batch.batch_date.format("%Y-%m-%d"))),
                    _ => match params.iter().find(|(n, _)| *n == name) {
                        Some((_, value)) => out.push_str(&value.literal()?),
                        None => return Err(RenderError::UnknownParameter { step: step.name, name: name.to_owned() }),
                    },
                }
                for _ in 0..len {
                    chars.next();
                }
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Splits rendered text into statements at `;` ending a line, dropping comment-only
/// pieces (the Redshift Data API takes one statement per entry).
pub fn split_statements(sql: &str) -> Vec<String> {
    let mut statements = Vec::new();
    let mut current = String::new();
    for line in sql.lines() {
        let code = line.trim_start();
        if code.starts_with("--") {
            continue;
        }
        current.push_str(line);
        current.push('\n');
        if line.trim_end().ends_with(';') {
            let stmt = current.trim().trim_end_matches(';').trim().to_owned();
            if !stmt.is_empty() {
                statements.push(stmt);
            }
            current.clear();
        }
    }
    let tail = current.trim();
    if !tail.is_empty() {
        statements.push(tail.to_owned());
    }
    statements
}

/// The table a statement writes (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`), if any.
pub fn written_table(statement: &str) -> Option<&str> {
    let mut words = statement.split_whitespace();
    let first = words.next()?.to_ascii_uppercase();
    let table = match first.as_str() {
        "INSERT" | "DELETE" => {
            words.next()?;
            words.next()?
        }
        "UPDATE" => words.next()?,
        _ => return None,
    };
    Some(table.split('(').next().unwrap_or(table))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use ppmt_domain::BatchId;

    fn batch(id: &str) -> BatchRef {
        BatchRef {
            batch_id: BatchId(id.into()),
            batch_date: NaiveDate::from_ymd_opt(2026, 11, 25).unwrap(),
            bucket: "b".into(),
            manifest_key: "raw/2026-11-25/manifest.json".into(),
        }
    }

    #[test]
    fn renders_parameters_and_leaves_casts_and_quotes() {
        let step = SqlStep {
            name: "t.sql",
            sql: "SELECT x::int FROM t WHERE id = :batch_id AND d = :batch_date AND s = 'a:b :c'",
            analyze: &[],
        };
        assert_eq!(
            render(&step, &batch("b-1")).unwrap(),
            "SELECT x::int FROM t WHERE id = 'b-1' AND d = '2026-11-25' AND s = 'a:b :c'"
        );
    }

    #[test]
    fn apostrophes_in_comments_do_not_hide_parameters() {
        let step = SqlStep {
            name: "t.sql",
            sql: "-- the day's rows: all\nSELECT :batch_id -- it's :batch_date\n",
            analyze: &[],
        };
        assert_eq!(render(&step, &batch("b")).unwrap(), "-- the day's rows: all\nSELECT 'b' -- it's :batch_date\n");
    }

    #[test]
    fn refuses_unknown_parameters_and_unsafe_ids() {
        let step = SqlStep { name: "t.sql", sql: "SELECT :nope", analyze: &[] };
        assert_eq!(
            render(&step, &batch("b")),
            Err(RenderError::UnknownParameter { step: "t.sql", name: "nope".into() })
        );
        let ok = SqlStep { name: "t.sql", sql: "SELECT 1", analyze: &[] };
        assert!(matches!(render(&ok, &batch("b'; --")), Err(RenderError::UnsafeBatchId(_))));
    }

    #[test]
    fn every_shipped_step_renders() {
        for step in
            SCHEMA.iter().chain(POSTGRES_SCHEMA).chain(SEEDS).chain(TRANSFORM_STEPS).chain(SYNC_QUERIES).chain([
                &BATCH_COUNTS,
                &CURRENT_BATCH,
                &SET_ASIDE_ROWS,
            ])
        {
            render(step, &batch("b")).unwrap_or_else(|e| panic!("{e}"));
        }
        let ids = ["G1".to_owned()];
        let report = [("limit", Param::Count(10)), ("product_ids", Param::Texts(&ids)), ("days", Param::Count(30))];
        for step in [&TOP_MOVERS, &MOVER_HISTORY] {
            render_with(step, &batch("b"), &report).unwrap_or_else(|e| panic!("{e}"));
        }
    }

    #[test]
    fn renders_other_parameters_as_literals() {
        let step = SqlStep { name: "t.sql", sql: "SELECT 1 WHERE id IN (:ids) LIMIT :n", analyze: &[] };
        let ids = ["G1".to_owned(), "op's".to_owned()];
        let params = [("ids", Param::Texts(&ids)), ("n", Param::Count(5))];
        assert_eq!(render_with(&step, &batch("b"), &params).unwrap(), "SELECT 1 WHERE id IN ('G1', 'op''s') LIMIT 5");
        let none = [("ids", Param::Texts(&[])), ("n", Param::Count(5))];
        assert_eq!(render_with(&step, &batch("b"), &none).unwrap(), "SELECT 1 WHERE id IN (NULL) LIMIT 5");
        let unsafe_ids = [r"a\'".to_owned()];
        let params = [("ids", Param::Texts(&unsafe_ids)), ("n", Param::Count(5))];
        assert!(matches!(render_with(&step, &batch("b"), &params), Err(RenderError::UnsafeText(_))));
        assert!(matches!(render(&step, &batch("b")), Err(RenderError::UnknownParameter { .. })));
    }

    #[test]
    fn every_transform_file_is_listed_in_order() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sql/transform");
        let mut files: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".sql"))
            .collect();
        files.sort();
        // Matching lists two of its rules again; the first listing of each is in order.
        let mut listed: Vec<&str> = TRANSFORM_STEPS.iter().map(|s| s.name).collect();
        let mut seen = std::collections::HashSet::new();
        listed.retain(|name| seen.insert(*name));
        assert_eq!(files, listed);
    }

    #[test]
    fn cleanup_empties_exactly_the_work_tables() {
        let cleanup = TRANSFORM_STEPS.last().unwrap();
        assert_eq!(cleanup.name, CLEANUP_STEP);
        let text = render(cleanup, &batch("b")).unwrap();
        let statements = split_statements(&text);
        let emptied: Vec<&str> = statements.iter().filter_map(|s| written_table(s)).collect();
        assert_eq!(emptied, WORK_TABLES);
        let reset = render(&TRANSFORM_STEPS[0], &batch("b")).unwrap();
        for table in WORK_TABLES {
            assert!(reset.contains(&format!("DELETE FROM {table} WHERE batch_id")), "010 empties {table}");
        }
    }

    #[test]
    fn finds_the_table_a_statement_writes() {
        assert_eq!(written_table("INSERT INTO product_offers\n (a, b) SELECT 1"), Some("product_offers"));
        assert_eq!(written_table("insert into dim_products(a) values (1)"), Some("dim_products"));
        assert_eq!(written_table("UPDATE fact_product_prices SET x = 1"), Some("fact_product_prices"));
        assert_eq!(written_table("DELETE FROM offer_checks WHERE 1 = 1"), Some("offer_checks"));
        assert_eq!(written_table("SELECT 1"), None);
    }

    #[test]
    fn splits_statements_at_line_ends() {
        let text = "-- comment\nDELETE FROM a;\nINSERT INTO b\nSELECT 1;\n";
        assert_eq!(split_statements(text), vec!["DELETE FROM a", "INSERT INTO b\nSELECT 1"]);
        let reset = render(&TRANSFORM_STEPS[0], &batch("b")).unwrap();
        assert_eq!(split_statements(&reset).len(), 10);
    }
}
