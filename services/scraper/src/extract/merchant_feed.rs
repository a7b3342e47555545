//! Streaming parser for Google Merchant Center product feeds in RSS 2.0
//! (`<rss><channel><item>`) and Atom (`<feed><entry>`) form.
//!
//! The `g:` fields are recognised by the namespace URI
//! `http://base.google.com/ns/1.0`, whatever prefix the feed uses. Only direct
//! children of an item are read, so nested values such as `g:shipping/g:price` never
//! leak into the product price. `g:sale_price`, when present and valid, replaces
//! `g:price`, unless `g:sale_price_effective_date` (an ISO 8601 interval `start/end`)
//! says the sale is not on at the time of the fetch, or cannot be read; the window is
//! kept on the record. An item that cannot be used becomes a [`RecordReject`] with locator
//! `"item N"` (1-based) and parsing continues; a document-level problem (DOCTYPE,
//! custom entity, malformed XML) is a [`FeedError`].

use crate::extract::price::{parse_price, NumberLocale};
use crate::extract::record::{
    non_empty, normalize_availability, parse_timestamp, Extracted, Price, RawRecord, RecordReject, RejectReason,
    ScrapedRecord,
};
pub use crate::extract::xml_util::FeedError;
use crate::extract::xml_util::{attr_value, resolve_general_ref};
use chrono::{DateTime, Utc};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use std::io::BufRead;

/// Google Merchant Center namespace URI.
pub const GOOGLE_NS: &[u8] = b"http://base.google.com/ns/1.0";
/// Atom namespace URI.
pub const ATOM_NS: &[u8] = b"http://www.w3.org/2005/Atom";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Id,
    GTitle,
    Title,
    GLink,
    Link,
    Price,
    SalePrice,
    SaleWindow,
    Availability,
    Brand,
    Gtin,
    Mpn,
    ProductType,
    GoogleCategory,
}

#[derive(Debug, Default)]
struct ItemFields {
    id: Option<String>,
    g_title: Option<String>,
    title: Option<String>,
    g_link: Option<String>,
    link: Option<String>,
    price: Option<String>,
    sale_price: Option<String>,
    sale_window: Option<String>,
    availability: Option<String>,
    brand: Option<String>,
    gtin: Option<String>,
    mpn: Option<String>,
    product_type: Option<String>,
    google_category: Option<String>,
}

impl ItemFields {
    fn slot(&mut self, f: Field) -> &mut Option<String> {
        match f {
            Field::Id => &mut self.id,
            Field::GTitle => &mut self.g_title,
            Field::Title => &mut self.title,
            Field::GLink => &mut self.g_link,
            Field::Link => &mut self.link,
            Field::Price => &mut self.price,
            Field::SalePrice => &mut self.sale_price,
            Field::SaleWindow => &mut self.sale_window,
            Field::Availability => &mut self.availability,
            Field::Brand => &mut self.brand,
            Field::Gtin => &mut self.gtin,
            Field::Mpn => &mut self.mpn,
            Field::ProductType => &mut self.product_type,
            Field::GoogleCategory => &mut self.google_category,
        }
    }

    /// First occurrence wins; price fields keep raw (untrimmed-empty) text so an
    /// empty `<g:price/>` is reported as EMPTY_PRICE rather than missing.
    fn set(&mut self, f: Field, value: String) {
        let slot = self.slot(f);
        if slot.is_none() {
            *slot = Some(value.trim().to_string());
        }
    }
}

struct ItemState {
    depth: usize,
    index: usize,
    fields: ItemFields,
    current: Option<(Field, String)>,
}

fn classify(ns: &ResolveResult<'_>, local: &[u8]) -> Option<Field> {
    match ns {
        ResolveResult::Bound(n) if n.as_ref() == GOOGLE_NS => Some(match local {
            b"id" => Field::Id,
            b"title" => Field::GTitle,
            b"link" => Field::GLink,
            b"price" => Field::Price,
            b"sale_price" => Field::SalePrice,
            b"sale_price_effective_date" => Field::SaleWindow,
            b"availability" => Field::Availability,
            b"brand" => Field::Brand,
            b"gtin" => Field::Gtin,
            b"mpn" => Field::Mpn,
            b"product_type" => Field::ProductType,
            b"google_product_category" => Field::GoogleCategory,
            _ => return None,
        }),
        ResolveResult::Unbound => plain_field(local),
        ResolveResult::Bound(n) if n.as_ref() == ATOM_NS => plain_field(local),
        _ => None,
    }
}

fn plain_field(local: &[u8]) -> Option<Field> {
    match local {
        b"title" => Some(Field::Title),
        b"link" => Some(Field::Link),
        _ => None,
    }
}

fn is_item_element(ns: &ResolveResult<'_>, local: &[u8]) -> bool {
    let ns_ok = match ns {
        ResolveResult::Unbound => true,
        ResolveResult::Bound(n) => n.as_ref() != GOOGLE_NS,
        ResolveResult::Unknown(_) => false,
    };
    ns_ok && (local == b"item" || local == b"entry")
}

/// Atom `<link href=".." rel="alternate"/>`: the href of an alternate (or rel-less) link.
fn atom_link_href<R>(reader: &NsReader<R>, e: &BytesStart<'_>, position: u64) -> Result<Option<String>, FeedError> {
    let decoder = reader.decoder();
    let rel = attr_value(e, b"rel", decoder, position)?;
    if rel.as_deref().is_some_and(|r| r != "alternate") {
        return Ok(None);
    }
    attr_value(e, b"href", decoder, position)
}

/// `start/end` of a `g:sale_price_effective_date`.
fn sale_window(text: &str) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    let (start, end) = text.split_once('/')?;
    Some((parse_timestamp(start)?, parse_timestamp(end)?))
}

fn finish_item(
    item: ItemState,
    locale: &NumberLocale,
    default_currency: Option<&str>,
    at: DateTime<Utc>,
    out: &mut Extracted,
) {
    let locator = format!("item {}", item.index);
    let f = item.fields;
    let opt = |v: &Option<String>| v.as_deref().and_then(non_empty);
    let readable = RawRecord {
        product_id: opt(&f.id).or_else(|| opt(&f.gtin)).or_else(|| opt(&f.mpn)),
        name: opt(&f.g_title).or_else(|| opt(&f.title)),
        brand: opt(&f.brand),
        gtin: opt(&f.gtin),
        mpn: opt(&f.mpn),
        category: opt(&f.product_type).or_else(|| opt(&f.google_category)),
        price: opt(&f.sale_price).or_else(|| opt(&f.price)),
        url: opt(&f.g_link).or_else(|| opt(&f.link)),
        ..RawRecord::default()
    };
    let reject =
        |reason, detail: String| RecordReject::new(locator.clone(), reason, detail).with_readable(readable.clone());
    let Some(product_id) = readable.product_id.clone() else {
        out.rejects.push(reject(RejectReason::MissingField, "item has no g:id, g:gtin or g:mpn".into()));
        return;
    };
    // A window that cannot be read cannot show the sale is on: the regular price stands.
    let stated = opt(&f.sale_window);
    let window = stated.as_deref().and_then(sale_window);
    if let (Some(text), None) = (&stated, window) {
        tracing::warn!(%locator, window = %text, "g:sale_price_effective_date is not an ISO 8601 interval; using g:price");
    }
    let sale_on = match (&stated, window) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(_), Some((start, end))) => start <= at && at < end,
    };
    let parse = |t: &Option<String>| t.as_deref().map(|t| parse_price(t, locale, default_currency));
    let regular = parse(&f.price);
    let sale = if sale_on { parse(&f.sale_price) } else { None };
    // Where a valid sale price replaces a valid higher regular price of the same
    // currency, the regular price is kept beside it.
    let regular_price = match (&sale, &regular) {
        (Some(Ok((s, sc))), Some(Ok((r, rc)))) if sc == rc && r.amount > s.amount => Some(r.amount),
        _ => None,
    };
    let priced: Result<(Price, String), RecordReject> = match (sale, regular) {
        (Some(Ok(p)), _) => Ok(p),
        (_, Some(Ok(p))) => Ok(p),
        (_, Some(Err(e))) => Err(reject(e.reason, format!("g:price: {}", e.message))),
        (Some(Err(e)), None) => Err(reject(e.reason, format!("g:sale_price: {}", e.message))),
        (None, None) if !sale_on && f.sale_price.is_some() => Err(reject(
            RejectReason::MissingField,
            format!("item {product_id:?} has only a g:sale_price, and its sale is not on at {at}"),
        )),
        (None, None) => Err(reject(RejectReason::MissingField, format!("item {product_id:?} has no g:price"))),
    };
    match priced {
        Ok((price, currency)) => out.records.push(ScrapedRecord {
            product_id,
            name: readable.name.clone(),
            brand: readable.brand.clone(),
            gtin: readable.gtin.clone(),
            mpn: readable.mpn.clone(),
            price,
            regular_price,
            currency,
            availability: f.availability.as_deref().and_then(normalize_availability),
            url: readable.url.clone(),
            category: readable.category.clone(),
            sale_starts_at: window.map(|(start, _)| start),
            sale_ends_at: window.map(|(_, end)| end),
            offer_count: None,
            observed_at: None,
            document: None,
        }),
        Err(rej) => out.rejects.push(rej),
    }
}

/// Parse a Merchant Center RSS 2.0 or Atom feed from a streaming reader.
///
/// Prices are parsed with `locale` (Merchant Center mandates `15.00 USD`, i.e. `en`);
/// `default_currency` applies when a price carries no currency. `at` is the time of the
/// fetch, which decides whether a sale with an effective date is on.
pub fn parse_merchant_feed<R: BufRead>(
    reader: R,
    locale: &NumberLocale,
    default_currency: Option<&str>,
    at: DateTime<Utc>,
) -> Result<Extracted, FeedError> {
    let mut reader = NsReader::from_reader(reader);
    let mut buf = Vec::new();
    let mut out = Extracted::default();
    let mut depth = 0usize;
    let mut seen_root = false;
    let mut item: Option<ItemState> = None;
    let mut item_count = 0usize;

    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok(v) => v,
            Err(e) => return Err(FeedError::Malformed { position: reader.error_position(), message: e.to_string() }),
        };
        match event {
            Event::DocType(_) => return Err(FeedError::DoctypeForbidden { position: pos }),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                let local = e.local_name().as_ref().to_vec();
                let is_item = is_item_element(&ns, &local);
                let field = classify(&ns, &local);
                depth += 1;
                if !seen_root {
                    seen_root = true;
                    if !matches!(local.as_slice(), b"rss" | b"feed" | b"RDF") {
                        return Err(FeedError::UnexpectedRoot {
                            found: String::from_utf8_lossy(&local).into_owned(),
                            expected: "<rss> or <feed>",
                        });
                    }
                }
                match item.as_mut() {
                    None if is_item => {
                        item_count += 1;
                        item =
                            Some(ItemState { depth, index: item_count, fields: ItemFields::default(), current: None });
                    }
                    Some(it) if depth == it.depth + 1 => {
                        if let Some(f) = field {
                            if f == Field::Link {
                                if let Some(href) = atom_link_href(&reader, e, pos)? {
                                    it.fields.set(Field::Link, href);
                                }
                            }
                            if !is_empty {
                                it.current = Some((f, String::new()));
                            } else if f != Field::Link {
                                it.fields.set(f, String::new());
                            }
                        }
                    }
                    _ => {}
                }
                if is_empty {
                    depth -= 1;
                }
            }
            Event::End(_) => {
                if let Some(it) = item.as_mut() {
                    if depth == it.depth + 1 {
                        if let Some((f, text)) = it.current.take() {
                            it.fields.set(f, text);
                        }
                    }
                }
                depth = depth.saturating_sub(1);
                if item.as_ref().is_some_and(|it| depth < it.depth) {
                    if let Some(done) = item.take() {
                        finish_item(done, locale, default_currency, at, &mut out);
                    }
                }
            }
            Event::Text(t) => {
                if let Some((_, text)) = item.as_mut().and_then(|it| it.current.as_mut()) {
                    let s = t.decode().map_err(|e| FeedError::Malformed {
                        position: pos,
                        message: format!("bad text encoding: {e}"),
                    })?;
                    text.push_str(&s);
                }
            }
            Event::CData(t) => {
                if let Some((_, text)) = item.as_mut().and_then(|it| it.current.as_mut()) {
                    let s = t.decode().map_err(|e| FeedError::Malformed {
                        position: pos,
                        message: format!("bad CDATA encoding: {e}"),
                    })?;
                    text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                // Always resolved, so a custom entity is an error even outside fields.
                let s = resolve_general_ref(&r, pos)?;
                if let Some((_, text)) = item.as_mut().and_then(|it| it.current.as_mut()) {
                    text.push_str(&s);
                }
            }
            Event::Eof => {
                if depth > 0 {
                    return Err(FeedError::Malformed {
                        position: reader.buffer_position(),
                        message: format!("unexpected end of document with {depth} unclosed element(s)"),
                    });
                }
                if !seen_root {
                    return Err(FeedError::Malformed {
                        position: reader.buffer_position(),
                        message: "document has no root element".into(),
                    });
                }
                return Ok(out);
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::record::PriceKind;
    use rust_decimal::Decimal;
    use std::str::FromStr;
    use std::time::{Duration, Instant};

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    /// The fetch time of these tests: 2026-11-25T12:00Z.
    fn now() -> DateTime<Utc> {
        parse_timestamp("2026-11-25T12:00:00Z").unwrap()
    }

    fn parse(xml: &str) -> Result<Extracted, FeedError> {
        parse_merchant_feed(xml.as_bytes(), &NumberLocale::en(), None, now())
    }

    const RSS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<rss version="2.0" xmlns:g="http://base.google.com/ns/1.0">
  <channel>
    <title>Example Store</title>
    <link>https://shop.example.com</link>
    <item>
      <g:id>TV-55</g:id>
      <title>Plain title ignored when g:title exists</title>
      <g:title>55&quot; 4K TV &amp; Stand</g:title>
      <g:link>https://shop.example.com/tv-55</g:link>
      <g:price>1,299.00 USD</g:price>
      <g:availability>in stock</g:availability>
      <g:brand><![CDATA[Acme & Co]]></g:brand>
      <g:gtin>4006381333931</g:gtin>
      <g:mpn>AC-55-4K</g:mpn>
      <g:product_type>Electronics &gt; TVs</g:product_type>
      <g:shipping>
        <g:country>US</g:country>
        <g:price>25.00 USD</g:price>
      </g:shipping>
    </item>
    <item>
      <g:id>MUG-1</g:id>
      <title>Coffee mug</title>
      <link>https://shop.example.com/mug</link>
      <g:price>15.00 USD</g:price>
      <g:availability>out of stock</g:availability>
      <g:google_product_category>Home &amp; Garden</g:google_product_category>
    </item>
  </channel>
</rss>"#;

    #[test]
    fn parses_rss_feed() {
        let ex = parse(RSS).unwrap();
        assert!(ex.rejects.is_empty(), "{:?}", ex.rejects);
        assert_eq!(ex.records.len(), 2);
        let tv = &ex.records[0];
        assert_eq!(tv.product_id, "TV-55");
        assert_eq!(tv.name.as_deref(), Some("55\" 4K TV & Stand"));
        assert_eq!(tv.price.amount, d("1299"));
        assert_eq!(tv.price.kind, PriceKind::Exact);
        assert_eq!(tv.currency, "USD");
        assert_eq!(tv.availability.as_deref(), Some("in_stock"));
        assert_eq!(tv.brand.as_deref(), Some("Acme & Co"));
        assert_eq!(tv.gtin.as_deref(), Some("4006381333931"));
        assert_eq!(tv.mpn.as_deref(), Some("AC-55-4K"));
        assert_eq!(tv.url.as_deref(), Some("https://shop.example.com/tv-55"));
        assert_eq!(tv.category.as_deref(), Some("Electronics > TVs"));
        let mug = &ex.records[1];
        assert_eq!(mug.name.as_deref(), Some("Coffee mug"));
        assert_eq!(mug.url.as_deref(), Some("https://shop.example.com/mug"));
        assert_eq!(mug.price.amount, d("15"));
        assert_eq!(mug.availability.as_deref(), Some("out_of_stock"));
        assert_eq!(mug.category.as_deref(), Some("Home & Garden"));
    }

    #[test]
    fn namespace_resolved_by_uri_not_prefix() {
        let xml = r#"<rss xmlns:gm="http://base.google.com/ns/1.0" xmlns:g="urn:not-google">
<channel><item>
  <g:id>WRONG</g:id><g:price>1.00 USD</g:price>
  <gm:id>RIGHT</gm:id><gm:price>2.50 EUR</gm:price>
</item></channel></rss>"#;
        let ex = parse(xml).unwrap();
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].product_id, "RIGHT");
        assert_eq!(ex.records[0].price.amount, d("2.5"));
        assert_eq!(ex.records[0].currency, "EUR");
    }

    #[test]
    fn parses_atom_feed() {
        let xml = r#"<?xml version="1.0"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:g="http://base.google.com/ns/1.0">
  <title>Store</title>
  <link rel="self" href="https://shop.example.com/feed.atom"/>
  <entry>
    <id>tag:shop.example.com,2026:1</id>
    <title>Trail shoe</title>
    <link rel="self" href="https://shop.example.com/api/1"/>
    <link href="https://shop.example.com/shoe"/>
    <g:id>SHOE-42</g:id>
    <g:price>89.90 EUR</g:price>
    <g:availability>preorder</g:availability>
    <g:brand>Runr</g:brand>
  </entry>
  <entry>
    <title>Backordered sock</title>
    <g:id>SOCK</g:id>
    <g:price>4.99 EUR</g:price>
    <g:availability>backorder</g:availability>
  </entry>
</feed>"#;
        let ex = parse(xml).unwrap();
        assert_eq!(ex.records.len(), 2, "{:?}", ex.rejects);
        let shoe = &ex.records[0];
        assert_eq!(shoe.product_id, "SHOE-42");
        assert_eq!(shoe.name.as_deref(), Some("Trail shoe"));
        assert_eq!(shoe.url.as_deref(), Some("https://shop.example.com/shoe"));
        assert_eq!(shoe.price.amount, d("89.9"));
        assert_eq!(shoe.currency, "EUR");
        assert_eq!(shoe.availability.as_deref(), Some("preorder"));
        assert_eq!(shoe.brand.as_deref(), Some("Runr"));
        assert_eq!(ex.records[1].availability.as_deref(), Some("backorder"));
    }

    #[test]
    fn sale_price_wins_when_valid() {
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>A</g:id><g:price>20.00 USD</g:price><g:sale_price>15.00 USD</g:sale_price></item>
<item><g:id>B</g:id><g:price>20.00 USD</g:price><g:sale_price>oops</g:sale_price></item>
<item><g:id>C</g:id><g:sale_price>9.00 USD</g:sale_price><g:price>bad</g:price></item>
</channel></rss>"#;
        let ex = parse(xml).unwrap();
        assert_eq!(ex.records.len(), 3);
        assert_eq!(ex.records[0].price.amount, d("15"));
        assert_eq!(ex.records[1].price.amount, d("20"));
        assert_eq!(ex.records[2].price.amount, d("9"));
        assert!(ex.rejects.is_empty());
    }

    #[test]
    fn a_sale_outside_its_window_is_not_the_price() {
        // Fetched 2026-11-25T12:00Z. A: the sale is on; B: it ended on the 24th; C: it
        // starts on the 26th; D: the window cannot be read, so the regular price stands;
        // E: only a sale price, and its sale is over.
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>A</g:id><g:price>20.00 USD</g:price><g:sale_price>15.00 USD</g:sale_price>
  <g:sale_price_effective_date>2026-11-20T00:00-08:00/2026-11-30T23:59-08:00</g:sale_price_effective_date></item>
<item><g:id>B</g:id><g:price>20.00 USD</g:price><g:sale_price>15.00 USD</g:sale_price>
  <g:sale_price_effective_date>2026-11-20T00:00Z/2026-11-24T00:00Z</g:sale_price_effective_date></item>
<item><g:id>C</g:id><g:price>20.00 USD</g:price><g:sale_price>15.00 USD</g:sale_price>
  <g:sale_price_effective_date>2026-11-26/2026-11-30</g:sale_price_effective_date></item>
<item><g:id>D</g:id><g:price>20.00 USD</g:price><g:sale_price>15.00 USD</g:sale_price>
  <g:sale_price_effective_date>next week</g:sale_price_effective_date></item>
<item><g:id>E</g:id><g:sale_price>15.00 USD</g:sale_price>
  <g:sale_price_effective_date>2026-11-01/2026-11-02</g:sale_price_effective_date></item>
</channel></rss>"#;
        let ex = parse(xml).unwrap();
        let got: Vec<_> = ex.records.iter().map(|r| (r.product_id.as_str(), r.price.amount, r.regular_price)).collect();
        assert_eq!(
            got,
            [("A", d("15"), Some(d("20"))), ("B", d("20"), None), ("C", d("20"), None), ("D", d("20"), None)]
        );
        let window = |r: &ScrapedRecord| (r.sale_starts_at.unwrap().to_rfc3339(), r.sale_ends_at.unwrap().to_rfc3339());
        assert_eq!(window(&ex.records[0]), ("2026-11-20T08:00:00+00:00".into(), "2026-12-01T07:59:00+00:00".into()));
        assert_eq!(ex.records[3].sale_starts_at, None);
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!((ex.rejects[0].locator.as_str(), ex.rejects[0].reason), ("item 5", RejectReason::MissingField));
        assert!(ex.rejects[0].detail.contains("its sale is not on"), "{}", ex.rejects[0].detail);
        assert_eq!(ex.rejects[0].readable.product_id.as_deref(), Some("E"), "the reject names its product");
    }

    #[test]
    fn bad_items_are_rejected_and_rest_continue() {
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>OK1</g:id><g:price>5.00 USD</g:price></item>
<item><g:id>NEG</g:id><g:price>-5.00 USD</g:price></item>
<item><g:id>ZERO</g:id><g:price>0.00 USD</g:price></item>
<item><g:id>EMPTY</g:id><g:price></g:price></item>
<item><g:id>NOPRICE</g:id></item>
<item><g:price>5.00 USD</g:price></item>
<item><g:id>CUR</g:id><g:price>5.00 XYZ</g:price></item>
<item><g:id>OK2</g:id><g:price>7.25 USD</g:price></item>
</channel></rss>"#;
        let ex = parse(xml).unwrap();
        let ids: Vec<_> = ex.records.iter().map(|r| r.product_id.as_str()).collect();
        assert_eq!(ids, ["OK1", "OK2"]);
        let rej: Vec<_> = ex.rejects.iter().map(|r| (r.locator.as_str(), r.reason.code())).collect();
        assert_eq!(
            rej,
            [
                ("item 2", "NEGATIVE_PRICE"),
                ("item 3", "ZERO_PRICE"),
                ("item 4", "EMPTY_PRICE"),
                ("item 5", "MISSING_FIELD"),
                ("item 6", "MISSING_FIELD"),
                ("item 7", "UNKNOWN_CURRENCY"),
            ]
        );
    }

    #[test]
    fn default_currency_and_locale_apply() {
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel>
<item><g:id>X</g:id><g:price>1.299,50</g:price></item></channel></rss>"#;
        let ex = parse_merchant_feed(xml.as_bytes(), &NumberLocale::de(), Some("EUR"), now()).unwrap();
        assert_eq!(ex.records[0].price.amount, d("1299.5"));
        assert_eq!(ex.records[0].currency, "EUR");
    }

    #[test]
    fn billion_laughs_is_rejected_quickly() {
        let mut xml = String::from("<?xml version=\"1.0\"?>\n<!DOCTYPE lolz [\n <!ENTITY lol \"lol\">\n");
        for i in 1..10 {
            let prev = if i == 1 { "lol".to_string() } else { format!("lol{}", i - 1) };
            let refs = format!("&{prev};").repeat(10);
            xml.push_str(&format!(" <!ENTITY lol{i} \"{refs}\">\n"));
        }
        xml.push_str("]>\n<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel><item><g:id>&lol9;</g:id></item></channel></rss>");
        let start = Instant::now();
        let err = parse(&xml).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(matches!(err, FeedError::DoctypeForbidden { .. }), "{err:?}");
    }

    #[test]
    fn custom_entity_without_doctype_is_an_error() {
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>&lol9;</g:id><g:price>1 USD</g:price></item></channel></rss>"#;
        match parse(xml).unwrap_err() {
            FeedError::UnknownEntity { name, .. } => assert_eq!(name, "lol9"),
            other => panic!("unexpected {other:?}"),
        }
        // Also outside collected fields.
        let xml = r#"<rss><channel><description>&xxe;</description></channel></rss>"#;
        assert!(matches!(parse(xml).unwrap_err(), FeedError::UnknownEntity { .. }));
        // Character references are fine.
        let xml = r#"<rss xmlns:g="http://base.google.com/ns/1.0"><channel><item><g:id>A&#233;&#x42;</g:id><g:price>1 USD</g:price></item></channel></rss>"#;
        assert_eq!(parse(xml).unwrap().records[0].product_id, "AéB");
    }

    #[test]
    fn malformed_xml_names_position() {
        let xml =
            "<rss xmlns:g=\"http://base.google.com/ns/1.0\"><channel><item><g:id>A</g:title></item></channel></rss>";
        let err = parse(xml).unwrap_err();
        match &err {
            FeedError::Malformed { position, message } => {
                assert!(*position > 0, "{err}");
                assert!(!message.is_empty());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(err.to_string().contains("at byte"), "{err}");

        let truncated = "<rss><channel><item><g:id>A";
        assert!(matches!(parse(truncated).unwrap_err(), FeedError::Malformed { .. }));
        assert!(matches!(parse("").unwrap_err(), FeedError::Malformed { .. }));
        assert!(matches!(parse("<html><body/></html>").unwrap_err(), FeedError::UnexpectedRoot { .. }));
    }

    #[test]
    fn garbage_never_panics() {
        for s in ["<", "<<<>>>", "<rss><channel><item></rss>", "&", "<rss>&amp</rss>", "\u{0}", "<rss a='&'/>"] {
            let _ = parse(s);
        }
    }
}
