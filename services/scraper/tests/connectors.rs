//! Every source kind against a local HTTP server playing recorded responses: pagination
//! styles, throttling, server errors, timeouts, loops, malformed documents and an XML
//! entity bomb. Each test scrapes a day into an in-memory store and checks the records
//! written and the `metadata.json` report.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failed test

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use ppmt_domain::Manifest;
use ppmt_platform::ports::ObjectStore;
use ppmt_platform::testing::MemoryStore;
use ppmt_scraper::fixture_server::{FixtureServer, Reply};
use ppmt_scraper::sources::parse_sources;
use ppmt_scraper::{scrape_day, Documents, ScrapeError};

const BUCKET: &str = "raw";

/// Scripted replies by path and query.
type Routes = BTreeMap<String, Vec<Reply>>;

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 25).unwrap()
}

fn json(body: serde_json::Value) -> Reply {
    Reply::ok("application/json", body.to_string())
}

/// Scrapes `sources` (TOML, `${BASE}` is the server) and returns the manifest, the
/// parsed metadata, and the raw file of each source as text.
async fn scrape(
    server: &FixtureServer,
    sources: &str,
) -> (Result<Manifest, String>, serde_json::Value, BTreeMap<String, String>) {
    let env = BTreeMap::from([("BASE".to_string(), server.base_url())]);
    let sources = parse_sources("test.toml", sources, &env).unwrap();
    let store = MemoryStore::default();
    let result = scrape_day(&store, BUCKET, &sources, day(), &env, None, None, Documents::Fetch).await;
    let metadata: serde_json::Value =
        serde_json::from_slice(&store.get(BUCKET, "raw/2026-11-25/metadata.json").await.unwrap()).unwrap();
    let mut files = BTreeMap::new();
    for s in metadata["sources"].as_array().unwrap() {
        if let Some(key) = s["file"].as_str() {
            let body = store.get(BUCKET, key).await.unwrap();
            files.insert(s["source_id"].as_str().unwrap().to_owned(), String::from_utf8(body.to_vec()).unwrap());
        }
    }
    (result.map(|(m, _)| m).map_err(|e| e.to_string()), metadata, files)
}

fn report<'a>(metadata: &'a serde_json::Value, id: &str) -> &'a serde_json::Value {
    metadata["sources"].as_array().unwrap().iter().find(|s| s["source_id"] == id).unwrap()
}

/// Product ids of the records in a JSON Lines raw file (rejected records have none).
fn ids(file: &str) -> Vec<String> {
    field_values(file, "product_id")
}

/// Reject reasons carried by the rejected records of a JSON Lines raw file.
fn rejected(file: &str) -> Vec<String> {
    field_values(file, "reject_reason")
}

fn field_values(file: &str, field: &str) -> Vec<String> {
    file.lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()[field].as_str().map(str::to_owned))
        .collect()
}

fn api_source(pagination: &str, path: &str) -> String {
    format!(
        "[[source]]\nid = \"api\"\nkind = \"json_api\"\nurl = \"${{BASE}}{path}\"\ndefault_currency = \"USD\"\nrate_limit_per_sec = 50\nburst = 10\n{pagination}\nmapping = {{ items = \"/items\", product_id = \"/id\", price = \"/price\" }}\n"
    )
}

fn items(ids: &[&str]) -> serde_json::Value {
    serde_json::Value::Array(ids.iter().map(|id| serde_json::json!({"id": id, "price": "1.50"})).collect())
}

#[tokio::test]
async fn every_pagination_style_collects_every_page() {
    let cases: Vec<(&str, &str, Routes)> = vec![
        (
            "pagination = { style = \"page_number\", param = \"page\" }",
            "/p",
            BTreeMap::from([
                ("/p?page=1".into(), vec![json(serde_json::json!({"items": items(&["a", "b"])}))]),
                ("/p?page=2".into(), vec![json(serde_json::json!({"items": items(&["c"])}))]),
                ("/p?page=3".into(), vec![json(serde_json::json!({"items": []}))]),
            ]),
        ),
        (
            "pagination = { style = \"offset\", limit = 2 }",
            "/o",
            BTreeMap::from([
                ("/o?offset=0&limit=2".into(), vec![json(serde_json::json!({"items": items(&["a", "b"])}))]),
                ("/o?limit=2&offset=2".into(), vec![json(serde_json::json!({"items": items(&["c"])}))]),
            ]),
        ),
        (
            "pagination = { style = \"cursor\", cursor_pointer = \"/next\" }",
            "/c",
            BTreeMap::from([
                ("/c".into(), vec![json(serde_json::json!({"items": items(&["a", "b"]), "next": "k2"}))]),
                ("/c?cursor=k2".into(), vec![json(serde_json::json!({"items": items(&["c"]), "next": null}))]),
            ]),
        ),
        (
            "pagination = { style = \"next_url\", next_pointer = \"/links/next\" }",
            "/n",
            BTreeMap::from([
                ("/n".into(), vec![json(serde_json::json!({"items": items(&["a", "b"]), "links": {"next": "/n2"}}))]),
                ("/n2".into(), vec![json(serde_json::json!({"items": items(&["c"]), "links": {}}))]),
            ]),
        ),
        (
            "pagination = { style = \"link_header\" }",
            "/l",
            BTreeMap::from([
                (
                    "/l".into(),
                    vec![json(serde_json::json!({"items": items(&["a", "b"])})).header("Link", "</l2>; rel=\"next\"")],
                ),
                (
                    "/l2".into(),
                    vec![json(serde_json::json!({"items": items(&["c"])})).header("Link", "</l>; rel=\"first\"")],
                ),
            ]),
        ),
    ];
    for (pagination, path, routes) in cases {
        let server = FixtureServer::start(0, routes).await.unwrap();
        let (manifest, metadata, files) = scrape(&server, &api_source(pagination, path)).await;
        assert!(manifest.is_ok(), "{pagination}: {manifest:?}");
        assert_eq!(ids(&files["api"]), vec!["a", "b", "c"], "{pagination}");
        let r = report(&metadata, "api");
        assert_eq!(r["status"], "ok", "{pagination}: {r}");
        assert!(r["error"].is_null());
    }
}

#[tokio::test]
async fn throttling_is_retried_after_the_servers_delay() {
    let routes = BTreeMap::from([(
        "/p".into(),
        vec![Reply::status(429).header("Retry-After", "1"), json(serde_json::json!({"items": items(&["a"])}))],
    )]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let started = Instant::now();
    let (_, metadata, files) = scrape(&server, &api_source("", "/p")).await;
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After was honoured");
    assert_eq!(ids(&files["api"]), vec!["a"]);
    let http = &report(&metadata, "api")["http"];
    assert_eq!(http["status_counts"], serde_json::json!({"200": 1, "429": 1}));
    assert_eq!((http["requests"].as_u64(), http["retries"].as_u64()), (Some(2), Some(1)));
}

#[tokio::test]
async fn a_server_error_then_success_is_retried_but_a_404_is_not() {
    let routes = BTreeMap::from([
        ("/p".into(), vec![Reply::status(500), json(serde_json::json!({"items": items(&["a"])}))]),
        ("/missing".into(), vec![Reply::status(404)]),
    ]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let two =
        format!("{}{}", api_source("", "/p"), api_source("", "/missing").replace("id = \"api\"", "id = \"gone\""));
    let (manifest, metadata, files) = scrape(&server, &two).await;
    assert_eq!(ids(&files["api"]), vec!["a"]);
    assert_eq!(report(&metadata, "api")["http"]["status_counts"], serde_json::json!({"200": 1, "500": 1}));
    let gone = report(&metadata, "gone");
    assert_eq!(gone["status"], "failed");
    assert_eq!(gone["http"]["status_counts"], serde_json::json!({"404": 1}), "4xx is final");
    assert!(gone["error"].as_str().unwrap().contains("HTTP 404"));
    // The failing source is flagged in the manifest; the other one still made the batch.
    let manifest = manifest.unwrap();
    let canonical: Vec<_> = manifest.files.iter().filter(|f| f.kind != ppmt_domain::FileKind::Original).collect();
    assert_eq!(canonical.len(), 1);
    assert_eq!(manifest.sources_without_data[0].source_id, "gone");
}

#[tokio::test]
async fn a_timeout_fails_only_its_source() {
    let routes = BTreeMap::from([
        ("/slow".into(), vec![json(serde_json::json!({"items": items(&["x"])})).delayed(Duration::from_secs(3))]),
        ("/p".into(), vec![json(serde_json::json!({"items": items(&["a"])}))]),
    ]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let slow = api_source("", "/slow").replace("id = \"api\"", "id = \"slow\"") + "timeout_secs = 1\nmax_retries = 1\n";
    let (manifest, metadata, files) = scrape(&server, &format!("{slow}{}", api_source("", "/p"))).await;
    assert!(manifest.is_ok());
    let slow = report(&metadata, "slow");
    assert_eq!(slow["status"], "failed");
    assert_eq!(slow["http"]["status_counts"], serde_json::json!({"timeout": 2}), "one try and one retry");
    assert!(slow["error"].as_str().unwrap().contains("timed out"));
    assert_eq!(ids(&files["api"]), vec!["a"]);
}

#[tokio::test]
async fn pagination_loops_and_runaway_sources_end_with_a_recorded_error() {
    let routes = BTreeMap::from([
        // The next URL points back at the first page.
        ("/loop".into(), vec![json(serde_json::json!({"items": items(&["a"]), "next": "/loop2"}))]),
        ("/loop2".into(), vec![json(serde_json::json!({"items": items(&["b"]), "next": "/loop"}))]),
        // Page 2 is page 1 again.
        ("/same?page=1".into(), vec![json(serde_json::json!({"items": items(&["a"])}))]),
        ("/same?page=2".into(), vec![json(serde_json::json!({"items": items(&["a"])}))]),
    ]);
    let mut routes = routes;
    for page in 1..=10 {
        routes.insert(
            format!("/endless?page={page}"),
            vec![json(serde_json::json!({"items": items(&[&format!("e{page}")])}))],
        );
    }
    let server = FixtureServer::start(0, routes).await.unwrap();
    let sources = [
        api_source("pagination = { style = \"next_url\", next_pointer = \"/next\" }", "/loop")
            .replace("id = \"api\"", "id = \"loop\""),
        api_source("pagination = { style = \"page_number\" }", "/same").replace("id = \"api\"", "id = \"same\""),
        api_source("pagination = { style = \"page_number\" }", "/endless").replace("id = \"api\"", "id = \"endless\"")
            + "max_pages = 3\n",
    ]
    .concat();
    let (_, metadata, files) = scrape(&server, &sources).await;
    let lp = report(&metadata, "loop");
    assert_eq!(lp["status"], "partial");
    assert!(lp["error"].as_str().unwrap().contains("pagination loop"), "{lp}");
    assert_eq!(ids(&files["loop"]), vec!["a", "b"], "records before the loop are kept");
    let same = report(&metadata, "same");
    assert!(same["error"].as_str().unwrap().contains("same as the page before"), "{same}");
    let endless = report(&metadata, "endless");
    assert!(endless["error"].as_str().unwrap().contains("page cap of 3"), "{endless}");
    assert_eq!(endless["pages"], 3);
    assert_eq!(ids(&files["endless"]), vec!["e1", "e2", "e3"]);
}

#[tokio::test]
async fn malformed_json_and_html_are_rejected_with_reasons_not_panics() {
    let routes = BTreeMap::from([
        ("/bad.json".into(), vec![Reply::ok("application/json", "{\"items\": [ {\"id\": ")]),
        ("/robots.txt".into(), vec![Reply::status(404)]),
        ("/broken.html".into(), vec![Reply::ok("text/html", "<html><body><div itemscope itemtype=\"https://schema.org/Product\"><span itemprop=\"price\">")]),
        ("/bad-ld.html".into(), vec![Reply::ok("text/html", "<script type=\"application/ld+json\">{not json</script><meta property=\"product:price:amount\" content=\"12.00\"><meta property=\"product:price:currency\" content=\"EUR\"><meta property=\"og:title\" content=\"Mug\">")]),
    ]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let sources = format!(
        "{}[[source]]\nid = \"pages\"\nkind = \"html_pages\"\nurls = [\"${{BASE}}/broken.html\", \"${{BASE}}/bad-ld.html\"]\n",
        api_source("", "/bad.json")
    );
    let (_, metadata, files) = scrape(&server, &sources).await;
    let api = report(&metadata, "api");
    assert_eq!(api["status"], "failed");
    assert_eq!(api["rejected_by_reason"], serde_json::json!({"MALFORMED_DOCUMENT": 1}));
    let pages = report(&metadata, "pages");
    assert_eq!(pages["records"], 1, "the OpenGraph price survives broken JSON-LD: {pages}");
    assert_eq!(pages["rejected"], 1);
    assert_eq!(rejected(&files["pages"]), vec!["MISSING_FIELD"], "the page without a price is kept as a reject");
    let line: serde_json::Value = serde_json::from_str(files["pages"].lines().next().unwrap()).unwrap();
    assert_eq!(
        (line["price"].as_str(), line["currency"].as_str(), line["name"].as_str()),
        (Some("12"), Some("EUR"), Some("Mug"))
    );
}

#[tokio::test]
async fn an_unreadable_document_fails_its_source_with_the_reason() {
    let routes = BTreeMap::from([
        ("/feed.csv".into(), vec![Reply::ok("text/csv", "sku;amount\n1;2,00\n")]),
        ("/api?page=1".into(), vec![json(serde_json::json!({"data": items(&["a"])}))]),
    ]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let sources = format!(
        "[[source]]\nid = \"csv\"\nkind = \"csv_feed\"\nurl = \"${{BASE}}/feed.csv\"\ncsv = {{ delimiter = \";\", product_id = \"sku\", price = \"preis\" }}\n{}",
        api_source("pagination = { style = \"page_number\" }", "/api")
    );
    let (manifest, metadata, _) = scrape(&server, &sources).await;
    let csv = report(&metadata, "csv");
    assert_eq!(csv["status"], "failed");
    assert!(csv["error"].as_str().unwrap().contains("preis"), "names the missing column: {csv}");
    // A wrong items pointer is one broken page, not an empty page to paginate past.
    let api = report(&metadata, "api");
    assert_eq!((api["status"].as_str(), api["pages"].as_u64()), (Some("failed"), Some(1)), "{api}");
    assert!(manifest.is_err());
}

#[tokio::test]
async fn an_entity_bomb_feed_is_refused_quickly() {
    let bomb = r#"<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol9 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol9;</g:id><g:price>1.00 USD</g:price></item></channel></rss>"#;
    let routes = BTreeMap::from([("/feed.xml".into(), vec![Reply::ok("application/xml", bomb)])]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let started = Instant::now();
    let (manifest, metadata, _) =
        scrape(&server, "[[source]]\nid = \"feed\"\nkind = \"merchant_feed\"\nurl = \"${BASE}/feed.xml\"\n").await;
    assert!(started.elapsed() < Duration::from_secs(5));
    let feed = report(&metadata, "feed");
    assert_eq!(feed["status"], "failed");
    assert!(feed["error"].as_str().unwrap().to_lowercase().contains("doctype"), "{feed}");
    assert!(manifest.unwrap_err().contains("no source returned data"), "no manifest without data");
}

#[tokio::test]
async fn one_source_of_each_kind_with_prices_in_every_format() {
    let server = FixtureServer::serve_dir(
        0,
        std::path::Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/fixtures/demo/site")),
    )
    .await
    .unwrap();
    let sources = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/fixtures/demo/sources.toml"))
        .unwrap()
        .replace("PPMT_DEMO_BASE_URL", "BASE");
    let (manifest, metadata, files) = scrape(&server, &sources).await;
    let manifest = manifest.unwrap();
    let canonical = manifest.files.iter().filter(|f| f.kind != ppmt_domain::FileKind::Original).count();
    assert_eq!(canonical, 5);
    let price_of = |source: &str, id: &str| -> String {
        if source == "partner_csv" {
            let line = files[source].lines().find(|l| l.starts_with(id)).unwrap();
            let price = ppmt_domain::record::PRICE_CSV_HEADER.iter().position(|c| *c == "price").unwrap();
            return line.split(',').nth(price).unwrap().to_owned();
        }
        let line = files[source]
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["product_id"] == id)
            .unwrap();
        format!("{} {}", line["price"].as_str().unwrap(), line["currency"].as_str().unwrap())
    };
    // JSON number 19.99 and the string "1,299.00" (en); amounts are written normalized.
    assert_eq!(price_of("acme_api", "4006381333931"), "19.99 USD");
    assert_eq!(price_of("acme_api", "0012345678905"), "1299 USD");
    // "17,50" and "1.199,00" in the de locale.
    assert_eq!(price_of("partner_csv", "4006381333931"), "17.5");
    assert_eq!(price_of("partner_csv", "0012345678905"), "1199");
    // g:sale_price "18.50 USD" wins over g:price.
    assert_eq!(price_of("merchant_feed", "4006381333931"), "18.5 USD");
    // JSON-LD and microdata pages; /private/ is disallowed by robots.txt.
    assert_eq!(price_of("shop_pages", "4006381333931"), "15.2 GBP");
    assert_eq!(price_of("shop_pages", "0012345678905"), "999 GBP");
    let pages = report(&metadata, "shop_pages");
    assert_eq!(pages["disallowed_by_robots"].as_array().unwrap().len(), 1);
    // A zero price is rejected with its reason, never recorded as 0, and travels on to
    // the loader as a rejected record.
    assert_eq!(report(&metadata, "acme_api")["rejected_by_reason"], serde_json::json!({"ZERO_PRICE": 1}));
    assert_eq!(rejected(&files["acme_api"]), vec!["ZERO_PRICE"]);
    let api_file = manifest.files.iter().find(|f| f.source_id == "acme_api").unwrap();
    assert_eq!(api_file.record_count, 4, "3 records and 1 rejected record");
    assert!(files["ecb"].contains("2026-11-25,EUR,GBP,0.84,ECB"), "{}", files["ecb"]);
    // The manifest describes each canonical file exactly.
    for f in manifest.files.iter().filter(|f| f.kind != ppmt_domain::FileKind::Original) {
        let body = files[&f.source_id].as_bytes();
        assert!(f.verify(body).is_ok(), "{}", f.key);
    }
}

#[tokio::test]
async fn scraping_one_source_again_keeps_the_other_sources_files() {
    let routes = BTreeMap::from([
        (
            "/a".into(),
            vec![
                json(serde_json::json!({"items": items(&["a1"])})),
                json(serde_json::json!({"items": items(&["a2"])})),
            ],
        ),
        ("/b".into(), vec![json(serde_json::json!({"items": items(&["b1"])})), Reply::status(404)]),
    ]);
    let server = FixtureServer::start(0, routes).await.unwrap();
    let env = BTreeMap::from([("BASE".to_string(), server.base_url())]);
    let path = std::env::temp_dir().join(format!("ppmt-sources-partial-{}.toml", std::process::id()));
    std::fs::write(
        &path,
        format!(
            "{}{}",
            api_source("", "/a").replace("id = \"api\"", "id = \"a\""),
            api_source("", "/b").replace("id = \"api\"", "id = \"b\"")
        ),
    )
    .unwrap();
    let path = path.to_string_lossy().into_owned();
    let store = MemoryStore::default();
    let (first, _) = ppmt_scraper::scrape_from_file(&store, BUCKET, &path, day(), None, &env).await.unwrap();
    let (second, metadata) =
        ppmt_scraper::scrape_from_file(&store, BUCKET, &path, day(), Some("a"), &env).await.unwrap();
    let keys_of = |m: &Manifest, id: &str| -> Vec<String> {
        m.files.iter().filter(|f| f.source_id == id).map(|f| f.key.clone()).collect()
    };
    assert_ne!(second.batch_id, first.batch_id);
    assert_eq!(keys_of(&second, "b"), keys_of(&first, "b"), "b's file and original document are carried over");
    assert_eq!(metadata.carried_over, keys_of(&first, "b"));
    assert_eq!(keys_of(&first, "b").len(), 2, "a canonical file and the page it came from");
    assert_eq!(metadata.sources.len(), 1);
    // Scraping b again fails (404): no new manifest, the day keeps its batch.
    let err = ppmt_scraper::scrape_from_file(&store, BUCKET, &path, day(), Some("b"), &env).await.unwrap_err();
    assert!(matches!(err, ScrapeError::NothingScraped { .. }), "{err}");
    let current = Manifest::parse(&store.get(BUCKET, "raw/2026-11-25/manifest.json").await.unwrap(), day()).unwrap();
    assert_eq!(current.batch_id, second.batch_id);

    // A scrape that started from an older manifest (another scrape wrote the day's
    // manifest meanwhile) does not replace it.
    let sources = parse_sources(&path, &std::fs::read_to_string(&path).unwrap(), &env).unwrap();
    let (_, started_from) = store.get_versioned(BUCKET, "raw/2026-11-25/manifest.json").await.unwrap();
    ppmt_scraper::scrape_from_file(&store, BUCKET, &path, day(), None, &env).await.unwrap();
    let err = scrape_day(&store, BUCKET, &sources, day(), &env, None, Some(&started_from), Documents::Fetch)
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::ManifestChanged { .. }), "{err}");
    // Nor does a first scrape of a day whose manifest appeared meanwhile.
    let err = scrape_day(&store, BUCKET, &sources, day(), &env, None, None, Documents::Fetch).await.unwrap_err();
    assert!(matches!(err, ScrapeError::ManifestChanged { .. }), "{err}");
    std::fs::remove_file(&path).ok();
}

#[tokio::test]
async fn an_unknown_source_filter_is_an_error() {
    let server = FixtureServer::start(0, BTreeMap::new()).await.unwrap();
    let env = BTreeMap::from([("BASE".to_string(), server.base_url())]);
    let dir = std::env::temp_dir().join(format!("ppmt-sources-{}.toml", std::process::id()));
    std::fs::write(&dir, api_source("", "/p")).unwrap();
    let store = MemoryStore::default();
    let err = ppmt_scraper::scrape_from_file(&store, BUCKET, &dir.to_string_lossy(), day(), Some("nope"), &env)
        .await
        .unwrap_err();
    assert!(matches!(err, ScrapeError::UnknownSource { .. }), "{err}");
    std::fs::remove_file(dir).ok();
}

#[tokio::test]
async fn a_past_day_parsed_again_from_the_lake_alone_gives_the_same_canonical_files() {
    let demo = concat!(env!("CARGO_MANIFEST_DIR"), "/../../e2e/fixtures/demo");
    let server = FixtureServer::serve_dir(0, std::path::Path::new(&format!("{demo}/site"))).await.unwrap();
    let env = BTreeMap::from([("PPMT_DEMO_BASE_URL".to_string(), server.base_url())]);
    let path = std::env::temp_dir().join(format!("reparse-{}.toml", std::process::id()));
    std::fs::copy(format!("{demo}/sources.toml"), &path).unwrap();
    let path = path.to_string_lossy().into_owned();
    let store = MemoryStore::default();
    let (scraped, _) = ppmt_scraper::scrape_from_file(&store, BUCKET, &path, day(), None, &env).await.unwrap();
    drop(server); // from here on, no network

    let originals = |m: &Manifest| -> Vec<String> {
        m.files.iter().filter(|f| f.kind == ppmt_domain::FileKind::Original).map(|f| f.key.clone()).collect()
    };
    // Every document the sources sent is in the lake: the API's 3 pages (the last one
    // empty), the CSV, the feed, the ECB file, robots.txt and the 2 allowed pages.
    assert_eq!(originals(&scraped).len(), 9, "{:#?}", originals(&scraped));
    assert!(originals(&scraped).iter().all(|k| k.starts_with("raw/2026-11-25/original/") && k.ends_with(".json.gz")));

    let (reparsed, metadata) = ppmt_scraper::reparse_from_file(&store, BUCKET, &path, day(), None, &env).await.unwrap();
    assert_ne!(reparsed.batch_id, scraped.batch_id, "a new batch replaces the day's");
    assert_eq!(originals(&reparsed), originals(&scraped), "the same documents, listed again");
    assert!(metadata.sources.iter().all(|s| s.http.requests == 0), "nothing was fetched");
    let canonical = |m: &Manifest| {
        let store = &store;
        let files: Vec<_> = m.files.iter().filter(|f| f.kind != ppmt_domain::FileKind::Original).cloned().collect();
        async move {
            let mut by_source = BTreeMap::new();
            for f in files {
                by_source.insert(f.source_id.clone(), store.get(BUCKET, &f.key).await.unwrap());
            }
            by_source
        }
    };
    let (before, after) = (canonical(&scraped).await, canonical(&reparsed).await);
    assert_eq!(before.len(), 5);
    assert_eq!(before, after, "the same canonical records, byte for byte");
    // Each record names the document it was read from: the API's items their page.
    let api: Vec<serde_json::Value> =
        String::from_utf8_lossy(&before["acme_api"]).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let listed = originals(&scraped);
    assert!(api.iter().all(|r| listed.contains(&r["original"].as_str().unwrap().to_owned())), "{api:#?}");
    assert!(api.iter().any(|r| r["original"].as_str().unwrap().ends_with("_0000.json.gz")));
    assert!(api.iter().any(|r| r["original"].as_str().unwrap().ends_with("_0001.json.gz")), "the second page");

    // One source alone; a day without originals is refused with the reason.
    let (one, _) =
        ppmt_scraper::reparse_from_file(&store, BUCKET, &path, day(), Some("partner_csv"), &env).await.unwrap();
    assert_eq!(one.files.len(), reparsed.files.len(), "the other sources' files are kept");
    let other_day = NaiveDate::from_ymd_opt(2026, 11, 26).unwrap();
    let err = ppmt_scraper::reparse_from_file(&store, BUCKET, &path, other_day, None, &env).await.unwrap_err();
    assert!(err.to_string().contains("manifest"), "{err}");
    std::fs::remove_file(&path).ok();
}
