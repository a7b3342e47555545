//! The canonical raw record: what the scraper writes for every source and the loader
//! validates, whatever the source's own format was.
//!
//! Raw files hold every field as text, so that validation happens in one place
//! ([`RawRecord::validate`]) and a rejected row keeps the value that was wrong. A record
//! the scraper already refused carries its reason and is rejected with it.

use std::borrow::Cow;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::identity;
use crate::money::Currency;

/// Column order of price CSV files.
pub const PRICE_CSV_HEADER: [&str; 20] = [
    "product_id",
    "name",
    "brand",
    "gtin",
    "mpn",
    "category",
    "price",
    "price_kind",
    "price_max",
    "regular_price",
    "sale_starts_at",
    "sale_ends_at",
    "offer_count",
    "currency",
    "availability",
    "url",
    "observed_at",
    "reject_reason",
    "reject_detail",
    "original",
];

/// Columns every price CSV file must have; the others of [`PRICE_CSV_HEADER`] may be
/// absent (files written before they existed), and are then empty.
pub const PRICE_CSV_REQUIRED: [&str; 14] = [
    "product_id",
    "name",
    "brand",
    "gtin",
    "mpn",
    "price",
    "price_kind",
    "price_max",
    "currency",
    "availability",
    "url",
    "observed_at",
    "reject_reason",
    "reject_detail",
];

/// One price observation as text. Every field is optional here so that a bad row can be
/// read, kept and rejected with a reason instead of failing the file.
///
/// `T` is the text: a `String` where the record is built and written (the scraper), a
/// `&str` or `Cow<str>` borrowed from the file where the loader only reads it, so that a
/// field that is parsed and not kept (a price, a time) is never copied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawRecord<T = String> {
    pub product_id: Option<T>,
    pub name: Option<T>,
    pub brand: Option<T>,
    pub gtin: Option<T>,
    pub mpn: Option<T>,
    /// The source's own category path or `product_type`, as it wrote it.
    pub category: Option<T>,
    /// Plain decimal text, `.` as decimal point, no grouping (`1299.00`).
    pub price: Option<T>,
    /// `exact` (default), `from` or `range`.
    pub price_kind: Option<T>,
    /// Upper bound of a `range` price.
    pub price_max: Option<T>,
    /// The list (regular) price the source states next to a sale price, same currency.
    pub regular_price: Option<T>,
    /// RFC 3339 start and end of the sale window, where the source states one.
    pub sale_starts_at: Option<T>,
    pub sale_ends_at: Option<T>,
    /// How many offers an aggregate offer summarises.
    pub offer_count: Option<T>,
    pub currency: Option<T>,
    pub availability: Option<T>,
    pub url: Option<T>,
    /// RFC 3339 time the price was seen.
    pub observed_at: Option<T>,
    /// Set when the scraper could not use what the source sent: the reason code. The
    /// loader keeps such a record as a rejected row, so every record a source sent is
    /// accounted for in the warehouse.
    pub reject_reason: Option<T>,
    /// Where in the source and why, for a rejected record.
    pub reject_detail: Option<T>,
    /// The lake's key of the original document the record was read from
    /// (`raw/<date>/original/…`); kept in the lake, not staged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<T>,
}

/// How a price was stated by the source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PriceKind {
    /// A single price.
    Exact,
    /// A "from" / "starting at" price: the lowest of several.
    From,
    /// A range; `price` is the low end and `price_max` the high end.
    Range,
}

impl PriceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PriceKind::Exact => "exact",
            PriceKind::From => "from",
            PriceKind::Range => "range",
        }
    }

    /// Parses a wire name.
    pub fn parse(text: &str) -> Option<PriceKind> {
        [PriceKind::Exact, PriceKind::From, PriceKind::Range].into_iter().find(|k| k.as_str() == text)
    }
}

/// A record that passed validation: typed, decimal, with a real currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRecord {
    /// The source's own id for the product (its SKU); our product id is assigned by the
    /// transform's matching.
    pub product_id: String,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub gtin: Option<String>,
    pub mpn: Option<String>,
    pub category: Option<String>,
    pub price: Decimal,
    pub price_kind: PriceKind,
    pub price_max: Option<Decimal>,
    pub regular_price: Option<Decimal>,
    pub sale_starts_at: Option<DateTime<Utc>>,
    pub sale_ends_at: Option<DateTime<Utc>>,
    pub offer_count: Option<i32>,
    pub currency: Currency,
    pub availability: Option<String>,
    pub url: Option<String>,
    pub observed_at: DateTime<Utc>,
    /// The keys products are matched by ([`crate::identity`]).
    pub keys: IdentityKeys,
}

/// A record's matching keys, each absent when its field is absent or unusable.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IdentityKeys {
    pub gtin14: Option<String>,
    pub mpn_key: Option<String>,
    pub brand_key: Option<String>,
    pub name_key: Option<String>,
}

impl IdentityKeys {
    fn of(gtin: Option<&str>, mpn: Option<&str>, brand: Option<&str>, name: Option<&str>) -> IdentityKeys {
        IdentityKeys {
            gtin14: gtin.and_then(identity::gtin14),
            mpn_key: mpn.and_then(identity::mpn_key),
            brand_key: brand.and_then(identity::brand_key),
            name_key: name.and_then(identity::name_key),
        }
    }
}

/// Stable reason codes for rows that were not used. They are stored with the row and
/// queried by operators, so a code never changes meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RejectReason {
    /// A required field is absent or blank.
    MissingField,
    /// The price field is present but empty.
    EmptyPrice,
    /// The price is zero: never a real price, usually a placeholder.
    ZeroPrice,
    /// The price is below zero.
    NegativePrice,
    /// The price text is not a number we can read.
    UnparseablePrice,
    /// A range whose upper bound is missing, unreadable or not above the low end.
    BadPriceRange,
    /// The currency is not an active ISO 4217 code.
    UnknownCurrency,
    /// The observation time is not RFC 3339.
    BadTimestamp,
    /// The row itself cannot be read (wrong column count, not a JSON object, bad UTF-8).
    MalformedRecord,
    /// A whole document (page, feed) could not be parsed.
    MalformedDocument,
    /// A field is longer than the warehouse keeps.
    FieldTooLong,
    /// A text field holds NUL or another control character (tab and line breaks aside).
    ControlCharacter,
    /// A number is outside what its warehouse column holds or what is plausible (an FX
    /// rate outside 0.0001..1,000,000).
    OutOfRange,
    /// A document (a product page) could not be fetched.
    FetchFailed,
    /// A page states two different prices for one product (JSON-LD one, microdata or
    /// Open Graph another): no record, both values and their origins in the detail.
    PriceConflict,
}

impl RejectReason {
    /// Every reason.
    pub const ALL: [RejectReason; 15] = [
        RejectReason::MissingField,
        RejectReason::EmptyPrice,
        RejectReason::ZeroPrice,
        RejectReason::NegativePrice,
        RejectReason::UnparseablePrice,
        RejectReason::BadPriceRange,
        RejectReason::UnknownCurrency,
        RejectReason::BadTimestamp,
        RejectReason::MalformedRecord,
        RejectReason::MalformedDocument,
        RejectReason::FieldTooLong,
        RejectReason::ControlCharacter,
        RejectReason::OutOfRange,
        RejectReason::FetchFailed,
        RejectReason::PriceConflict,
    ];

    /// The reason of a stored code.
    pub fn parse(code: &str) -> Option<RejectReason> {
        RejectReason::ALL.into_iter().find(|r| r.code() == code)
    }

    /// The code stored in the warehouse, e.g. `NEGATIVE_PRICE`.
    pub fn code(self) -> &'static str {
        match self {
            RejectReason::MissingField => "MISSING_FIELD",
            RejectReason::EmptyPrice => "EMPTY_PRICE",
            RejectReason::ZeroPrice => "ZERO_PRICE",
            RejectReason::NegativePrice => "NEGATIVE_PRICE",
            RejectReason::UnparseablePrice => "UNPARSEABLE_PRICE",
            RejectReason::BadPriceRange => "BAD_PRICE_RANGE",
            RejectReason::UnknownCurrency => "UNKNOWN_CURRENCY",
            RejectReason::BadTimestamp => "BAD_TIMESTAMP",
            RejectReason::MalformedRecord => "MALFORMED_RECORD",
            RejectReason::MalformedDocument => "MALFORMED_DOCUMENT",
            RejectReason::FieldTooLong => "FIELD_TOO_LONG",
            RejectReason::ControlCharacter => "CONTROL_CHARACTER",
            RejectReason::OutOfRange => "OUT_OF_RANGE",
            RejectReason::FetchFailed => "FETCH_FAILED",
            RejectReason::PriceConflict => "PRICE_CONFLICT",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.code())
    }
}

/// Why one row was not used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowReject {
    pub reason: RejectReason,
    /// Human-readable detail naming the field and the bad value.
    pub detail: String,
}

impl RowReject {
    pub fn new(reason: RejectReason, detail: impl Into<String>) -> Self {
        RowReject { reason, detail: detail.into() }
    }
}

fn present<T: AsRef<str>>(field: &Option<T>) -> Option<&str> {
    field.as_ref().map(|f| f.as_ref().trim()).filter(|s| !s.is_empty())
}

fn owned<T: AsRef<str>>(field: &Option<T>) -> Option<String> {
    present(field).map(str::to_owned)
}

/// Reads a canonical decimal (`1299.00`, `-3`, `0.5`); grouping and symbols were removed
/// by the scraper, so anything else is unparseable here.
pub fn parse_plain_decimal(text: &str) -> Option<Decimal> {
    let t = text.trim();
    let digits_ok = !t.is_empty()
        && t.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        && t.chars().filter(|c| *c == '.').count() <= 1
        && !t[1..].contains('-');
    if !digits_ok {
        return None;
    }
    Decimal::from_str(t).ok()
}

/// Most decimal places a price may have; the warehouse keeps six.
pub const MAX_PRICE_SCALE: u32 = 6;
/// Prices must be below this: the warehouse keeps 12 digits before the decimal point.
const PRICE_LIMIT: i64 = 1_000_000_000_000;

/// Cuts `text` to at most `max` bytes on a character boundary, marking the cut, so a
/// reject's detail or raw row always fits its column.
pub fn clip(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    format!("{}...", head(text, max.saturating_sub(3)))
}

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn head(text: &str, max: usize) -> &str {
    let mut end = max.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// The first control character of `text` other than a tab or a line break. Controls
/// (U+0000–U+001F, U+007F–U+009F) are one byte in UTF-8, or 0xC2 then 0x80–0x9F, so the
/// bytes are scanned rather than decoded.
fn control_character(text: &str) -> Option<char> {
    let bytes = text.as_bytes();
    bytes.iter().enumerate().find_map(|(i, &b)| match b {
        b'\t' | b'\n' | b'\r' => None,
        0..=0x1F | 0x7F => Some(char::from(b)),
        // Latin-1 as Unicode: 0x80–0x9F is U+0080–U+009F.
        0xC2 => bytes.get(i + 1).filter(|next| (0x80..=0x9F).contains(*next)).map(|&next| char::from(next)),
        _ => None,
    })
}

fn parse_price(field: &str, text: Option<&str>) -> Result<Decimal, RowReject> {
    let text = text.ok_or_else(|| RowReject::new(RejectReason::EmptyPrice, format!("{field} is empty")))?;
    let value = parse_plain_decimal(text).ok_or_else(|| {
        RowReject::new(RejectReason::UnparseablePrice, format!("{field} `{text}` is not a decimal number"))
    })?;
    if value.is_zero() {
        return Err(RowReject::new(RejectReason::ZeroPrice, format!("{field} is zero")));
    }
    if value.is_sign_negative() {
        return Err(RowReject::new(RejectReason::NegativePrice, format!("{field} `{text}` is negative")));
    }
    if value >= Decimal::from(PRICE_LIMIT) {
        return Err(RowReject::new(
            RejectReason::UnparseablePrice,
            format!("{field} `{}` is too large", clip(text, 40)),
        ));
    }
    if value.normalize().scale() > MAX_PRICE_SCALE {
        return Err(RowReject::new(
            RejectReason::UnparseablePrice,
            format!("{field} `{text}` has more than {MAX_PRICE_SCALE} decimal places"),
        ));
    }
    Ok(value)
}

fn parse_time(field: &str, text: &str) -> Result<DateTime<Utc>, RowReject> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| {
        RowReject::new(RejectReason::BadTimestamp, format!("{field} `{}` is not RFC 3339: {e}", clip(text, 60)))
    })
}

fn parse_optional_time<T: AsRef<str>>(field: &str, value: &Option<T>) -> Result<Option<DateTime<Utc>>, RowReject> {
    present(value).map(|text| parse_time(field, text)).transpose()
}

impl<T: AsRef<str>> RawRecord<T> {
    /// Validates the record; the first problem found is the reason.
    pub fn validate(&self) -> Result<ValidRecord, RowReject> {
        if let Some(code) = present(&self.reject_reason) {
            let detail = present(&self.reject_detail).unwrap_or("no detail");
            return Err(match RejectReason::parse(code) {
                Some(reason) => RowReject::new(reason, format!("rejected by the scraper: {detail}")),
                None => {
                    RowReject::new(RejectReason::MalformedRecord, format!("unknown reject_reason `{code}`: {detail}"))
                }
            });
        }
        let limited = [
            ("product_id", &self.product_id, 256),
            ("name", &self.name, 1024),
            ("brand", &self.brand, 256),
            ("gtin", &self.gtin, 32),
            ("mpn", &self.mpn, 128),
            ("category", &self.category, 512),
            ("availability", &self.availability, 64),
            ("url", &self.url, 2048),
        ];
        for (field, value, limit) in limited {
            if let Some(text) = present(value) {
                // Bytes, not characters: Redshift's VARCHAR(n) counts bytes.
                if text.len() > limit {
                    return Err(RowReject::new(
                        RejectReason::FieldTooLong,
                        format!("{field} is {} bytes long, at most {limit} are kept", text.len()),
                    ));
                }
                if let Some(c) = control_character(text) {
                    return Err(RowReject::new(
                        RejectReason::ControlCharacter,
                        format!("{field} contains the control character U+{:04X}", u32::from(c)),
                    ));
                }
            }
        }
        let product_id = present(&self.product_id)
            .ok_or_else(|| RowReject::new(RejectReason::MissingField, "product_id is missing"))?;
        let price = parse_price("price", present(&self.price))?;
        let price_kind = match present(&self.price_kind) {
            None => PriceKind::Exact,
            Some(text) => PriceKind::parse(text).ok_or_else(|| {
                RowReject::new(
                    RejectReason::MalformedRecord,
                    format!("price_kind `{text}` is not exact, from or range"),
                )
            })?,
        };
        let price_max = match price_kind {
            PriceKind::Range => {
                let max = parse_price("price_max", present(&self.price_max))
                    .map_err(|r| RowReject::new(RejectReason::BadPriceRange, r.detail))?;
                if max <= price {
                    return Err(RowReject::new(
                        RejectReason::BadPriceRange,
                        format!("price_max {max} is not above price {price}"),
                    ));
                }
                Some(max)
            }
            _ => None,
        };
        let regular_price = match present(&self.regular_price) {
            None => None,
            Some(text) => Some(parse_price("regular_price", Some(text))?),
        };
        let sale_starts_at = parse_optional_time("sale_starts_at", &self.sale_starts_at)?;
        let sale_ends_at = parse_optional_time("sale_ends_at", &self.sale_ends_at)?;
        let offer_count = match present(&self.offer_count) {
            None => None,
            Some(text) => Some(text.parse::<u16>().map(i32::from).map_err(|_| {
                RowReject::new(
                    RejectReason::MalformedRecord,
                    format!("offer_count `{}` is not a whole number from 0 to 65535", clip(text, 40)),
                )
            })?),
        };
        let currency_text =
            present(&self.currency).ok_or_else(|| RowReject::new(RejectReason::MissingField, "currency is missing"))?;
        let currency = Currency::from_str(currency_text)
            .map_err(|e| RowReject::new(RejectReason::UnknownCurrency, e.to_string()))?;
        let observed_text = present(&self.observed_at)
            .ok_or_else(|| RowReject::new(RejectReason::MissingField, "observed_at is missing"))?;
        let observed_at = parse_time("observed_at", observed_text)?;
        Ok(ValidRecord {
            product_id: product_id.to_owned(),
            name: owned(&self.name),
            brand: owned(&self.brand),
            gtin: owned(&self.gtin),
            mpn: owned(&self.mpn),
            category: owned(&self.category),
            price,
            price_kind,
            price_max,
            regular_price,
            sale_starts_at,
            sale_ends_at,
            offer_count,
            currency,
            availability: owned(&self.availability),
            url: owned(&self.url),
            observed_at,
            keys: IdentityKeys::of(present(&self.gtin), present(&self.mpn), present(&self.brand), present(&self.name)),
        })
    }
}

impl RawRecord {
    /// The record as CSV fields in [`PRICE_CSV_HEADER`] order.
    pub fn csv_fields(&self) -> [&str; 20] {
        fn f(v: &Option<String>) -> &str {
            v.as_deref().unwrap_or("")
        }
        [
            f(&self.product_id),
            f(&self.name),
            f(&self.brand),
            f(&self.gtin),
            f(&self.mpn),
            f(&self.category),
            f(&self.price),
            f(&self.price_kind),
            f(&self.price_max),
            f(&self.regular_price),
            f(&self.sale_starts_at),
            f(&self.sale_ends_at),
            f(&self.offer_count),
            f(&self.currency),
            f(&self.availability),
            f(&self.url),
            f(&self.observed_at),
            f(&self.reject_reason),
            f(&self.reject_detail),
            f(&self.original),
        ]
    }
}

impl<'a> RawRecord<Cow<'a, str>> {
    /// Reads a record from one JSON Lines line: a JSON object whose fields are read in
    /// one pass, each value kept as its JSON text until it is turned into the field's
    /// text (no tree of values is built). A number is taken as its own digits, never
    /// through a float; `true` and `false` as those words; `null`, an object or an array
    /// as no value. Unknown fields are ignored; a field given twice is a reject.
    pub fn from_json_line(line: &'a str) -> Result<Self, RowReject> {
        // (Checked first: a struct would also read an array, its items as the fields.)
        if !line.trim_start().starts_with('{') {
            let why = match serde_json::from_str::<serde::de::IgnoredAny>(line) {
                Ok(_) => "line is not a JSON object".to_owned(),
                Err(e) => format!("not JSON: {e}"),
            };
            return Err(RowReject::new(RejectReason::MalformedRecord, why));
        }
        let json: JsonLine<'_> = serde_json::from_str(line).map_err(|e| {
            let why = if e.is_data() { format!("not a price record: {e}") } else { format!("not JSON: {e}") };
            RowReject::new(RejectReason::MalformedRecord, why)
        })?;
        Ok(RawRecord {
            product_id: json_text(json.product_id),
            name: json_text(json.name),
            brand: json_text(json.brand),
            gtin: json_text(json.gtin),
            mpn: json_text(json.mpn),
            category: json_text(json.category),
            price: json_text(json.price),
            price_kind: json_text(json.price_kind),
            price_max: json_text(json.price_max),
            regular_price: json_text(json.regular_price),
            sale_starts_at: json_text(json.sale_starts_at),
            sale_ends_at: json_text(json.sale_ends_at),
            offer_count: json_text(json.offer_count),
            currency: json_text(json.currency),
            availability: json_text(json.availability),
            url: json_text(json.url),
            observed_at: json_text(json.observed_at),
            reject_reason: json_text(json.reject_reason),
            reject_detail: json_text(json.reject_detail),
            original: json_text(json.original),
        })
    }
}

/// The fields of a JSON Lines record as they were written: each value its JSON text.
#[derive(Deserialize)]
#[serde(expecting = "a JSON object")]
struct JsonLine<'a> {
    #[serde(borrow)]
    product_id: Option<&'a RawValue>,
    #[serde(borrow)]
    name: Option<&'a RawValue>,
    #[serde(borrow)]
    brand: Option<&'a RawValue>,
    #[serde(borrow)]
    gtin: Option<&'a RawValue>,
    #[serde(borrow)]
    mpn: Option<&'a RawValue>,
    #[serde(borrow)]
    category: Option<&'a RawValue>,
    #[serde(borrow)]
    price: Option<&'a RawValue>,
    #[serde(borrow)]
    price_kind: Option<&'a RawValue>,
    #[serde(borrow)]
    price_max: Option<&'a RawValue>,
    #[serde(borrow)]
    regular_price: Option<&'a RawValue>,
    #[serde(borrow)]
    sale_starts_at: Option<&'a RawValue>,
    #[serde(borrow)]
    sale_ends_at: Option<&'a RawValue>,
    #[serde(borrow)]
    offer_count: Option<&'a RawValue>,
    #[serde(borrow)]
    currency: Option<&'a RawValue>,
    #[serde(borrow)]
    availability: Option<&'a RawValue>,
    #[serde(borrow)]
    url: Option<&'a RawValue>,
    #[serde(borrow)]
    observed_at: Option<&'a RawValue>,
    #[serde(borrow)]
    reject_reason: Option<&'a RawValue>,
    #[serde(borrow)]
    reject_detail: Option<&'a RawValue>,
    #[serde(borrow)]
    original: Option<&'a RawValue>,
}

/// A field's text from its JSON value (already checked by the parser): a string
/// unescaped (borrowed from the line unless it has escapes), a number or `true`/`false`
/// as written, anything else none.
fn json_text(value: Option<&RawValue>) -> Option<Cow<'_, str>> {
    let text = value?.get();
    match text.as_bytes().first()? {
        b'"' => match text.get(1..text.len() - 1) {
            Some(inner) if !inner.contains('\\') => Some(Cow::Borrowed(inner)),
            _ => serde_json::from_str::<String>(text).ok().map(Cow::Owned),
        },
        b'-' | b'0'..=b'9' | b't' | b'f' => Some(Cow::Borrowed(text)),
        _ => None,
    }
}

/// Column order of FX CSV files.
pub const FX_CSV_HEADER: [&str; 5] = ["rate_date", "base_currency", "quote_currency", "rate", "source"];

/// One reference rate: 1 `base_currency` = `rate` `quote_currency` on `rate_date`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FxRateRecord {
    pub rate_date: NaiveDate,
    pub base_currency: Currency,
    pub quote_currency: Currency,
    /// Units of quote per one unit of base; always positive.
    pub rate: Decimal,
    /// Who published the rate, e.g. `ECB`.
    pub source: String,
}

/// The smallest and largest FX rate accepted (units of quote per unit of base). Every
/// real rate against the EUR lies well inside; outside, a rate is a typo, and converting
/// through it could overflow the warehouse's columns.
pub const FX_RATE_MIN: Decimal = Decimal::from_parts(1, 0, 0, false, 4);
pub const FX_RATE_MAX: Decimal = Decimal::from_parts(1_000_000, 0, 0, false, 0);

impl FxRateRecord {
    /// Validates one FX CSV row given as text fields in [`FX_CSV_HEADER`] order.
    pub fn from_fields(fields: &[&str]) -> Result<FxRateRecord, RowReject> {
        let [date, base, quote, rate, source] = fields else {
            return Err(RowReject::new(
                RejectReason::MalformedRecord,
                format!("expected 5 fields, found {}", fields.len()),
            ));
        };
        let rate_date = NaiveDate::parse_from_str(date.trim(), "%Y-%m-%d")
            .map_err(|_| RowReject::new(RejectReason::BadTimestamp, format!("rate_date `{date}` is not YYYY-MM-DD")))?;
        let currency =
            |t: &str| Currency::from_str(t).map_err(|e| RowReject::new(RejectReason::UnknownCurrency, e.to_string()));
        Ok(FxRateRecord {
            rate_date,
            base_currency: currency(base)?,
            quote_currency: currency(quote)?,
            rate: parse_price("rate", Some(rate.trim()).filter(|s| !s.is_empty())).and_then(|r| {
                if (FX_RATE_MIN..=FX_RATE_MAX).contains(&r) {
                    Ok(r)
                } else {
                    Err(RowReject::new(
                        RejectReason::OutOfRange,
                        format!("rate {r} is outside {FX_RATE_MIN}..{FX_RATE_MAX}"),
                    ))
                }
            })?,
            source: match source.trim() {
                s if s.len() <= 64 => s.to_owned(),
                _ => return Err(RowReject::new(RejectReason::FieldTooLong, "source is longer than 64 bytes")),
            },
        })
    }

    /// The rate as CSV fields in [`FX_CSV_HEADER`] order.
    pub fn csv_fields(&self) -> [String; 5] {
        [
            self.rate_date.to_string(),
            self.base_currency.to_string(),
            self.quote_currency.to_string(),
            self.rate.to_string(),
            self.source.clone(),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(price: &str, currency: &str) -> RawRecord {
        RawRecord {
            product_id: Some("p1".into()),
            price: Some(price.into()),
            currency: Some(currency.into()),
            observed_at: Some("2026-11-25T02:00:00Z".into()),
            ..RawRecord::default()
        }
    }

    fn reason(r: &RawRecord) -> RejectReason {
        r.validate().unwrap_err().reason
    }

    #[test]
    fn accepts_a_plain_record() {
        let v = raw("1299.00", "eur").validate().unwrap();
        assert_eq!(v.price, Decimal::from_str("1299").unwrap());
        assert_eq!(v.currency, Currency::EUR);
        assert_eq!(v.price_kind, PriceKind::Exact);
    }

    #[test]
    fn trailing_zeros_do_not_change_the_price() {
        let a = raw("2879.2", "USD").validate().unwrap().price;
        let b = raw("2879.20", "USD").validate().unwrap().price;
        assert_eq!(a, b);
    }

    #[test]
    fn rejects_bad_prices_with_their_reason() {
        assert_eq!(reason(&raw("", "USD")), RejectReason::EmptyPrice);
        assert_eq!(reason(&raw("0.00", "USD")), RejectReason::ZeroPrice);
        assert_eq!(reason(&raw("-5", "USD")), RejectReason::NegativePrice);
        assert_eq!(reason(&raw("1,299.00", "USD")), RejectReason::UnparseablePrice);
        assert_eq!(reason(&raw("12abc", "USD")), RejectReason::UnparseablePrice);
        assert_eq!(reason(&raw("1-2", "USD")), RejectReason::UnparseablePrice);
        assert_eq!(reason(&raw("NaN", "USD")), RejectReason::UnparseablePrice);
        assert_eq!(reason(&raw("1.0000001", "USD")), RejectReason::UnparseablePrice);
        assert_eq!(reason(&raw("1000000000000", "USD")), RejectReason::UnparseablePrice);
        assert!(raw("999999999999.99", "USD").validate().is_ok());
        assert!(raw("1.1234560", "USD").validate().is_ok());
    }

    #[test]
    fn rejects_bad_currency_time_and_missing_fields() {
        assert_eq!(reason(&raw("1", "XYZ")), RejectReason::UnknownCurrency);
        let mut r = raw("1", "USD");
        r.observed_at = Some("yesterday".into());
        assert_eq!(reason(&r), RejectReason::BadTimestamp);
        r.observed_at = None;
        assert_eq!(reason(&r), RejectReason::MissingField);
        let mut r = raw("1", "USD");
        r.product_id = Some("  ".into());
        assert_eq!(reason(&r), RejectReason::MissingField);
        r.product_id = Some("p".repeat(257));
        assert_eq!(reason(&r), RejectReason::FieldTooLong);
        // 100 three-byte characters: 300 bytes, too long for product_id in Redshift.
        r.product_id = Some("価".repeat(100));
        assert_eq!(reason(&r), RejectReason::FieldTooLong);
    }

    #[test]
    fn rejects_control_characters_but_keeps_tabs_and_line_breaks() {
        let mut r = raw("1", "USD");
        r.name = Some("Kettle\0 2000".into());
        let reject = r.validate().unwrap_err();
        assert_eq!(
            (reject.reason, reject.detail.as_str()),
            (RejectReason::ControlCharacter, "name contains the control character U+0000")
        );
        r.name = Some("Kettle\u{1b}[31m".into());
        assert_eq!(reason(&r), RejectReason::ControlCharacter);
        r.name = Some("Kettle\t2000\r\nblack".into());
        assert!(r.validate().is_ok());
        // The byte scan finds exactly the characters `char::is_control` names.
        for c in ('\0'..='\u{800}').chain(['\u{2028}', '\u{feff}', '\u{10ffff}']) {
            let expected = (c.is_control() && !matches!(c, '\t' | '\n' | '\r')).then_some(c);
            assert_eq!(control_character(&format!("a{c}é")), expected, "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn rejects_fx_rates_outside_their_range() {
        let row = |rate: &str| FxRateRecord::from_fields(&["2026-11-25", "EUR", "USD", rate, "ECB"]);
        assert_eq!(row("20000000000").unwrap_err().reason, RejectReason::OutOfRange);
        assert_eq!(row("0.00001").unwrap_err().reason, RejectReason::OutOfRange);
        assert_eq!(row("0.0001").unwrap().rate, FX_RATE_MIN);
        assert_eq!(row("1000000").unwrap().rate, FX_RATE_MAX);
    }

    #[test]
    fn clip_cuts_on_character_boundaries() {
        assert_eq!(clip("short", 10), "short");
        assert_eq!(clip("abcdefghij", 8), "abcde...");
        assert_eq!(clip("ééééé", 6), "é...");
    }

    #[test]
    fn ranges_need_a_higher_upper_bound() {
        let mut r = raw("10", "USD");
        r.price_kind = Some("range".into());
        assert_eq!(reason(&r), RejectReason::BadPriceRange);
        r.price_max = Some("5".into());
        assert_eq!(reason(&r), RejectReason::BadPriceRange);
        r.price_max = Some("20".into());
        let v = r.validate().unwrap();
        assert_eq!(v.price_max, Some(Decimal::from(20)));
    }

    #[test]
    fn reads_json_objects_with_numeric_prices() {
        let line = r#"{"product_id":"p","price":12.5,"currency":"USD","observed_at":"2026-11-25T00:00:00+01:00"}"#;
        let rec = RawRecord::from_json_line(line).unwrap().validate().unwrap();
        assert_eq!(rec.price, Decimal::from_str("12.5").unwrap());
        assert_eq!(rec.observed_at.to_rfc3339(), "2026-11-24T23:00:00+00:00");
        // A JSON number's own digits, never through f64 (which reads …455 here).
        let line =
            r#"{"product_id":"p","price":12345678901.123456,"currency":"USD","observed_at":"2026-11-25T00:00:00Z"}"#;
        let rec = RawRecord::from_json_line(line).unwrap().validate().unwrap();
        assert_eq!(rec.price.to_string(), "12345678901.123456");
    }

    #[test]
    fn reads_each_kind_of_json_value_and_rejects_what_is_not_a_record() {
        let line = r#" {"name":"Caf\u00e9 \"X\"","gtin":4006381333931,"brand":null,"mpn":true,
                       "category":{"path":"a"},"url":["u"],"extra":[1,{"b":2}]} "#;
        let rec = RawRecord::from_json_line(line).unwrap();
        assert_eq!(rec.name.as_deref(), Some("Café \"X\""));
        assert_eq!(rec.gtin.as_deref(), Some("4006381333931"));
        assert_eq!(rec.mpn.as_deref(), Some("true"));
        assert_eq!((rec.brand, rec.category, rec.url), (None, None, None));
        let why = |line: &str| {
            let reject = RawRecord::from_json_line(line).unwrap_err();
            assert_eq!(reject.reason, RejectReason::MalformedRecord);
            reject.detail
        };
        assert_eq!(why("[1]"), "line is not a JSON object");
        assert!(why("[1").starts_with("not JSON: EOF while parsing a list"));
        let array_of_fields = r#"["p","n","b","4006381333931","m","c","1.00","exact","","","","","","USD"]"#;
        assert_eq!(why(array_of_fields), "line is not a JSON object");
        assert!(why(r#"{"price":["1"]"#).starts_with("not JSON: EOF"));
        assert!(why(r#"{"price":1} x"#).starts_with("not JSON: trailing characters"));
        assert!(why(r#"{"price":"1","price":"2"}"#).starts_with("not a price record: duplicate field `price`"));
        assert!(why(r#"{"price":"1""#).starts_with("not JSON: EOF while parsing an object"));
    }

    #[test]
    fn scraper_rejects_stay_rejects_with_their_reason() {
        let mut r = raw("1", "USD");
        r.reject_reason = Some("ZERO_PRICE".into());
        r.reject_detail = Some("page 2 item 1: price is zero".into());
        let why = r.validate().unwrap_err();
        assert_eq!(why.reason, RejectReason::ZeroPrice);
        assert_eq!(why.detail, "rejected by the scraper: page 2 item 1: price is zero");
        r.reject_reason = Some("NOPE".into());
        assert_eq!(reason(&r), RejectReason::MalformedRecord);
        for code in RejectReason::ALL {
            assert_eq!(RejectReason::parse(code.code()), Some(code));
        }
    }

    #[test]
    fn fx_rows_validate() {
        let ok = FxRateRecord::from_fields(&["2026-11-25", "EUR", "USD", "1.0412", "ECB"]).unwrap();
        assert_eq!(ok.rate, Decimal::from_str("1.0412").unwrap());
        let bad = FxRateRecord::from_fields(&["2026-11-25", "EUR", "USD", "0", "ECB"]);
        assert_eq!(bad.unwrap_err().reason, RejectReason::ZeroPrice);
        let short = FxRateRecord::from_fields(&["2026-11-25"]);
        assert_eq!(short.unwrap_err().reason, RejectReason::MalformedRecord);
    }
}
