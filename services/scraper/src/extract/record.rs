//! Common output types shared by every extractor: [`ScrapedRecord`], [`Price`],
//! [`RecordReject`] with its stable [`RejectReason`] codes, and [`Extracted`].
//!
//! Also hosts small normalisation helpers used by all sources
//! ([`normalize_availability`], [`non_empty`]).

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One product offer as a source reported it, prices already parsed as decimals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScrapedRecord {
    /// Source's id for the product (id/sku/gtin fallback).
    pub product_id: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub price: Price,
    /// The regular (list) price the source states next to a sale price, in `currency`.
    pub regular_price: Option<Decimal>,
    /// ISO 4217, 3 uppercase letters, validated.
    pub currency: String,
    /// Normalized: "in_stock" | "out_of_stock" | "preorder" | "backorder" | other lowercased.
    pub availability: Option<String>,
    pub url: Option<String>,
    pub category: Option<String>,
    /// The window of a sale the source states (Merchant `sale_price_effective_date`);
    /// `price` is the sale price only inside it.
    #[serde(default)]
    pub sale_starts_at: Option<DateTime<Utc>>,
    #[serde(default)]
    pub sale_ends_at: Option<DateTime<Utc>>,
    /// How many offers an AggregateOffer stands for (`offerCount`).
    #[serde(default)]
    pub offer_count: Option<u64>,
    /// When the source says it observed the price (a mapped timestamp field); the fetch
    /// time when `None`.
    #[serde(default)]
    pub observed_at: Option<DateTime<Utc>>,
    /// The URL of the document the record was read from.
    #[serde(default)]
    pub document: Option<String>,
}

pub use ppmt_domain::record::{PriceKind, RawRecord, RejectReason};

/// A parsed price. For [`PriceKind::Range`], `amount` = low and `max_amount` = high;
/// for the other kinds `max_amount` is `None`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub amount: Decimal,
    pub kind: PriceKind,
    pub max_amount: Option<Decimal>,
}

impl Price {
    /// An exact price.
    pub fn exact(amount: Decimal) -> Self {
        Price { amount, kind: PriceKind::Exact, max_amount: None }
    }

    /// A "from" price.
    pub fn from_amount(amount: Decimal) -> Self {
        Price { amount, kind: PriceKind::From, max_amount: None }
    }

    /// A price range `low..=high`.
    pub fn range(low: Decimal, high: Decimal) -> Self {
        Price { amount: low, kind: PriceKind::Range, max_amount: Some(high) }
    }
}

/// A record the source sent that we could not use, with a stable reason code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RecordReject {
    /// Where the record was, e.g. `"item 3"`, `"row 5"`, `"page https://.."`.
    pub locator: String,
    pub reason: RejectReason,
    pub detail: String,
    /// Every field of the record that could still be read, as text (product id, GTIN,
    /// currency, the price as written, …), so a reject can be traced to its product.
    #[serde(default)]
    pub readable: Box<RawRecord>,
    /// The URL of the document the record was in, when it was in one.
    #[serde(default)]
    pub document: Option<String>,
}

impl RecordReject {
    /// Convenience constructor.
    pub fn new(locator: impl Into<String>, reason: RejectReason, detail: impl Into<String>) -> Self {
        RecordReject {
            locator: locator.into(),
            reason,
            detail: detail.into(),
            readable: Box::default(),
            document: None,
        }
    }

    /// The same reject, keeping the fields that could be read.
    pub fn with_readable(self, readable: RawRecord) -> Self {
        RecordReject { readable: Box::new(readable), ..self }
    }
}

impl std::fmt::Display for RecordReject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {} ({})", self.locator, self.reason.code(), self.detail)
    }
}

/// Result of extracting one document: usable records plus rejected ones.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Extracted {
    pub records: Vec<ScrapedRecord>,
    pub rejects: Vec<RecordReject>,
}

/// A timestamp as sources write them: RFC 3339, or without seconds
/// (`2026-11-20T00:00-08:00`, as Merchant feeds do), or a bare date (midnight UTC).
pub fn parse_timestamp(text: &str) -> Option<DateTime<Utc>> {
    let t = text.trim();
    DateTime::parse_from_rfc3339(t)
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%:z"))
        .or_else(|_| DateTime::parse_from_str(t, "%Y-%m-%dT%H:%M%#z"))
        .map(|d| d.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            chrono::NaiveDate::parse_from_str(t, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
                .map(|d| d.and_utc())
        })
}

/// Trim a string and return `None` when nothing is left.
pub fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Our availability values; a source's own wordings map to these
/// (`availability_values` in the sources file).
pub const AVAILABILITY_VALUES: [&str; 5] = ["in_stock", "out_of_stock", "preorder", "backorder", "discontinued"];

/// Normalize an availability value from any source (Merchant Center `in stock`,
/// schema.org `https://schema.org/InStock`, Open Graph `instock`, …).
///
/// Returns one of [`AVAILABILITY_VALUES`] (a JSON boolean `true` is `in_stock`, `false`
/// `out_of_stock`), or the trimmed lowercased input (schema.org URL prefix removed) for
/// anything else.
/// Empty input gives `None`.
pub fn normalize_availability(raw: &str) -> Option<String> {
    let t = raw.trim();
    if t.is_empty() {
        return None;
    }
    let lower = t.to_lowercase();
    let stripped = ["https://schema.org/", "http://schema.org/", "schema:"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .unwrap_or(&lower);
    let key: String = stripped.chars().filter(|c| !matches!(c, ' ' | '_' | '-')).collect();
    let norm = match key.as_str() {
        // A JSON boolean (`"in_stock": true`) arrives as its text.
        "instock" | "available" | "limitedavailability" | "onlineonly" | "instoreonly" | "true" => "in_stock",
        "outofstock" | "soldout" | "unavailable" | "oos" | "false" => "out_of_stock",
        "preorder" | "presale" => "preorder",
        "backorder" | "availablefororder" => "backorder",
        "discontinued" => "discontinued",
        _ => return Some(stripped.to_string()),
    };
    Some(norm.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn reason_codes_are_stable() {
        let all = [
            (RejectReason::MissingField, "MISSING_FIELD"),
            (RejectReason::EmptyPrice, "EMPTY_PRICE"),
            (RejectReason::ZeroPrice, "ZERO_PRICE"),
            (RejectReason::NegativePrice, "NEGATIVE_PRICE"),
            (RejectReason::UnparseablePrice, "UNPARSEABLE_PRICE"),
            (RejectReason::UnknownCurrency, "UNKNOWN_CURRENCY"),
            (RejectReason::MalformedDocument, "MALFORMED_DOCUMENT"),
        ];
        for (r, code) in all {
            assert_eq!(r.code(), code);
            assert_eq!(r.to_string(), code);
        }
    }

    #[test]
    fn record_round_trips_through_json() {
        let rec = ScrapedRecord {
            regular_price: None,
            product_id: "sku-1".into(),
            name: Some("Widget".into()),
            brand: None,
            gtin: Some("4006381333931".into()),
            mpn: None,
            price: Price::range(Decimal::from_str("10").unwrap(), Decimal::from_str("20.5").unwrap()),
            currency: "EUR".into(),
            availability: Some("in_stock".into()),
            url: None,
            category: None,
            sale_starts_at: None,
            sale_ends_at: None,
            offer_count: Some(3),
            observed_at: None,
            document: None,
        };
        let json = serde_json::to_string(&rec).unwrap();
        let back: ScrapedRecord = serde_json::from_str(&json).unwrap();
        assert_eq!(back, rec);
    }

    #[test]
    fn availability_normalization() {
        let cases = [
            ("in stock", Some("in_stock")),
            ("In Stock", Some("in_stock")),
            ("https://schema.org/InStock", Some("in_stock")),
            ("http://schema.org/OutOfStock", Some("out_of_stock")),
            ("out of stock", Some("out_of_stock")),
            ("out_of_stock", Some("out_of_stock")),
            ("SoldOut", Some("out_of_stock")),
            ("preorder", Some("preorder")),
            ("https://schema.org/PreOrder", Some("preorder")),
            ("pre-order", Some("preorder")),
            ("backorder", Some("backorder")),
            ("https://schema.org/BackOrder", Some("backorder")),
            ("https://schema.org/Discontinued", Some("discontinued")),
            ("Limited Stock", Some("limited stock")),
            ("true", Some("in_stock")),
            ("false", Some("out_of_stock")),
            ("oos", Some("out_of_stock")),
            ("available for order", Some("backorder")),
            ("https://schema.org/InStoreOnly", Some("in_stock")),
            ("  ", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_availability(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn timestamps_as_sources_write_them() {
        let at = |t: &str| parse_timestamp(t).map(|d| d.to_rfc3339());
        assert_eq!(at("2026-11-20T08:00:00Z").as_deref(), Some("2026-11-20T08:00:00+00:00"));
        assert_eq!(at("2026-11-20T00:00-08:00").as_deref(), Some("2026-11-20T08:00:00+00:00"));
        assert_eq!(at("2026-11-20").as_deref(), Some("2026-11-20T00:00:00+00:00"));
        assert_eq!(at("20.11.2026"), None);
    }

    #[test]
    fn non_empty_trims() {
        assert_eq!(non_empty("  a b "), Some("a b".to_string()));
        assert_eq!(non_empty(" \t"), None);
    }
}
