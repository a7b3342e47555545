//! The read API: what the app asks, answered from the app's DynamoDB table
//! ([`ppmt_domain::app_view`]) with one GetItem or Query per question. Triggered by
//! HTTP requests (API Gateway's HTTP API under Lambda, or [`http::serve`] anywhere
//! else); it writes nothing and emits nothing.
//!
//! - `GET /products/{id}`: `id` is our product id or a GTIN (UPC, EAN or GTIN-14);
//!   the product now with its offers.
//! - `GET /products/{id}/history?days=N`: the product's daily figures over the N days
//!   (1–365, default 90) up to its current price date, newest first.
//! - `GET /categories/{category}/products?limit=N&cursor=C`: the category's current
//!   products, cheapest first, N (1–100, default 20) a page.
//!
//! Answers are JSON with money as decimal strings, an `ETag` (a matching
//! `If-None-Match` gets 304) and `Cache-Control`; errors are JSON with a message.

pub mod http;

use std::sync::Arc;

use chrono::Duration;
use ppmt_domain::app_view::{self, Item, ProductView, GTIN_SK, LATEST_SK};
use ppmt_domain::identity;
use ppmt_platform::ports::AppReader;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// The longest history a request may ask for.
pub const MAX_HISTORY_DAYS: i64 = 365;
const DEFAULT_HISTORY_DAYS: i64 = 90;
const MAX_PAGE: usize = 100;
const DEFAULT_PAGE: usize = 20;

/// A request, as either front end hands it over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiRequest {
    pub method: String,
    /// The path, percent-encoded as received.
    pub path: String,
    /// The raw query string, without `?`.
    pub query: String,
    pub if_none_match: Option<String>,
}

/// A response, for either front end to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

/// The API over the app's table.
pub struct Api {
    pub reader: Arc<dyn AppReader>,
}

struct Failure {
    status: u16,
    message: String,
}

fn fail(status: u16, message: impl Into<String>) -> Failure {
    Failure { status, message: message.into() }
}

fn internal(e: impl std::fmt::Display) -> Failure {
    tracing::error!(error = %e, "the app table could not be read");
    fail(500, "the price table could not be read; try again")
}

fn decode_segment(segment: &str) -> String {
    percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned()
}

fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

fn bounded<T>(query: &str, name: &str, default: T, min: T, max: T) -> Result<T, Failure>
where
    T: std::str::FromStr + PartialOrd + Copy + std::fmt::Display,
{
    match query_param(query, name) {
        None => Ok(default),
        Some(text) => match text.parse::<T>() {
            Ok(v) if v >= min && v <= max => Ok(v),
            _ => Err(fail(400, format!("{name} must be a whole number from {min} to {max}, not `{text}`"))),
        },
    }
}

impl Api {
    /// Answers one request.
    pub async fn handle(&self, request: &ApiRequest) -> ApiResponse {
        let routed = if request.method != "GET" && request.method != "HEAD" {
            Err(fail(405, format!("{} is not allowed; the API is read-only (GET)", request.method)))
        } else {
            self.route(request).await
        };
        match routed {
            Ok((body, max_age)) => respond(request, 200, body, max_age),
            Err(f) => respond(request, f.status, json!({ "error": f.message, "status": f.status }), 0),
        }
    }

    async fn route(&self, request: &ApiRequest) -> Result<(Value, u32), Failure> {
        let segments: Vec<String> =
            request.path.trim_matches('/').split('/').filter(|s| !s.is_empty()).map(decode_segment).collect();
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            ["products", id] => self.product(id).await.map(|v| (v, 300)),
            ["products", id, "history"] => {
                let days = bounded(&request.query, "days", DEFAULT_HISTORY_DAYS, 1, MAX_HISTORY_DAYS)?;
                self.history(id, days).await.map(|v| (v, 3600))
            }
            ["categories", category, "products"] => {
                let limit = bounded(&request.query, "limit", DEFAULT_PAGE, 1, MAX_PAGE)?;
                let cursor = match query_param(&request.query, "cursor") {
                    None => None,
                    Some(c) => Some(
                        hex::decode(&c)
                            .ok()
                            .and_then(|b| String::from_utf8(b).ok())
                            .ok_or_else(|| fail(400, format!("cursor `{c}` is not one this API gave out")))?,
                    ),
                };
                self.category(category, limit, cursor.as_deref()).await.map(|v| (v, 300))
            }
            _ => Err(fail(
                404,
                format!(
                    "no such resource: {}; try /products/{{id}}, /products/{{id}}/history or /categories/{{c}}/products",
                    request.path
                ),
            )),
        }
    }

    /// Our product id for `id`: a GTIN is looked up, anything else is taken as is.
    async fn resolve(&self, id: &str) -> Result<String, Failure> {
        if let Some(gtin) = identity::gtin14(id) {
            if let Some(item) = self.reader.get_item(&app_view::gtin_pk(&gtin), GTIN_SK).await.map_err(internal)? {
                return app_view::read_gtin(&item).map_err(internal);
            }
        }
        Ok(id.to_owned())
    }

    async fn latest(&self, id: &str) -> Result<(String, Vec<Item>), Failure> {
        let product_id = self.resolve(id).await?;
        let pk = app_view::product_pk(&product_id);
        // LATEST and every OFFER# item: "LATEST" < "OFFER#…" < "OFFER$".
        let items = self.reader.query_range(&pk, LATEST_SK, "OFFER$", false, 1000).await.map_err(internal)?;
        if !items.iter().any(|i| i.get("sk") == Some(&app_view::AttrValue::S(LATEST_SK.into()))) {
            return Err(fail(404, format!("no product `{id}`")));
        }
        Ok((product_id, items))
    }

    async fn product(&self, id: &str) -> Result<Value, Failure> {
        let (_, items) = self.latest(id).await?;
        let mut product: Option<ProductView> = None;
        let mut offers = Vec::new();
        for item in &items {
            match item.get("sk") {
                Some(app_view::AttrValue::S(sk)) if sk == LATEST_SK => {
                    product = Some(app_view::read_product(item).map_err(internal)?);
                }
                _ => offers.push(app_view::read_offer(item).map_err(internal)?),
            }
        }
        let product = product.ok_or_else(|| fail(404, format!("no product `{id}`")))?;
        let mut body = serde_json::to_value(&product).map_err(internal)?;
        let offers: Vec<Value> = offers
            .iter()
            .map(|o| {
                json!({
                    "source_id": o.source_id,
                    "price": o.price.to_string(),
                    "currency": o.currency,
                    "price_usd": app_view::cents(o.price_usd),
                    "fx_rate": o.fx_rate.normalize().to_string(),
                    "fx_rate_date": o.fx_rate_date,
                    "fx_source": o.fx_source,
                    "availability": o.availability,
                    "url": o.url,
                    "observed_at": o.observed_at,
                    "price_max": o.price_max.map(|m| m.normalize().to_string()),
                    "regular_price_usd": o.regular_price_usd.map(app_view::cents),
                })
            })
            .collect();
        body["offers"] = Value::Array(offers);
        Ok(body)
    }

    async fn history(&self, id: &str, days: i64) -> Result<Value, Failure> {
        let (product_id, items) = self.latest(id).await?;
        let latest = items
            .iter()
            .find(|i| i.get("sk") == Some(&app_view::AttrValue::S(LATEST_SK.into())))
            .map(app_view::read_product)
            .transpose()
            .map_err(internal)?
            .ok_or_else(|| fail(404, format!("no product `{id}`")))?;
        let to = latest.price_date;
        let from = to - Duration::days(days - 1);
        let pk = app_view::product_pk(&product_id);
        let limit = usize::try_from(days).unwrap_or(MAX_PAGE);
        let points = self
            .reader
            .query_range(&pk, &app_view::day_sk(from), &app_view::day_sk(to), true, limit)
            .await
            .map_err(internal)?;
        let history: Vec<Value> = points
            .iter()
            .map(|i| {
                let h = app_view::read_history(i)?;
                Ok(json!({
                    "price_date": h.price_date,
                    "market_price_usd": app_view::cents(h.market_price_usd),
                    "lowest_price_usd": app_view::cents(h.lowest_price_usd),
                    "sources": h.sources,
                }))
            })
            .collect::<Result<_, app_view::ItemError>>()
            .map_err(internal)?;
        Ok(json!({ "product_id": product_id, "from": from, "to": to, "days": days, "history": history }))
    }

    async fn category(&self, category: &str, limit: usize, cursor: Option<&str>) -> Result<Value, Failure> {
        let (items, next) = self.reader.query_category(category, limit, cursor).await.map_err(internal)?;
        let products: Vec<ProductView> =
            items.iter().map(app_view::read_product).collect::<Result<_, _>>().map_err(internal)?;
        Ok(json!({
            "category": category,
            "products": products,
            "next_cursor": next.map(hex::encode),
        }))
    }
}

fn respond(request: &ApiRequest, status: u16, body: Value, max_age: u32) -> ApiResponse {
    let text = body.to_string();
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(text.as_bytes()))[..32]);
    let cache = if status == 200 { format!("public, max-age={max_age}") } else { "no-store".to_owned() };
    let mut headers = vec![("content-type", "application/json".to_owned()), ("cache-control", cache)];
    if status == 200 {
        headers.push(("etag", etag.clone()));
        let matches = request.if_none_match.as_deref().is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        if matches {
            return ApiResponse { status: 304, headers, body: String::new() };
        }
    }
    let body = if request.method == "HEAD" { String::new() } else { text };
    ApiResponse { status, headers, body }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;
    use ppmt_domain::app_view::{HistoryPoint, ItemVersion, OfferView};
    use ppmt_platform::ports::{AppStore, ItemWrite};
    use ppmt_platform::testing::MemoryAppStore;
    use rust_decimal::Decimal;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn product(id: &str, category: &str, cents: i64) -> ProductView {
        ProductView {
            product_id: id.into(),
            gtin: (id == "G00012345678905").then(|| "00012345678905".into()),
            name: Some(format!("Product {id}")),
            brand: None,
            category: category.into(),
            market_price_usd: Decimal::new(cents, 2),
            retail_price_usd: Decimal::new(cents, 2),
            lowest_price_usd: Decimal::new(cents, 2),
            sources: 1,
            price_change_pct: None,
            trend: Some("stable".into()),
            confidence: Decimal::new(5, 1),
            availability: None,
            price_date: d(26),
            batch_id: "b".into(),
        }
    }

    async fn api() -> Api {
        let store = Arc::new(MemoryAppStore::default());
        let v = ItemVersion { price_date: d(26), load_seq: 1 };
        let mut writes = Vec::new();
        let mut put = |item: Item| {
            let text = |k: &str| match &item[k] {
                app_view::AttrValue::S(t) | app_view::AttrValue::N(t) => t.clone(),
            };
            writes.push(ItemWrite { pk: text("pk"), sk: text("sk"), version: v, put: Some(item) });
        };
        for (i, cents) in [24999, 999, 5000].iter().enumerate() {
            let id = if i == 0 { "G00012345678905".to_string() } else { format!("p{i}") };
            put(app_view::product_item(&product(&id, "audio", *cents), v));
        }
        put(app_view::gtin_item("00012345678905", "G00012345678905", v));
        put(app_view::offer_item(
            &OfferView {
                product_id: "G00012345678905".into(),
                source_id: "shop".into(),
                price: Decimal::new(23800, 2),
                currency: "EUR".into(),
                price_usd: Decimal::new(24999, 2),
                fx_rate: Decimal::new(10504, 4),
                fx_rate_date: d(26),
                fx_source: "ECB".into(),
                availability: Some("in_stock".into()),
                url: None,
                observed_at: d(26).and_hms_opt(2, 0, 0).unwrap().and_utc(),
                price_date: d(26),
                price_max: None,
                regular_price_usd: None,
            },
            v,
        ));
        for day in [10, 24, 25, 26] {
            put(app_view::history_item(
                &HistoryPoint {
                    product_id: "G00012345678905".into(),
                    price_date: d(day),
                    market_price_usd: Decimal::new(i64::from(day) * 1000, 2),
                    lowest_price_usd: Decimal::new(i64::from(day) * 900, 2),
                    sources: 2,
                },
                v,
            ));
        }
        store.apply(&writes).await.unwrap();
        Api { reader: store }
    }

    fn get(path: &str, query: &str) -> ApiRequest {
        ApiRequest { method: "GET".into(), path: path.into(), query: query.into(), if_none_match: None }
    }

    fn body(r: &ApiResponse) -> Value {
        serde_json::from_str(&r.body).unwrap()
    }

    #[tokio::test]
    async fn a_product_by_id_or_by_upc_with_its_offers_and_money_as_strings() {
        let api = api().await;
        let by_id = api.handle(&get("/products/G00012345678905", "")).await;
        assert_eq!(by_id.status, 200);
        let by_upc = api.handle(&get("/products/012345678905", "")).await;
        assert_eq!(by_upc.body, by_id.body);
        let b = body(&by_id);
        assert_eq!(b["market_price_usd"], "249.99");
        assert_eq!(b["offers"][0]["price_usd"], "249.99");
        assert_eq!(b["offers"][0]["fx_rate"], "1.0504");
        assert_eq!(b["offers"][0]["fx_rate_date"], "2026-11-26");
        let etag = by_id.headers.iter().find(|(k, _)| *k == "etag").unwrap().1.clone();
        let again = api.handle(&ApiRequest { if_none_match: Some(etag), ..get("/products/G00012345678905", "") }).await;
        assert_eq!((again.status, again.body.as_str()), (304, ""));
    }

    #[tokio::test]
    async fn history_is_newest_first_within_the_asked_days() {
        let api = api().await;
        let r = api.handle(&get("/products/G00012345678905/history", "days=3")).await;
        let dates: Vec<Value> =
            body(&r)["history"].as_array().unwrap().iter().map(|h| h["price_date"].clone()).collect();
        assert_eq!(dates, vec![json!("2026-11-26"), json!("2026-11-25"), json!("2026-11-24")]);
        let all = body(&api.handle(&get("/products/G00012345678905/history", "")).await);
        assert_eq!(all["history"].as_array().unwrap().len(), 4);
        assert_eq!(all["history"][3]["market_price_usd"], "100.00");
    }

    #[tokio::test]
    async fn categories_page_cheapest_first() {
        let api = api().await;
        let first = body(&api.handle(&get("/categories/audio/products", "limit=2")).await);
        let ids: Vec<&str> =
            first["products"].as_array().unwrap().iter().map(|p| p["product_id"].as_str().unwrap()).collect();
        assert_eq!(ids, vec!["p1", "p2"]);
        let cursor = first["next_cursor"].as_str().unwrap();
        let second = body(&api.handle(&get("/categories/audio/products", &format!("limit=2&cursor={cursor}"))).await);
        assert_eq!(second["products"][0]["product_id"], "G00012345678905");
        assert_eq!(second["next_cursor"], Value::Null);
    }

    #[tokio::test]
    async fn bad_requests_and_unknown_things_are_json_errors() {
        let api = api().await;
        for (path, query, status) in [
            ("/products/nope", "", 404),
            ("/products/G00012345678905/history", "days=366", 400),
            ("/products/G00012345678905/history", "days=abc", 400),
            ("/categories/audio/products", "limit=0", 400),
            ("/categories/audio/products", "cursor=zz", 400),
            ("/elsewhere", "", 404),
        ] {
            let r = api.handle(&get(path, query)).await;
            assert_eq!(r.status, status, "{path}?{query}: {}", r.body);
            assert!(body(&r)["error"].as_str().unwrap().len() > 5);
            assert!(r.headers.contains(&("cache-control", "no-store".into())));
        }
        let post = api.handle(&ApiRequest { method: "POST".into(), ..get("/products/p1", "") }).await;
        assert_eq!(post.status, 405);
    }
}
