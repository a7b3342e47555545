//! What the app reads: the items of the single DynamoDB table, defined once for the
//! syncer that writes them and the read API that serves them.
//!
//! | item | `pk` | `sk` | access pattern |
//! |---|---|---|---|
//! | product, latest | `PRODUCT#<id>` | `LATEST` | GetItem: what does X cost now |
//! | offer | `PRODUCT#<id>` | `OFFER#<source>` | Query `sk >= LATEST`: the product with its offers |
//! | history | `PRODUCT#<id>` | `DAY#<date>` | Query `begins_with DAY#`, newest first: 90 days |
//! | GTIN | `GTIN#<gtin14>` | `PRODUCT` | GetItem: a GTIN to our product id |
//! | category | GSI `by_category`: `gsi1pk` = `CATEGORY#<c>`, `gsi1sk` = padded market cents + id | | Query: a category, cheapest first |
//!
//! Money is stored as decimal text with two places (`"249.90"`), exactly as the API
//! returns it. Every item carries `version_date` and `version_seq`, the version the
//! syncer's conditional writes compare ([`ItemVersion`]), and `content_hash`, so that a
//! write whose content did not change can be skipped.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Sort key of a product's latest item.
pub const LATEST_SK: &str = "LATEST";
/// Sort key of a GTIN's pointer item.
pub const GTIN_SK: &str = "PRODUCT";
/// The category index.
pub const CATEGORY_INDEX: &str = "by_category";
/// How long history items live: TTL removes them this many days after their date.
pub const HISTORY_RETENTION_DAYS: i64 = 400;

/// An attribute value: text (`S`) or number (`N`), both as text.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AttrValue {
    S(String),
    N(String),
}

/// An item's attributes, keys included.
pub type Item = BTreeMap<String, AttrValue>;

/// Which write of an item wins: the later price date, then the later load of that day.
/// DynamoDB itself refuses a write of an older version (a conditional put or delete),
/// so many syncers racing never move an item backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemVersion {
    pub price_date: NaiveDate,
    /// The load sequence of the batch (its manifest's creation time in ms).
    pub load_seq: i64,
}

/// A product now: the `LATEST` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub product_id: String,
    /// GTIN-14, when the product has one.
    pub gtin: Option<String>,
    pub name: Option<String>,
    pub brand: Option<String>,
    pub category: String,
    #[serde(with = "money")]
    pub market_price_usd: Decimal,
    #[serde(with = "money")]
    pub retail_price_usd: Decimal,
    #[serde(with = "money")]
    pub lowest_price_usd: Decimal,
    /// Sources with a usable offer that day.
    pub sources: i64,
    pub price_change_pct: Option<Decimal>,
    /// `rising`, `falling` or `stable`; `None` without an earlier day to compare with.
    pub trend: Option<String>,
    pub confidence: Decimal,
    /// e.g. `in_stock 2/3`: offers in stock over offers.
    pub availability: Option<String>,
    pub price_date: NaiveDate,
    /// The batch whose transform produced these figures.
    pub batch_id: String,
}

/// One source's offer of a product on the product's current day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferView {
    pub product_id: String,
    pub source_id: String,
    /// In the source's currency, as stated.
    pub price: Decimal,
    pub currency: String,
    #[serde(with = "money")]
    pub price_usd: Decimal,
    /// USD per unit of `currency`, and the date and publisher of that rate.
    pub fx_rate: Decimal,
    pub fx_rate_date: NaiveDate,
    pub fx_source: String,
    pub availability: Option<String>,
    pub url: Option<String>,
    pub observed_at: DateTime<Utc>,
    pub price_date: NaiveDate,
    /// A range's upper bound, in `currency`, as stated.
    pub price_max: Option<Decimal>,
    /// The regular (list) price the source states beside a sale price, in USD.
    pub regular_price_usd: Option<Decimal>,
}

/// A product's figures of one day: a `DAY#` item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryPoint {
    pub product_id: String,
    pub price_date: NaiveDate,
    #[serde(with = "money")]
    pub market_price_usd: Decimal,
    #[serde(with = "money")]
    pub lowest_price_usd: Decimal,
    pub sources: i64,
}

/// Money as JSON text with two decimal places (`"249.90"`), never a float.
pub mod money {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::cents(*value))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Decimal text with exactly two places, rounded half away from zero.
pub fn cents(value: Decimal) -> String {
    let mut v = value.round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
    v.rescale(2);
    v.to_string()
}

pub fn product_pk(product_id: &str) -> String {
    format!("PRODUCT#{product_id}")
}

pub fn offer_sk(source_id: &str) -> String {
    format!("OFFER#{source_id}")
}

pub fn day_sk(date: NaiveDate) -> String {
    format!("DAY#{date}")
}

pub fn gtin_pk(gtin14: &str) -> String {
    format!("GTIN#{gtin14}")
}

pub fn category_pk(category: &str) -> String {
    format!("CATEGORY#{category}")
}

/// The category index's sort key: market price in cents, zero-padded so that text order
/// is price order, then the product id to keep keys unique.
pub fn category_sort_key(market_price_usd: Decimal, product_id: &str) -> String {
    let cents = (market_price_usd * Decimal::ONE_HUNDRED).round().max(Decimal::ZERO);
    format!("{:0>15}#{product_id}", cents.to_string())
}

fn s(v: impl Into<String>) -> AttrValue {
    AttrValue::S(v.into())
}

fn opt(item: &mut Item, name: &str, value: Option<String>) {
    if let Some(v) = value {
        item.insert(name.to_owned(), s(v));
    }
}

/// Seals an item: its content hash over every attribute but the version, then the
/// version. Two writes of the same content hash the same, whichever batch made them.
fn seal(mut item: Item, version: ItemVersion) -> Item {
    let mut hasher = Sha256::new();
    for (name, value) in &item {
        let (kind, text) = match value {
            AttrValue::S(t) => ("S", t),
            AttrValue::N(t) => ("N", t),
        };
        hasher.update(format!("{}:{name}={kind}:{}\n", name.len(), text).as_bytes());
    }
    item.insert("content_hash".into(), s(hex::encode(hasher.finalize())));
    item.insert("version_date".into(), s(version.price_date.to_string()));
    item.insert("version_seq".into(), AttrValue::N(version.load_seq.to_string()));
    item
}

/// The content hash of a sealed item.
pub fn content_hash(item: &Item) -> Option<&str> {
    match item.get("content_hash") {
        Some(AttrValue::S(h)) => Some(h),
        _ => None,
    }
}

/// The `LATEST` item of a product.
pub fn product_item(p: &ProductView, version: ItemVersion) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(product_pk(&p.product_id))),
        ("sk".to_owned(), s(LATEST_SK)),
        ("product_id".to_owned(), s(&p.product_id)),
        ("category".to_owned(), s(&p.category)),
        ("market_price_usd".to_owned(), s(cents(p.market_price_usd))),
        ("retail_price_usd".to_owned(), s(cents(p.retail_price_usd))),
        ("lowest_price_usd".to_owned(), s(cents(p.lowest_price_usd))),
        ("sources".to_owned(), AttrValue::N(p.sources.to_string())),
        ("confidence".to_owned(), s(p.confidence.normalize().to_string())),
        ("price_date".to_owned(), s(p.price_date.to_string())),
        ("batch_id".to_owned(), s(&p.batch_id)),
        ("gsi1pk".to_owned(), s(category_pk(&p.category))),
        ("gsi1sk".to_owned(), s(category_sort_key(p.market_price_usd, &p.product_id))),
    ]);
    opt(&mut item, "gtin", p.gtin.clone());
    opt(&mut item, "name", p.name.clone());
    opt(&mut item, "brand", p.brand.clone());
    opt(&mut item, "price_change_pct", p.price_change_pct.map(cents));
    opt(&mut item, "trend", p.trend.clone());
    opt(&mut item, "availability", p.availability.clone());
    seal(item, version)
}

/// The `GTIN#` pointer item of a product with a GTIN.
pub fn gtin_item(gtin14: &str, product_id: &str, version: ItemVersion) -> Item {
    let item = Item::from([
        ("pk".to_owned(), s(gtin_pk(gtin14))),
        ("sk".to_owned(), s(GTIN_SK)),
        ("product_id".to_owned(), s(product_id)),
    ]);
    seal(item, version)
}

/// An `OFFER#` item.
pub fn offer_item(o: &OfferView, version: ItemVersion) -> Item {
    let mut item = Item::from([
        ("pk".to_owned(), s(product_pk(&o.product_id))),
        ("sk".to_owned(), s(offer_sk(&o.source_id))),
        ("product_id".to_owned(), s(&o.product_id)),
        ("source_id".to_owned(), s(&o.source_id)),
        ("price".to_owned(), s(o.price.normalize().to_string())),
        ("currency".to_owned(), s(&o.currency)),
        ("price_usd".to_owned(), s(cents(o.price_usd))),
        ("fx_rate".to_owned(), s(o.fx_rate.normalize().to_string())),
        ("fx_rate_date".to_owned(), s(o.fx_rate_date.to_string())),
        ("fx_source".to_owned(), s(&o.fx_source)),
        ("observed_at".to_owned(), s(o.observed_at.to_rfc3339())),
        ("price_date".to_owned(), s(o.price_date.to_string())),
    ]);
    opt(&mut item, "availability", o.availability.clone());
    opt(&mut item, "url", o.url.clone());
    opt(&mut item, "price_max", o.price_max.map(|m| m.normalize().to_string()));
    opt(&mut item, "regular_price_usd", o.regular_price_usd.map(cents));
    seal(item, version)
}

/// A `DAY#` item; it expires [`HISTORY_RETENTION_DAYS`] after its date.
pub fn history_item(h: &HistoryPoint, version: ItemVersion) -> Item {
    let expires = h.price_date.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp()).unwrap_or_default()
        + HISTORY_RETENTION_DAYS * 86_400;
    let item = Item::from([
        ("pk".to_owned(), s(product_pk(&h.product_id))),
        ("sk".to_owned(), s(day_sk(h.price_date))),
        ("product_id".to_owned(), s(&h.product_id)),
        ("price_date".to_owned(), s(h.price_date.to_string())),
        ("market_price_usd".to_owned(), s(cents(h.market_price_usd))),
        ("lowest_price_usd".to_owned(), s(cents(h.lowest_price_usd))),
        ("sources".to_owned(), AttrValue::N(h.sources.to_string())),
        ("expires_at".to_owned(), AttrValue::N(expires.to_string())),
    ]);
    seal(item, version)
}

/// An item that is not what the syncer writes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("item {pk}/{sk}: attribute `{attribute}` {problem}")]
pub struct ItemError {
    pub pk: String,
    pub sk: String,
    pub attribute: String,
    pub problem: String,
}

struct Reader<'a> {
    item: &'a Item,
}

impl Reader<'_> {
    fn error(&self, attribute: &str, problem: &str) -> ItemError {
        let key = |k: &str| match self.item.get(k) {
            Some(AttrValue::S(v) | AttrValue::N(v)) => v.clone(),
            None => String::new(),
        };
        ItemError { pk: key("pk"), sk: key("sk"), attribute: attribute.into(), problem: problem.into() }
    }

    fn opt(&self, name: &str) -> Option<String> {
        match self.item.get(name) {
            Some(AttrValue::S(v) | AttrValue::N(v)) => Some(v.clone()),
            None => None,
        }
    }

    fn text(&self, name: &str) -> Result<String, ItemError> {
        self.opt(name).ok_or_else(|| self.error(name, "is missing"))
    }

    fn parsed<T: FromStr>(&self, name: &str) -> Result<T, ItemError> {
        self.text(name)?.parse().map_err(|_| self.error(name, "cannot be read"))
    }

    fn parsed_opt<T: FromStr>(&self, name: &str) -> Result<Option<T>, ItemError> {
        self.opt(name).map(|t| t.parse().map_err(|_| self.error(name, "cannot be read"))).transpose()
    }
}

/// Reads a `LATEST` item.
pub fn read_product(item: &Item) -> Result<ProductView, ItemError> {
    let r = Reader { item };
    Ok(ProductView {
        product_id: r.text("product_id")?,
        gtin: r.opt("gtin"),
        name: r.opt("name"),
        brand: r.opt("brand"),
        category: r.text("category")?,
        market_price_usd: r.parsed("market_price_usd")?,
        retail_price_usd: r.parsed("retail_price_usd")?,
        lowest_price_usd: r.parsed("lowest_price_usd")?,
        sources: r.parsed("sources")?,
        price_change_pct: r.parsed_opt("price_change_pct")?,
        trend: r.opt("trend"),
        confidence: r.parsed("confidence")?,
        availability: r.opt("availability"),
        price_date: r.parsed("price_date")?,
        batch_id: r.text("batch_id")?,
    })
}

/// Reads an `OFFER#` item.
pub fn read_offer(item: &Item) -> Result<OfferView, ItemError> {
    let r = Reader { item };
    Ok(OfferView {
        product_id: r.text("product_id")?,
        source_id: r.text("source_id")?,
        price: r.parsed("price")?,
        currency: r.text("currency")?,
        price_usd: r.parsed("price_usd")?,
        fx_rate: r.parsed("fx_rate")?,
        fx_rate_date: r.parsed("fx_rate_date")?,
        fx_source: r.text("fx_source")?,
        availability: r.opt("availability"),
        url: r.opt("url"),
        observed_at: r.parsed("observed_at")?,
        price_date: r.parsed("price_date")?,
        price_max: r.parsed_opt("price_max")?,
        regular_price_usd: r.parsed_opt("regular_price_usd")?,
    })
}

/// Reads a `DAY#` item.
pub fn read_history(item: &Item) -> Result<HistoryPoint, ItemError> {
    let r = Reader { item };
    Ok(HistoryPoint {
        product_id: r.text("product_id")?,
        price_date: r.parsed("price_date")?,
        market_price_usd: r.parsed("market_price_usd")?,
        lowest_price_usd: r.parsed("lowest_price_usd")?,
        sources: r.parsed("sources")?,
    })
}

/// Reads a `GTIN#` item's product id.
pub fn read_gtin(item: &Item) -> Result<String, ItemError> {
    Reader { item }.text("product_id")
}

/// Reads the version of an item as stored.
pub fn read_version(item: &Item) -> Result<ItemVersion, ItemError> {
    let r = Reader { item };
    Ok(ItemVersion { price_date: r.parsed("version_date")?, load_seq: r.parsed("version_seq")? })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, day).unwrap()
    }

    fn product() -> ProductView {
        ProductView {
            product_id: "G04006381333931".into(),
            gtin: Some("04006381333931".into()),
            name: Some("Widget Pro".into()),
            brand: Some("Acme".into()),
            category: "kitchen".into(),
            market_price_usd: Decimal::new(24999, 2),
            retail_price_usd: Decimal::new(2999, 1),
            lowest_price_usd: Decimal::new(239, 0),
            sources: 3,
            price_change_pct: Some(Decimal::new(-425, 2)),
            trend: Some("falling".into()),
            confidence: Decimal::new(8125, 4),
            availability: Some("in_stock 2/3".into()),
            price_date: d(25),
            batch_id: "2026-11-25-b1".into(),
        }
    }

    #[test]
    fn a_product_round_trips_with_money_as_two_place_text() {
        let v = ItemVersion { price_date: d(25), load_seq: 7 };
        let item = product_item(&product(), v);
        assert_eq!(item["retail_price_usd"], AttrValue::S("299.90".into()));
        assert_eq!(item["lowest_price_usd"], AttrValue::S("239.00".into()));
        assert_eq!(item["gsi1sk"], AttrValue::S("000000000024999#G04006381333931".into()));
        assert_eq!(read_product(&item).unwrap(), product());
        assert_eq!(read_version(&item).unwrap(), v);
        let json = serde_json::to_value(product()).unwrap();
        assert_eq!(json["market_price_usd"], "249.99");
        assert_eq!(json["retail_price_usd"], "299.90");
    }

    #[test]
    fn the_content_hash_ignores_the_version_but_not_the_content() {
        let a = product_item(&product(), ItemVersion { price_date: d(25), load_seq: 1 });
        let b = product_item(&product(), ItemVersion { price_date: d(26), load_seq: 9 });
        assert_eq!(content_hash(&a), content_hash(&b));
        let cheaper = ProductView { market_price_usd: Decimal::new(24899, 2), ..product() };
        let c = product_item(&cheaper, ItemVersion { price_date: d(25), load_seq: 1 });
        assert_ne!(content_hash(&a), content_hash(&c));
    }

    #[test]
    fn category_keys_sort_by_price_as_text() {
        let cheap = category_sort_key(Decimal::new(999, 2), "b");
        let dear = category_sort_key(Decimal::new(10000, 2), "a");
        assert!(cheap < dear, "{cheap} < {dear}");
    }

    #[test]
    fn offers_and_history_round_trip() {
        let o = OfferView {
            product_id: "p".into(),
            source_id: "shop".into(),
            price: Decimal::new(24900, 2),
            currency: "EUR".into(),
            price_usd: Decimal::new(26145, 2),
            fx_rate: Decimal::new(105, 2),
            fx_rate_date: d(24),
            fx_source: "ECB".into(),
            availability: None,
            url: Some("https://shop.example/p".into()),
            observed_at: Utc.with_ymd_and_hms(2026, 11, 25, 2, 0, 0).unwrap(),
            price_date: d(25),
            price_max: Some(Decimal::new(29900, 2)),
            regular_price_usd: Some(Decimal::new(31395, 2)),
        };
        let v = ItemVersion { price_date: d(25), load_seq: 1 };
        let item = offer_item(&o, v);
        assert_eq!(item["price_max"], AttrValue::S("299".into()), "a range's upper bound reaches the app");
        assert_eq!(item["regular_price_usd"], AttrValue::S("313.95".into()));
        let mut back = read_offer(&item).unwrap();
        assert_eq!(back.price.to_string(), "249");
        (back.price, back.price_max) = (o.price, o.price_max);
        assert_eq!(back, o);
        let h = HistoryPoint {
            product_id: "p".into(),
            price_date: d(25),
            market_price_usd: Decimal::new(250, 0),
            lowest_price_usd: Decimal::new(24, 0),
            sources: 2,
        };
        let item = history_item(&h, v);
        // 2026-11-25 + 400 days, in epoch seconds.
        assert_eq!(item["expires_at"], AttrValue::N("1830124800".into()));
        assert_eq!(read_history(&item).unwrap(), h);
    }
}
