//! Linear cost, checked on PostgreSQL's plans: after three days of a few thousand
//! observations each, every shipped statement (the transform steps, the syncer's and the
//! operator's queries) is EXPLAINed for the third day, and none may run a nested loop
//! that scans a staging or fact table sequentially once per outer row (a cost that grows
//! with the product of two tables' sizes).
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use chrono::NaiveDate;
use ppmt_domain::manifest::{FileFormat, FileKind};
use ppmt_domain::record::PRICE_CSV_HEADER;
use ppmt_domain::{BatchRef, Stage};
use ppmt_e2e::{Harness, RawFile};
use ppmt_platform::ports::RunStatus;
use ppmt_platform::sql;
use serde_json::Value;
use std::time::Duration;

/// Tables whose size grows with the days or the batch.
const BIG: [&str; 9] = [
    "staging_prices",
    "fact_offer_prices",
    "fact_product_prices",
    "product_offers",
    "offer_work",
    "offer_checks",
    "rejected_rows",
    "duplicate_rows",
    "quarantined_rows",
];

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// 3,000 products from each of two shops (GTINs shared, so one product each), prices
/// moving a little every day.
fn files(d: u32) -> Vec<RawFile<'static>> {
    let date = day(d);
    let shop = |source: &'static str, currency: &str, bump: u32| {
        let mut csv = PRICE_CSV_HEADER.join(",");
        csv.push('\n');
        for n in 0..3000u32 {
            let mut row = vec![String::new(); PRICE_CSV_HEADER.len()];
            row[0] = format!("{source}-{n}");
            row[1] = format!("Thing {n}");
            row[2] = "Acme".into();
            row[4] = format!("MPN{n}");
            row[6] = format!("{}.{:02}", 20 + n % 300, (d + bump) % 100);
            row[13] = currency.into();
            row[16] = format!("{date}T02:00:00Z");
            csv.push_str(&row.join(","));
            csv.push('\n');
        }
        RawFile { source_id: source, kind: FileKind::Prices, format: FileFormat::Csv, content: csv, records: 3000 }
    };
    let fx = format!("rate_date,base_currency,quote_currency,rate,source\n{date},EUR,USD,1.05,ECB\n");
    vec![
        shop("shop_eu", "EUR", 0),
        shop("shop_us", "USD", 7),
        RawFile { source_id: "ecb", kind: FileKind::FxRates, format: FileFormat::Csv, content: fx, records: 1 },
    ]
}

/// Nested loops that run a sequential scan of a big table once per outer row: the
/// inner side is the scan itself (not a hash or a materialised copy built once), and the
/// outer side has more than one row. Found as "relation (outer rows)".
fn quadratic_loops(plan: &Value, found: &mut Vec<String>) {
    let children = plan.get("Plans").and_then(Value::as_array).cloned().unwrap_or_default();
    if plan.get("Node Type").and_then(Value::as_str).is_some_and(|t| t.starts_with("Nested Loop")) {
        if let (Some(outer), Some(inner)) = (children.first(), children.get(1)) {
            let outer_rows = outer.get("Plan Rows").and_then(Value::as_f64).unwrap_or(0.0);
            let inner_type = inner.get("Node Type").and_then(Value::as_str);
            let relation = inner.get("Relation Name").and_then(Value::as_str).unwrap_or_default();
            if inner_type == Some("Seq Scan") && BIG.contains(&relation) && outer_rows > 1.0 {
                found.push(format!("{relation} ({outer_rows} outer rows)"));
            }
        }
    }
    for child in &children {
        quadratic_loops(child, found);
    }
}

#[tokio::test]
async fn no_shipped_statement_loops_over_a_sequential_scan_of_a_big_table() -> anyhow::Result<()> {
    let mut h = Harness::new("plans").await?;
    h.start("loader")?;
    h.start("transformer")?;
    let mut last = None;
    for d in [23, 24, 25] {
        let m = h.drop_batch(day(d), &files(d)).await?;
        h.wait_for(day(d), &m.batch_id, Stage::Transformed, Duration::from_secs(120), |r| {
            r.status == RunStatus::Succeeded
        })
        .await?;
        last = Some(m);
    }
    let m = last.unwrap();
    let batch = BatchRef {
        batch_id: m.batch_id.clone(),
        batch_date: m.batch_date,
        bucket: h.bucket().to_owned(),
        manifest_key: "raw/2026-11-25/manifest.json".into(),
    };
    h.query("ANALYZE").await?;
    let mut offenders = Vec::new();
    let mut explained = 0;
    let operator_queries = [&sql::BATCH_COUNTS, &sql::CURRENT_BATCH, &sql::SET_ASIDE_ROWS];
    let mut texts = Vec::new();
    for step in sql::TRANSFORM_STEPS.iter().chain(sql::SYNC_QUERIES).chain(operator_queries) {
        texts.push((step.name, sql::render(step, &batch)?));
    }
    // `ppmt report`'s queries: the day's movers, and the history of the ones it found.
    let movers = sql::render_with(&sql::TOP_MOVERS, &batch, &[("limit", sql::Param::Count(10))])?;
    let ids: Vec<String> = h.query(&movers).await?.into_iter().filter_map(|r| r[0].clone()).collect();
    assert_eq!(ids.len(), 10, "the third day has movers");
    texts.push((sql::TOP_MOVERS.name, movers));
    let history = [("product_ids", sql::Param::Texts(&ids)), ("days", sql::Param::Count(30))];
    texts.push((sql::MOVER_HISTORY.name, sql::render_with(&sql::MOVER_HISTORY, &batch, &history)?));
    for (name, text) in &texts {
        for (i, statement) in sql::split_statements(text).iter().enumerate() {
            let rows = h.query(&format!("EXPLAIN (FORMAT JSON) {statement}")).await?;
            let plan: Value = serde_json::from_str(rows[0][0].as_deref().unwrap())?;
            let mut found = Vec::new();
            quadratic_loops(&plan[0]["Plan"], &mut found);
            offenders.extend(found.into_iter().map(|r| format!("{name} statement {}: {r}", i + 1)));
            explained += 1;
        }
    }
    println!("explained {explained} statements");
    assert!(explained > 20, "every step was explained");
    assert!(offenders.is_empty(), "nested loops over sequential scans: {offenders:#?}");
    Ok(())
}

#[test]
fn the_check_finds_a_loop_over_a_sequential_scan() {
    let plan = serde_json::json!({
        "Node Type": "Nested Loop", "Plan Rows": 1000,
        "Plans": [
            {"Node Type": "Index Scan", "Relation Name": "staging_prices", "Plan Rows": 300000},
            {"Node Type": "Seq Scan", "Relation Name": "fact_offer_prices", "Plan Rows": 1000000}
        ]
    });
    let mut found = Vec::new();
    quadratic_loops(&plan, &mut found);
    assert_eq!(found, vec!["fact_offer_prices (300000 outer rows)"]);
    let hashed = serde_json::json!({"Node Type": "Hash Join", "Plans": plan["Plans"]});
    let mut none = Vec::new();
    quadratic_loops(&hashed, &mut none);
    assert!(none.is_empty());
}
