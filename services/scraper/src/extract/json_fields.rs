//! Field mapping for JSON APIs by JSON pointer (RFC 6901).
//!
//! [`JsonMapping::items`] points at the array of items in a page (`""` = the page
//! itself); every other pointer is relative to one item. A pointer without a leading
//! `/` gets one (`"name"` = `"/name"`). Prices that are JSON numbers are converted
//! exactly from their JSON text; price strings go through [`parse_price`](crate::extract::price::parse_price)
//! with the page locale. A separate currency field must agree with any currency in
//! the price text.

use crate::extract::price::{
    currency_code_from_text, parse_json_number_price, parse_price_with_currency_field, NumberLocale, PriceError,
};
use crate::extract::record::{
    non_empty, normalize_availability, parse_timestamp, Extracted, RawRecord, RecordReject, RejectReason, ScrapedRecord,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::borrow::Cow;

/// JSON pointers describing where the fields are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JsonMapping {
    /// Pointer to the array of items in a page; `""` = the page is the array.
    pub items: String,
    pub product_id: String,
    #[serde(default)]
    pub name: Option<String>,
    pub price: String,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default)]
    pub brand: Option<String>,
    #[serde(default)]
    pub gtin: Option<String>,
    #[serde(default)]
    pub mpn: Option<String>,
    #[serde(default)]
    pub availability: Option<String>,
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub category: Option<String>,
    /// The source's own observation time (RFC 3339); the fetch time when unmapped.
    #[serde(default)]
    pub observed_at: Option<String>,
}

impl JsonMapping {
    /// A mapping with only the required pointers set.
    pub fn new(items: &str, product_id: &str, price: &str) -> Self {
        JsonMapping {
            items: items.to_string(),
            product_id: product_id.to_string(),
            name: None,
            price: price.to_string(),
            currency: None,
            brand: None,
            gtin: None,
            mpn: None,
            availability: None,
            url: None,
            category: None,
            observed_at: None,
        }
    }
}

fn norm_ptr(p: &str) -> Cow<'_, str> {
    if p.is_empty() || p.starts_with('/') {
        Cow::Borrowed(p)
    } else {
        Cow::Owned(format!("/{p}"))
    }
}

fn get<'a>(v: &'a Value, ptr: &str) -> Option<&'a Value> {
    v.pointer(&norm_ptr(ptr))
}

/// Text of a scalar at `ptr` (numbers and booleans as their JSON text).
fn text_at(v: &Value, ptr: Option<&str>) -> Option<String> {
    match get(v, ptr?)? {
        Value::String(s) => non_empty(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn item_record(
    item: &Value,
    m: &JsonMapping,
    locale: &NumberLocale,
    default_currency: Option<&str>,
) -> Result<ScrapedRecord, (RejectReason, String)> {
    let product_id = text_at(item, Some(&m.product_id))
        .ok_or_else(|| (RejectReason::MissingField, format!("no product id at {:?}", m.product_id)))?;
    let currency_field = text_at(item, m.currency.as_deref());
    let err = |e: PriceError| (e.reason, e.message);
    let (price, currency) = match get(item, &m.price) {
        None | Some(Value::Null) => return Err((RejectReason::MissingField, format!("no price at {:?}", m.price))),
        Some(Value::Number(n)) => {
            let cur = match currency_field.as_deref() {
                Some(c) => Some(
                    currency_code_from_text(c)
                        .ok_or_else(|| (RejectReason::UnknownCurrency, format!("unknown currency {c:?}")))?,
                ),
                None => default_currency.map(str::to_string),
            };
            parse_json_number_price(&n.to_string(), cur.as_deref()).map_err(err)?
        }
        Some(Value::String(s)) => {
            parse_price_with_currency_field(s, currency_field.as_deref(), locale, default_currency).map_err(err)?
        }
        Some(other) => {
            return Err((RejectReason::UnparseablePrice, format!("price is not a number or string: {other}")))
        }
    };
    let opt = |p: &Option<String>| text_at(item, p.as_deref());
    let observed_at = match opt(&m.observed_at) {
        None => None,
        Some(text) => Some(
            parse_timestamp(&text)
                .ok_or_else(|| (RejectReason::BadTimestamp, format!("observation time {text:?} is not RFC 3339")))?,
        ),
    };
    Ok(ScrapedRecord {
        regular_price: None,
        product_id,
        name: opt(&m.name),
        brand: opt(&m.brand),
        gtin: opt(&m.gtin),
        mpn: opt(&m.mpn),
        price,
        currency,
        availability: opt(&m.availability).as_deref().and_then(normalize_availability),
        url: opt(&m.url),
        category: opt(&m.category),
        sale_starts_at: None,
        sale_ends_at: None,
        offer_count: None,
        observed_at,
        document: None,
    })
}

/// Extract all items of one JSON page. Item locators are `"<page_locator> item N"` (1-based).
pub fn extract_json_page(
    page: &Value,
    mapping: &JsonMapping,
    locale: &NumberLocale,
    default_currency: Option<&str>,
    page_locator: &str,
) -> Extracted {
    let mut out = Extracted::default();
    let items = match get(page, &mapping.items) {
        Some(Value::Array(a)) => a,
        Some(other) => {
            let kind = match other {
                Value::Object(_) => "an object",
                Value::String(_) => "a string",
                Value::Number(_) => "a number",
                Value::Bool(_) => "a boolean",
                _ => "null",
            };
            out.rejects.push(RecordReject::new(
                page_locator,
                RejectReason::MalformedDocument,
                format!("items pointer {:?} is {kind}, not an array", mapping.items),
            ));
            return out;
        }
        None => {
            out.rejects.push(RecordReject::new(
                page_locator,
                RejectReason::MalformedDocument,
                format!("items pointer {:?} not found", mapping.items),
            ));
            return out;
        }
    };
    for (i, item) in items.iter().enumerate() {
        match item_record(item, mapping, locale, default_currency) {
            Ok(r) => out.records.push(r),
            Err((reason, detail)) => out.rejects.push(
                RecordReject::new(format!("{page_locator} item {}", i + 1), reason, detail)
                    .with_readable(readable(item, mapping)),
            ),
        }
    }
    out
}

/// The mapped fields of an item that hold text or numbers, for its reject.
fn readable(item: &Value, m: &JsonMapping) -> RawRecord {
    let opt = |p: &Option<String>| text_at(item, p.as_deref());
    RawRecord {
        product_id: text_at(item, Some(&m.product_id)),
        name: opt(&m.name),
        brand: opt(&m.brand),
        gtin: opt(&m.gtin),
        mpn: opt(&m.mpn),
        category: opt(&m.category),
        price: text_at(item, Some(&m.price)),
        currency: opt(&m.currency),
        availability: opt(&m.availability),
        url: opt(&m.url),
        observed_at: opt(&m.observed_at),
        ..RawRecord::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::record::PriceKind;
    use rust_decimal::Decimal;
    use serde_json::json;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn mapping() -> JsonMapping {
        JsonMapping {
            name: Some("/title".into()),
            currency: Some("/pricing/currency".into()),
            brand: Some("brand/name".into()),
            gtin: Some("/ean".into()),
            availability: Some("/stock".into()),
            url: Some("/links/0".into()),
            ..JsonMapping::new("/data/products", "/id", "/pricing/amount")
        }
    }

    #[test]
    fn boolean_availability_and_the_sources_own_observation_time() {
        let m = JsonMapping {
            availability: Some("/in_stock".into()),
            observed_at: Some("/seen".into()),
            ..JsonMapping::new("", "/id", "/price")
        };
        let page = json!([
            {"id": "A", "price": 5, "in_stock": true, "seen": "2026-11-25T06:30:00+01:00"},
            {"id": "B", "price": 6, "in_stock": false},
            {"id": "C", "price": 7, "seen": "yesterday"}
        ]);
        let ex = extract_json_page(&page, &m, &NumberLocale::en(), Some("USD"), "page 1");
        let got: Vec<_> = ex
            .records
            .iter()
            .map(|r| (r.product_id.as_str(), r.availability.as_deref(), r.observed_at.map(|t| t.to_rfc3339())))
            .collect();
        assert_eq!(
            got,
            [("A", Some("in_stock"), Some("2026-11-25T05:30:00+00:00".to_string())), ("B", Some("out_of_stock"), None)]
        );
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!(ex.rejects[0].reason, RejectReason::BadTimestamp);
        let readable = &ex.rejects[0].readable;
        assert_eq!((readable.product_id.as_deref(), readable.price.as_deref()), (Some("C"), Some("7")));
    }

    #[test]
    fn extracts_items_with_numbers_and_strings() {
        let page = json!({"data": {"products": [
            {"id": 101, "title": "Kettle", "brand": {"name": "Boil"}, "ean": "4006381333931",
             "pricing": {"amount": 2879.20, "currency": "EUR"}, "stock": "InStock",
             "links": ["https://shop.example.com/kettle"]},
            {"id": "A-2", "title": "Toaster", "pricing": {"amount": "1.299,00 €"}, "stock": "out of stock"},
            {"id": "A-3", "pricing": {"amount": "ab 9,99", "currency": "eur"}},
            {"id": "A-4", "pricing": {"amount": 0.1}}
        ]}});
        let ex = extract_json_page(&page, &mapping(), &NumberLocale::de(), Some("EUR"), "page 1");
        assert!(ex.rejects.is_empty(), "{:?}", ex.rejects);
        assert_eq!(ex.records.len(), 4);
        let k = &ex.records[0];
        assert_eq!(k.product_id, "101");
        assert_eq!(k.name.as_deref(), Some("Kettle"));
        assert_eq!(k.brand.as_deref(), Some("Boil"));
        assert_eq!(k.gtin.as_deref(), Some("4006381333931"));
        assert_eq!(k.price.amount, d("2879.2"));
        assert_eq!(k.currency, "EUR");
        assert_eq!(k.availability.as_deref(), Some("in_stock"));
        assert_eq!(k.url.as_deref(), Some("https://shop.example.com/kettle"));
        assert_eq!(ex.records[1].price.amount, d("1299"));
        assert_eq!(ex.records[1].availability.as_deref(), Some("out_of_stock"));
        assert_eq!(ex.records[2].price.kind, PriceKind::From);
        assert_eq!(ex.records[2].price.amount, d("9.99"));
        assert_eq!(ex.records[3].price.amount, d("0.1"), "exact, no float noise");
    }

    #[test]
    fn rejects_bad_items_and_continues() {
        let page = json!([
            {"sku": "OK", "p": "5.00", "c": "USD"},
            {"p": "5.00"},
            {"sku": "NULL", "p": null},
            {"sku": "NEG", "p": -3},
            {"sku": "ZERO", "p": "0.00"},
            {"sku": "EMPTY", "p": ""},
            {"sku": "OBJ", "p": {"v": 1}},
            {"sku": "CUR", "p": 4, "c": "EURO"},
            {"sku": "CONFLICT", "p": "€4", "c": "USD"},
            "not an object",
            {"sku": "OK2", "p": 7}
        ]);
        let m = JsonMapping { currency: Some("/c".into()), ..JsonMapping::new("", "/sku", "/p") };
        let ex = extract_json_page(&page, &m, &NumberLocale::en(), Some("USD"), "https://api/x?page=2");
        let ids: Vec<_> = ex.records.iter().map(|r| r.product_id.as_str()).collect();
        assert_eq!(ids, ["OK", "OK2"]);
        let rej: Vec<_> = ex.rejects.iter().map(|r| (r.locator.as_str(), r.reason.code())).collect();
        assert_eq!(
            rej,
            [
                ("https://api/x?page=2 item 2", "MISSING_FIELD"),
                ("https://api/x?page=2 item 3", "MISSING_FIELD"),
                ("https://api/x?page=2 item 4", "NEGATIVE_PRICE"),
                ("https://api/x?page=2 item 5", "ZERO_PRICE"),
                ("https://api/x?page=2 item 6", "EMPTY_PRICE"),
                ("https://api/x?page=2 item 7", "UNPARSEABLE_PRICE"),
                ("https://api/x?page=2 item 8", "UNKNOWN_CURRENCY"),
                ("https://api/x?page=2 item 9", "UNPARSEABLE_PRICE"),
                ("https://api/x?page=2 item 10", "MISSING_FIELD"),
            ]
        );
    }

    #[test]
    fn missing_or_wrong_items_is_malformed() {
        let m = JsonMapping::new("/results", "/id", "/price");
        for page in [json!({"data": []}), json!({"results": {"a": 1}}), json!(null)] {
            let ex = extract_json_page(&page, &m, &NumberLocale::en(), Some("USD"), "page 3");
            assert!(ex.records.is_empty());
            assert_eq!(ex.rejects.len(), 1);
            assert_eq!(ex.rejects[0].reason, RejectReason::MalformedDocument);
            assert_eq!(ex.rejects[0].locator, "page 3");
        }
        let ex = extract_json_page(&json!({"results": []}), &m, &NumberLocale::en(), None, "p");
        assert_eq!(ex, Extracted::default());
    }

    #[test]
    fn mapping_deserializes_from_config() {
        let m: JsonMapping =
            serde_json::from_str(r#"{"items": "/items", "product_id": "/id", "price": "/price", "currency": "/cur"}"#)
                .unwrap();
        assert_eq!(m.currency.as_deref(), Some("/cur"));
        assert_eq!(m.name, None);
    }
}
