//! Staging and the transform's SQL, step by step, on PostgreSQL: days staged straight
//! into a fresh database (no emulator), transformed, and the warehouse rows compared with
//! values worked out by hand in the comments. Matching (040 to 048), overrides, each
//! quarantine reason and a release (050, 060), FX pinning (030), determinism, transforms
//! running at the same time, and an earlier scrape staged after a later one.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ppmt_e2e::query;
use ppmt_e2e::staged_day::{day_batch, fresh_database, Offer};
use ppmt_platform::adapters::postgres::PostgresWarehouse;
use ppmt_platform::ports::{StagedBatch, Staging, SyncSet, SyncSink, TransformCounts, TransformOutcome, Warehouse};
use ppmt_platform::sql::TRANSFORM_STEPS;
use ppmt_platform::testing::ViewPages;
use ppmt_platform::PortError;
use rust_decimal::Decimal;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, d).unwrap()
}

/// 1 EUR = 1.10 USD.
fn rates() -> Vec<(&'static str, Decimal)> {
    vec![("USD", Decimal::new(110, 2))]
}

/// `body` (12 digits) with its GS1 check digit: an EAN-13.
fn ean13(body: &str) -> String {
    let sum: u32 =
        body.bytes().rev().enumerate().map(|(i, b)| u32::from(b - b'0') * if i % 2 == 0 { 3 } else { 1 }).sum();
    format!("{body}{}", (10 - sum % 10) % 10)
}

async fn database(test: &str) -> PostgresWarehouse {
    let admin = std::env::var("PPMT_DATABASE_URL").expect("PPMT_DATABASE_URL: run with `make e2e`");
    fresh_database(&admin, &format!("steps_{test}")).await.unwrap()
}

async fn transform(w: &PostgresWarehouse, staged: &StagedBatch) -> TransformCounts {
    match w.run_transform(&staged.batch, TRANSFORM_STEPS).await.unwrap() {
        TransformOutcome::Done(counts) => counts,
        TransformOutcome::Superseded { current } => panic!("{} superseded by {current:?}", staged.batch.batch_id),
    }
}

async fn stage_and_transform(w: &PostgresWarehouse, staged: &StagedBatch) -> TransformCounts {
    w.stage_batch(staged).await.unwrap();
    transform(w, staged).await
}

/// Rows of `sql` as text, NULL as "-".
async fn rows(w: &PostgresWarehouse, sql: &str) -> Vec<Vec<String>> {
    query(w, sql)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.into_iter().map(|c| c.unwrap_or_else(|| "-".into())).collect())
        .collect()
}

/// (source, sku) → (product, rule).
async fn mappings(w: &PostgresWarehouse) -> BTreeMap<(String, String), (String, String)> {
    rows(w, "SELECT source_id, source_sku, product_id, match_rule FROM product_offers")
        .await
        .into_iter()
        .map(|r| ((r[0].clone(), r[1].clone()), (r[2].clone(), r[3].clone())))
        .collect()
}

/// `prefix` + the first 16 hex digits of md5(`key`): the id 044 to 047 derive.
async fn derived_id(w: &PostgresWarehouse, prefix: &str, key: &str) -> String {
    rows(w, &format!("SELECT '{prefix}' || SUBSTRING(MD5('{key}'), 1, 16)")).await[0][0].clone()
}

fn key(source: &str, sku: &str) -> (String, String) {
    (source.to_owned(), sku.to_owned())
}

fn mapped(product: &str, rule: &str) -> (String, String) {
    (product.to_owned(), rule.to_owned())
}

/// Day 1 of the matching case: a widget under three GTIN spellings is one product (two
/// of them today); a kettle's GTIN offer founds a product that two MPN-only offers then
/// join; a blender matched by name; a bad check digit is no GTIN.
fn matching_day1() -> Vec<Offer> {
    vec![
        Offer::new("a", "A1", "10.00", "USD").name("Widget Pro", "Acme").gtin("012345678905"),
        Offer::new("b", "B1", "11.00", "USD").name("WIDGET PRO 2024", "ACME").gtin("0012345678905"),
        Offer::new("a", "A2", "30.00", "USD").name("Kettle", "Acme").mpn("KT-200"),
        Offer::new("b", "B2", "31.00", "USD").name("Electric kettle", "acme").mpn("kt 200"),
        Offer::new("c", "C4", "32.00", "USD").name("Kettle deluxe", "Acme").mpn("KT200").gtin("4006381333931"),
        Offer::new("a", "A3", "50.00", "USD").name("Super  Blender", "Acme"),
        Offer::new("b", "B3", "52.00", "USD").name("super blender", "acme"),
        Offer::new("c", "C9", "9.00", "USD").name("Odd thing", "Acme").gtin("012345678906"),
        Offer::new("a", "A5", "70.00", "USD").name("Mixer", "Acme").mpn("MX-1"),
    ]
}

#[tokio::test]
async fn matching_follows_the_rules_in_order_and_keeps_ids_stable() {
    let w = database("matching").await;
    let day1 = day_batch(day(1), 1, &matching_day1(), &rates()).unwrap();
    let counts = stage_and_transform(&w, &day1).await;
    assert_eq!((counts.staged, counts.facts, counts.quarantined, counts.duplicates), (9, 9, 0, 0));

    let widget = "G00012345678905".to_owned();
    let kettle = "G04006381333931".to_owned();
    let blender = derived_id(&w, "N", "acme|super blender").await;
    let odd = derived_id(&w, "N", "acme|odd thing").await;
    let mixer = derived_id(&w, "M", "acme|MX1").await;
    let mut want = BTreeMap::from([
        // no mapped offer yet: both found G<gtin14> (UPC-A and EAN-13 of one item)
        (key("a", "A1"), mapped(&widget, "new")),
        (key("b", "B1"), mapped(&widget, "new")),
        // the kettle's GTIN offer founds its product, then rule 2 runs again and the
        // MPN-only offers (KT-200 and "kt 200" are KT200) join it
        (key("c", "C4"), mapped(&kettle, "new")),
        (key("a", "A2"), mapped(&kettle, "mpn_brand")),
        (key("b", "B2"), mapped(&kettle, "mpn_brand")),
        // "Super  Blender" and "super blender" are one name key: founded together
        (key("a", "A3"), mapped(&blender, "new")),
        (key("b", "B3"), mapped(&blender, "new")),
        // 012345678906 fails its check digit: no GTIN, so it is matched by name
        (key("c", "C9"), mapped(&odd, "new")),
        (key("a", "A5"), mapped(&mixer, "new")),
    ]);
    assert_eq!(mappings(&w).await, want);
    // Products are named after their offer with the smallest (source, sku); the MPN
    // product has no GTIN.
    assert_eq!(
        rows(&w, "SELECT product_id, COALESCE(gtin14, '-'), name FROM dim_products ORDER BY product_id").await,
        {
            let mut p = vec![
                vec![widget.clone(), "00012345678905".into(), "Widget Pro".into()],
                vec![kettle.clone(), "04006381333931".into(), "Kettle deluxe".into()],
                vec![mixer.clone(), "-".into(), "Mixer".into()],
                vec![blender.clone(), "-".into(), "Super  Blender".into()],
                vec![odd.clone(), "-".into(), "Odd thing".into()],
            ];
            p.sort();
            p
        }
    );

    // Day 2: yesterday's offers keep their products; new ones are matched against them.
    let g1 = ean13("400638100001");
    let g2 = ean13("400638100002");
    let mut offers = matching_day1();
    offers.extend([
        // GTIN-14 spelling of the widget: rule 1
        Offer::new("c", "C1", "12.00", "USD").name("Widget", "Acme").gtin("00012345678905"),
        // a GTIN offer may join a product without a GTIN by MPN, which then takes it
        Offer::new("b", "B5", "71.00", "USD").name("Mixer X", "Acme").mpn("MX1").gtin(&g1),
        // but not a product that has another GTIN: a different item, a product of its own
        Offer::new("d", "D6", "33.00", "USD").name("Kettle clone", "Acme").mpn("KT200").gtin(&g2),
        // no GTIN, no MPN, no brand: a product of its own by source and sku
        Offer::new("d", "D1", "5.00", "USD").name("Mystery box", ""),
    ]);
    let day2 = day_batch(day(2), 2, &offers, &rates()).unwrap();
    let counts = stage_and_transform(&w, &day2).await;
    assert_eq!((counts.staged, counts.facts), (13, 13));
    want.insert(key("c", "C1"), mapped(&widget, "gtin"));
    want.insert(key("b", "B5"), mapped(&mixer, "mpn_brand"));
    want.insert(key("d", "D6"), mapped(&format!("G0{g2}"), "new"));
    want.insert(key("d", "D1"), mapped(&derived_id(&w, "S", "d|D1").await, "new"));
    assert_eq!(mappings(&w).await, want);
    assert_eq!(
        rows(&w, &format!("SELECT gtin14 FROM dim_products WHERE product_id = '{mixer}'")).await,
        vec![vec![format!("0{g1}")]]
    );
    // Every offer of a day is one fact of its product and source.
    assert_eq!(
        rows(&w, &format!("SELECT source_id, price_usd FROM fact_offer_prices WHERE product_id = '{widget}' AND price_date = '2026-11-02' ORDER BY source_id")).await,
        vec![vec!["a".to_owned(), "10.00".into()], vec!["b".into(), "11.00".into()], vec!["c".into(), "12.00".into()]]
    );
}

#[tokio::test]
async fn overrides_merge_and_split_and_survive_replays() {
    let w = database("overrides").await;
    let day1 = day_batch(day(1), 1, &matching_day1(), &rates()).unwrap();
    stage_and_transform(&w, &day1).await;
    let blender = derived_id(&w, "N", "acme|super blender").await;

    // Merge C9 into the blender; split B3 off into a product of the operator's naming.
    query(
        &w,
        &format!(
            "INSERT INTO product_overrides (source_id, source_sku, product_id, note) VALUES \
             ('c', 'C9', '{blender}', 'same item'), ('b', 'B3', 'P-BLENDER-2', 'a refurbished one')"
        ),
    )
    .await
    .unwrap();
    for _replay in 0..2 {
        transform(&w, &day1).await;
        let m = mappings(&w).await;
        assert_eq!(m[&key("c", "C9")], mapped(&blender, "override"));
        assert_eq!(m[&key("b", "B3")], mapped("P-BLENDER-2", "override"));
        assert_eq!(m[&key("a", "A3")], mapped(&blender, "new"));
        // The split's product exists, named after its offer; the blender's day has its
        // two offers: 50.00 and 9.00, median 29.50.
        assert_eq!(
            rows(&w, "SELECT name FROM dim_products WHERE product_id = 'P-BLENDER-2'").await,
            vec![vec!["super blender".to_owned()]]
        );
        assert_eq!(
            rows(&w, &format!("SELECT sources, market_price_usd FROM fact_product_prices WHERE product_id = '{blender}' AND price_date = '2026-11-01'")).await,
            vec![vec!["2".to_owned(), "29.50".into()]]
        );
    }
    // The next day's new scrape keeps them too.
    let day2 = day_batch(day(2), 2, &matching_day1(), &rates()).unwrap();
    stage_and_transform(&w, &day2).await;
    assert_eq!(mappings(&w).await[&key("b", "B3")], mapped("P-BLENDER-2", "override"));
}

/// The app view's retirements (`retired_products.sql`): a product no day has any more
/// takes its GTIN pointer with it, unless one of the batch's products holds that GTIN
/// now. The syncer reads the view a page at a time, so the warehouse decides this.
#[tokio::test]
async fn a_retired_product_takes_its_gtin_unless_a_product_of_the_batch_holds_it() {
    let w = database("retired_gtin").await;
    let toaster_gtin = ean13("400638133394");
    let toaster = Offer::new("c", "c-T", "30.00", "USD").name("Toaster", "Acme").gtin(&toaster_gtin);
    let first = day_batch(day(1), 1, &[kettle("a", "100.00"), kettle("b", "100.00"), toaster], &rates()).unwrap();
    stage_and_transform(&w, &first).await;
    let product_of = |gtin: String| {
        let w = &w;
        async move {
            rows(w, &format!("SELECT product_id FROM fact_product_prices WHERE gtin14 = '{gtin}'")).await[0][0].clone()
        }
    };
    let (old_kettle, old_toaster) =
        (product_of("04006381333931".into()).await, product_of(format!("0{toaster_gtin}")).await);

    // The operator moves both kettle offers to a product of their naming, and a second
    // scrape of the day has no toaster: neither first product has a day left.
    query(
        &w,
        "INSERT INTO product_overrides (source_id, source_sku, product_id, note) VALUES \
         ('a', 'a-K', 'P-KETTLE-2', 'renamed'), ('b', 'b-K', 'P-KETTLE-2', 'renamed')",
    )
    .await
    .unwrap();
    let second = day_batch(day(1), 2, &[kettle("a", "100.00"), kettle("b", "100.00")], &rates()).unwrap();
    stage_and_transform(&w, &second).await;

    let mut pages = ViewPages::default();
    w.sync_view(&second.batch, &mut pages).await.unwrap();
    let view = pages.merged();
    let held: Vec<_> = view.products.iter().map(|(p, _)| (p.product_id.as_str(), p.gtin.as_deref())).collect();
    assert_eq!(held, [("P-KETTLE-2", Some("04006381333931"))]);
    let retired: Vec<_> = view.retired_products.iter().map(|(p, gtin, _)| (p.clone(), gtin.clone())).collect();
    let mut expected = vec![(old_kettle, None), (old_toaster, Some(format!("0{toaster_gtin}")))];
    expected.sort();
    assert_eq!(retired, expected, "the kettle's GTIN stays with P-KETTLE-2; the toaster's goes");
}

/// A sink that, at its first page, takes the lock the loader and the transform take.
struct LockingSink<'a> {
    warehouse: &'a PostgresWarehouse,
    locked: Option<anyhow::Result<Vec<Vec<Option<String>>>>>,
    pages: usize,
}

#[async_trait::async_trait]
impl SyncSink for LockingSink<'_> {
    async fn page(&mut self, _page: SyncSet) -> Result<(), PortError> {
        if self.locked.is_none() {
            let lock = "BEGIN; SET LOCAL lock_timeout = '2s'; LOCK TABLE batches; COMMIT";
            self.locked = Some(query(self.warehouse, lock).await);
        }
        self.pages += 1;
        Ok(())
    }
}

/// Reading the app view holds no lock while its pages are written to the app's table:
/// the next day's load or transform does not wait for a sync.
#[tokio::test]
async fn the_app_view_holds_no_lock_while_its_pages_are_written() {
    let w = database("view_locks").await;
    let first = day_batch(day(1), 1, &[kettle("a", "100.00"), kettle("b", "100.00")], &rates()).unwrap();
    stage_and_transform(&w, &first).await;
    let mut sink = LockingSink { warehouse: &w, locked: None, pages: 0 };
    w.sync_view(&first.batch, &mut sink).await.unwrap();
    // The product, its two offers and its history point: a page each.
    assert_eq!(sink.pages, 3);
    sink.locked.unwrap().expect("LOCK TABLE batches while the view's pages are written");
}

/// Shop `source`'s kettle (sku `<source>-K`) at `price` USD.
fn kettle(source: &str, price: &str) -> Offer {
    Offer::new(source, &format!("{source}-K"), price, "USD")
        .name("Kettle", "Acme")
        .gtin("4006381333931")
        .category("Home > Kitchen")
}

/// Five calm days of a kettle at 100.00 from shops a and b.
fn calm_day(d: u32) -> StagedBatch {
    kettle_day(d, i64::from(d), "100.00")
}

#[tokio::test]
async fn each_check_quarantines_its_case_and_a_release_lets_it_through() {
    let w = database("checks").await;
    for d in 1..=5 {
        stage_and_transform(&w, &calm_day(d)).await;
    }
    let day6 = day_batch(
        day(6),
        6,
        &[
            // 10000.00 against this shop's 100.00 yesterday: ×100
            kettle("a", "10000.00"),
            // 250.00 against a median of 100.00 over 5 days with MAD 0: the limit is
            // 5 × max(1.4826 × 0, 0.10 × 100.00) = 50.00 from the median
            kettle("b", "250.00"),
            kettle("c", "101.00"),
            // kitchen bounds are 3.00..2000.00 USD
            Offer::new("c", "c-T", "2500.00", "USD").name("Gold toaster", "Acme").category("Home > Kitchen"),
            // no JPY rate
            Offer::new("c", "c-Y", "1500", "JPY").name("Rice cooker", "Acme"),
            // 0.001 EUR × 1.10 = 0.0011 USD, 0.00 at 2 decimals
            Offer::new("c", "c-Z", "0.001", "EUR").name("Sticker", "Acme"),
            // 1 EUR = 0.0001 BHD (a typo, but in range): 11,000 USD per BHD, so
            // 999,999,999,999.99 BHD is about 1.1 × 10^16 USD
            Offer::new("c", "c-B", "999999999999.99", "BHD").name("Yacht", "Acme"),
        ],
        &[("USD", Decimal::new(110, 2)), ("BHD", Decimal::new(1, 4))],
    )
    .unwrap();
    let counts = stage_and_transform(&w, &day6).await;
    assert_eq!((counts.staged, counts.facts, counts.quarantined, counts.duplicates), (7, 1, 6, 0));
    assert_eq!(
        rows(&w, "SELECT source_sku, reason_code, COALESCE(CAST(price_usd AS TEXT), '-') FROM quarantined_rows WHERE batch_date = '2026-11-06' ORDER BY source_sku").await,
        vec![
            vec!["a-K".to_owned(), "SCALE_ERROR".into(), "10000.00".into()],
            vec!["b-K".into(), "OUTLIER_MAD".into(), "250.00".into()],
            vec!["c-B".into(), "OVERFLOW_AFTER_FX".into(), "-".into()],
            vec!["c-T".into(), "PRICE_BOUNDS".into(), "2500.00".into()],
            vec!["c-Y".into(), "NO_FX_RATE".into(), "-".into()],
            vec!["c-Z".into(), "ZERO_AFTER_FX".into(), "0.00".into()],
        ]
    );
    // The market price is shop c's alone.
    let market = "SELECT sources, market_price_usd FROM fact_product_prices \
                  WHERE product_id = 'G04006381333931' AND price_date = '2026-11-06'";
    assert_eq!(rows(&w, market).await, vec![vec!["1".to_owned(), "101.00".into()]]);

    // The operator releases shop b's offer; a replay makes it a fact: median of 101.00
    // and 250.00 = 175.50.
    query(
        &w,
        "INSERT INTO quarantine_releases (price_date, source_id, source_sku, reason_code, note) \
         VALUES ('2026-11-06', 'b', 'b-K', 'OUTLIER_MAD', 'a real price rise')",
    )
    .await
    .unwrap();
    let counts = transform(&w, &day6).await;
    assert_eq!((counts.facts, counts.quarantined), (2, 5));
    assert_eq!(rows(&w, market).await, vec![vec!["2".to_owned(), "175.50".into()]]);
}

#[tokio::test]
async fn the_mad_widens_the_outlier_limit_for_offers_far_from_the_median() {
    let w = database("mad").await;
    // Two products with the same five days from shops a and b: market prices 80, 90, 100,
    // 110, 120. The median is 100.00, the deviations 20, 10, 0, 10, 20, so the MAD is 10
    // and the limit is 5 × max(1.4826 × 10, 0.10 × 100) = 74.13 from the median.
    let toaster = |source: &str, price: &str| {
        Offer::new(source, &format!("{source}-T"), price, "USD")
            .name("Toaster", "Acme")
            .gtin("5901234123457")
            .category("Home > Kitchen")
    };
    for (d, price) in (1..=5).zip(["80.00", "90.00", "100.00", "110.00", "120.00"]) {
        let offers = [kettle("a", price), kettle("b", price), toaster("a", price), toaster("b", price)];
        stage_and_transform(&w, &day_batch(day(d), i64::from(d), &offers, &rates()).unwrap()).await;
    }
    // The kettle, above: 174.00 is 74.00 away, more than 50 % (so the MAD is read: it is
    // over 1.5 × the lowest day, 120.00, so the median may be 50 % below it), within 74.13
    // (a fact); 175.00 is 75.00 away: an outlier. The toaster, below: 26.00 is 74.00 away
    // (under 0.5 × the highest day, 60.00, so the MAD is read) and a fact; 25.00 is 75.00
    // away: an outlier.
    let offers = [kettle("a", "174.00"), kettle("b", "175.00"), toaster("c", "26.00"), toaster("d", "25.00")];
    let counts = stage_and_transform(&w, &day_batch(day(6), 6, &offers, &rates()).unwrap()).await;
    assert_eq!((counts.facts, counts.quarantined), (2, 2));
    let outlier = |sku: &str, price: &str| {
        vec![
            sku.to_owned(),
            "OUTLIER_MAD".into(),
            format!("{price} USD against a median of 100.0000 (MAD 10.000000) over 5 days"),
        ]
    };
    assert_eq!(
        rows(
            &w,
            "SELECT source_sku, reason_code, detail FROM quarantined_rows WHERE batch_date = '2026-11-06' \
             ORDER BY source_sku"
        )
        .await,
        vec![outlier("b-K", "175.00"), outlier("d-T", "25.00")]
    );
}

#[tokio::test]
async fn fx_rates_are_pinned_at_the_first_transform_and_a_replay_is_identical() {
    let w = database("fx_replay").await;
    let offers = [
        Offer::new("a", "A1", "100.00", "EUR").name("Widget", "Acme").gtin("012345678905"),
        Offer::new("b", "B1", "109.00", "USD").name("Widget", "Acme").gtin("012345678905"),
        Offer::new("b", "B1", "109.00", "USD").name("Widget", "Acme").gtin("012345678905"),
    ];
    let staged = day_batch(day(1), 1, &offers, &rates()).unwrap();
    let counts = stage_and_transform(&w, &staged).await;
    assert_eq!((counts.staged, counts.facts, counts.duplicates), (3, 2, 1));
    let everything = "SELECT f.*, p.* FROM fact_offer_prices f \
                      JOIN fact_product_prices p USING (product_id, price_date) \
                      ORDER BY f.source_id";
    let first = rows(&w, everything).await;
    // 100.00 EUR × 1.10 = 110.00 USD, with the rate kept on the fact (USD needs none).
    assert_eq!(
        rows(&w, "SELECT source_id, price_usd, CAST(fx_rate AS NUMERIC(10,4)), fx_rate_date, fx_source FROM fact_offer_prices ORDER BY source_id").await,
        vec![
            vec!["a".to_owned(), "110.00".into(), "1.1000".into(), "2026-11-01".into(), "ECB".into()],
            vec!["b".into(), "109.00".into(), "1.0000".into(), "2026-11-01".into(), "identity".into()],
        ]
    );
    // A corrected rate for the day arrives later; the replay keeps the pinned one, and
    // every fact row is the same, column for column.
    query(&w, "UPDATE fx_rates SET rate = 1.25 WHERE rate_date = '2026-11-01'").await.unwrap();
    transform(&w, &staged).await;
    assert_eq!(rows(&w, everything).await, first);
}

#[tokio::test]
async fn transforms_running_at_the_same_time_agree_on_products() {
    let w = database("concurrent").await;
    // Two days with the same new products, and a second delivery of day 1, all at once:
    // the transforms take the batches lock in turn, so each offer is mapped once and
    // both days point at the same products.
    let day1 = day_batch(day(1), 1, &matching_day1(), &rates()).unwrap();
    let day2 = day_batch(day(2), 2, &matching_day1(), &rates()).unwrap();
    w.stage_batch(&day1).await.unwrap();
    w.stage_batch(&day2).await.unwrap();
    let (one, two, again) = tokio::join!(transform(&w, &day1), transform(&w, &day2), transform(&w, &day1));
    assert_eq!((one.facts, two.facts, again.facts), (9, 9, 9));
    assert_eq!(mappings(&w).await.len(), 9);
    assert_eq!(
        rows(&w, "SELECT COUNT(*), COUNT(DISTINCT product_id) FROM fact_offer_prices GROUP BY price_date ORDER BY price_date").await,
        vec![vec!["9".to_owned(), "5".into()], vec!["9".into(), "5".into()]]
    );
    assert_eq!(rows(&w, "SELECT COUNT(*) FROM fact_product_prices WHERE is_current").await, vec![vec!["5".to_owned()]]);
}

#[tokio::test]
async fn an_earlier_scrape_staged_after_a_later_one_changes_nothing() {
    let w = database("ordering").await;
    let scrape = |seq: i64, price: &str| {
        let offer = Offer::new("a", "A1", price, "USD").name("Widget", "Acme").gtin("012345678905");
        day_batch(day(1), seq, &[offer], &rates()).unwrap()
    };
    let (later, earlier) = (scrape(5, "12.00"), scrape(3, "10.00"));
    assert_eq!(w.stage_batch(&later).await.unwrap(), Staging::Staged);
    transform(&w, &later).await;
    // The slow load of the earlier scrape finishes last: refused under the lock, and its
    // events are stale.
    assert_eq!(w.stage_batch(&earlier).await.unwrap(), Staging::Older { current: later.batch.batch_id.clone() });
    assert!(matches!(
        w.run_transform(&earlier.batch, TRANSFORM_STEPS).await.unwrap(),
        TransformOutcome::Superseded { current: Some(ref c) } if *c == later.batch.batch_id
    ));
    let price = "SELECT price_usd FROM fact_offer_prices WHERE price_date = '2026-11-01'";
    assert_eq!(rows(&w, price).await, vec![vec!["12.00".to_owned()]]);
    // A replay of the staged batch stages again.
    assert_eq!(w.stage_batch(&later).await.unwrap(), Staging::Staged);

    // Two loads of a day at once, in either order: the later scrape is what stays.
    let (newer, older) = (scrape(7, "14.00"), scrape(6, "13.00"));
    let (a, b) = tokio::join!(w.stage_batch(&older), w.stage_batch(&newer));
    assert_eq!(b.unwrap(), Staging::Staged);
    assert!(matches!(a.unwrap(), Staging::Staged | Staging::Older { .. }));
    assert_eq!(
        rows(&w, "SELECT batch_id FROM batches WHERE batch_date = '2026-11-01'").await,
        vec![vec![newer.batch.batch_id.to_string()]]
    );
}

/// A kettle at `price` from shops a and b on day `d`, scrape `seq`.
fn kettle_day(d: u32, seq: i64, price: &str) -> StagedBatch {
    day_batch(day(d), seq, &[kettle("a", price), kettle("b", price)], &rates()).unwrap()
}

#[tokio::test]
async fn a_product_takes_the_best_category_of_its_offers_and_its_bounds() {
    let w = database("categories").await;
    let watch = |source: &str, price: &str| {
        Offer::new(source, &format!("{source}-W"), price, "USD").name("Pixel Watch X", "Acme").gtin("4006381333931")
    };
    let day1 = day_batch(
        day(1),
        1,
        &[
            // keyword rules only: "%watch%" wearables (20) beats "%pixel%" smartphones (30)
            watch("a", "110.00"),
            // a path: smartphones (10), whose bounds (20.00..3000.00) would pass 2500.00
            watch("b", "2500.00").category("Phones > Smartphones"),
            // a specific path: audio (5), the best of the three
            watch("c", "100.00").category("Audio > Headphones"),
        ],
        &rates(),
    )
    .unwrap();
    let counts = stage_and_transform(&w, &day1).await;
    assert_eq!((counts.facts, counts.quarantined), (2, 1));
    // Every offer is checked against the product's category, audio (5.00..2000.00).
    assert_eq!(
        rows(&w, "SELECT source_sku, reason_code, detail FROM quarantined_rows").await,
        vec![vec!["b-W".to_owned(), "PRICE_BOUNDS".into(), "2500.00 USD outside 5.00..2000.00 for audio".into()]]
    );
    assert_eq!(
        rows(&w, "SELECT category, market_price_usd FROM fact_product_prices").await,
        vec![vec!["audio".to_owned(), "105.00".into()]]
    );
}

#[tokio::test]
async fn a_replayed_older_day_leaves_a_newer_days_window_figures_alone() {
    let w = database("windows").await;
    // Days 1 to 8 at 100.00, 102.00, ..., 114.00 (the market price: both shops agree).
    let mut days = Vec::new();
    for d in 1..=8 {
        let staged = kettle_day(d, i64::from(d), &format!("{}.00", 98 + 2 * d));
        stage_and_transform(&w, &staged).await;
        days.push(staged);
    }
    let figures = |date: &str| {
        format!(
            "SELECT market_price_usd, prev_price_date, price_change_pct, trend, avg_7d, min_7d, max_7d, \
             avg_30d, min_30d, max_30d, is_current FROM fact_product_prices \
             WHERE product_id = 'G04006381333931' AND price_date = '{date}'"
        )
    };
    // The columns above, in order, separated by spaces.
    let row = |r: &str| vec![r.split_whitespace().map(str::to_owned).collect::<Vec<String>>()];
    // Day 3: days 1 to 3 (202.00 over the two days before); +1.96 % on 102.00;
    // 104.00 × 2 >= 1.02 × 202.00: rising.
    let day3 = row("104.00 2026-11-02 1.96 rising 102.00 100.00 104.00 102.00 100.00 104.00 f");
    // Day 8: 7 days 102.00..114.00 = 756.00 / 7 = 108.00; 30 days with 100.00 = 856.00 /
    // 8 = 107.00; +1.79 % on 112.00; 114.00 × 6 >= 1.02 × 642.00: rising.
    let day8 = row("114.00 2026-11-07 1.79 rising 108.00 102.00 114.00 107.00 100.00 114.00 t");
    assert_eq!(rows(&w, &figures("2026-11-03")).await, day3);
    assert_eq!(rows(&w, &figures("2026-11-08")).await, day8);

    // A later scrape of day 3 at 300.00 replaces the day; day 8's row, made before, keeps
    // its figures.
    let replay = kettle_day(3, 103, "300.00");
    stage_and_transform(&w, &replay).await;
    // (300.00 - 102.00) / 102.00 = +194.12 %; (202.00 + 300.00) / 3 = 167.33.
    let day3 = row("300.00 2026-11-02 194.12 rising 167.33 100.00 300.00 167.33 100.00 300.00 f");
    assert_eq!(rows(&w, &figures("2026-11-03")).await, day3);
    assert_eq!(rows(&w, &figures("2026-11-08")).await, day8);

    // A retry of day 8 reads the new day 3: 7 days 952.00 / 7 = 136.00, 30 days 1052.00 / 8
    // = 131.50; 114.00 × 6 <= 0.98 × 838.00: falling.
    transform(&w, &days[7]).await;
    let day8 = row("114.00 2026-11-07 1.79 falling 136.00 102.00 300.00 131.50 100.00 300.00 t");
    assert_eq!(rows(&w, &figures("2026-11-08")).await, day8);
    // The work rows are gone after each transform.
    assert_eq!(rows(&w, "SELECT COUNT(*) FROM product_windows").await, vec![vec!["0".to_owned()]]);
}
