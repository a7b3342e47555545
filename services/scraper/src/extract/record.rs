//! Common output types shared by every extractor: [`ScrapedRecord`], [`Price`],
//! [`RecordReject`] with its stable [`RejectReason`] codes, and [`Extracted`].
//!
//! Also hosts small normalisation helpers used by all sources
//! ([`normalize_availability`], [`non_empty`]).

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
}

impl RecordReject {
    /// Convenience constructor.
    pub fn new(locator: impl Into<String>, reason: RejectReason, detail: impl Into<String>) -> Self {
        RecordReject { locator: locator.into(), reason, detail: detail.into(), readable: Box::default() }
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

/// Trim a string and return `None` when nothing is left.
pub fn non_empty(s: &str) -> Option<String> {
    let t = s.trim();
    if t.is_empty() {
        None
    } else {
        Some(t.to_string())
    }
}

/// Normalize an availability value from any source (Merchant Center `in stock`,
/// schema.org `https://schema.org/InStock`, Open Graph `instock`, …).
///
/// Returns `"in_stock"`, `"out_of_stock"`, `"preorder"`, `"backorder"`, or the
/// trimmed lowercased input (schema.org URL prefix removed) for anything else.
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
        "instock" | "available" | "limitedavailability" | "onlineonly" => "in_stock",
        "outofstock" | "soldout" | "unavailable" => "out_of_stock",
        "preorder" | "presale" => "preorder",
        "backorder" => "backorder",
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
            ("  ", None),
        ];
        for (input, want) in cases {
            assert_eq!(normalize_availability(input).as_deref(), want, "{input}");
        }
    }

    #[test]
    fn non_empty_trims() {
        assert_eq!(non_empty("  a b "), Some("a b".to_string()));
        assert_eq!(non_empty(" \t"), None);
    }
}
