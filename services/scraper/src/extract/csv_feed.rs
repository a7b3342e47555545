//! CSV product feeds.
//!
//! One bad row costs one row. A UTF-8 feed (a leading BOM is stripped) is decoded record
//! by record, so a row with invalid UTF-8 is a `MALFORMED_RECORD` reject of its own;
//! Latin-1 is decoded as windows-1252 (its superset, as browsers do), and a UTF-8 BOM
//! still switches to UTF-8. A row whose field count differs from the header's, and a
//! final record cut off inside a quoted field, are `MALFORMED_RECORD` rejects too, and
//! the rows after them are read as usual.
//! Columns are looked up by header name (exact, then case-insensitive); with
//! `has_headers = false` the column names must be 0-based indexes (`"0"`, `"1"`, …).
//! A missing mapped column gives a single `MALFORMED_DOCUMENT` reject naming it.
//! Row locators are `"row N"` where N is the line on which the record starts (the
//! header is row 1), i.e. the line number a person sees in an editor. Every reject keeps
//! the mapped fields that could be read.

use crate::extract::price::{parse_price_with_currency_field, NumberLocale};
use crate::extract::record::{
    non_empty, normalize_availability, parse_timestamp, Extracted, RawRecord, RecordReject, RejectReason, ScrapedRecord,
};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

/// Character encoding of a CSV feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CsvEncoding {
    Utf8,
    /// ISO-8859-1, decoded as windows-1252.
    Latin1,
}

/// How to read a CSV feed: the dialect, and the column holding each field. This is the
/// `csv = { ... }` table of a `csv_feed` source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvMapping {
    /// One ASCII character, `,` unless set.
    #[serde(default = "default_delimiter", with = "ascii_char")]
    pub delimiter: u8,
    /// One ASCII character, `"` unless set.
    #[serde(default = "default_quote", with = "ascii_char")]
    pub quote: u8,
    #[serde(default = "default_has_headers")]
    pub has_headers: bool,
    #[serde(default = "default_encoding")]
    pub encoding: CsvEncoding,
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
    /// The column of the source's own observation time (RFC 3339); the fetch time when
    /// unmapped or blank.
    #[serde(default)]
    pub observed_at: Option<String>,
}

const fn default_delimiter() -> u8 {
    b','
}
const fn default_quote() -> u8 {
    b'"'
}
const fn default_has_headers() -> bool {
    true
}
const fn default_encoding() -> CsvEncoding {
    CsvEncoding::Utf8
}

/// A single ASCII character in configuration, a byte in code.
mod ascii_char {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &u8, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_char(char::from(*b))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
        let c = char::deserialize(d)?;
        u8::try_from(c)
            .ok()
            .filter(u8::is_ascii)
            .ok_or_else(|| D::Error::custom(format!("`{c}` must be one ASCII character")))
    }
}

impl CsvMapping {
    /// Comma-delimited, `"`-quoted, headers, UTF-8, only the required columns mapped.
    pub fn new(product_id: &str, price: &str) -> Self {
        CsvMapping {
            delimiter: b',',
            quote: b'"',
            has_headers: true,
            encoding: CsvEncoding::Utf8,
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

const BOM: &[u8] = b"\xEF\xBB\xBF";

/// The feed's bytes as UTF-8 text for the CSV reader: UTF-8 as it is (BOM stripped; each
/// record is checked on its own later), Latin-1 decoded.
fn utf8_body(bytes: &[u8], enc: CsvEncoding) -> Cow<'_, [u8]> {
    match bytes.strip_prefix(BOM) {
        Some(body) => Cow::Borrowed(body),
        None if enc == CsvEncoding::Latin1 => {
            Cow::Owned(encoding_rs::WINDOWS_1252.decode(bytes).0.into_owned().into_bytes())
        }
        None => Cow::Borrowed(bytes),
    }
}

/// Whether the document ends inside a quoted field, following the reader's rules: a
/// quote opens a field only at its start, and a doubled quote inside is a quote.
fn ends_inside_quotes(body: &[u8], quote: u8, delimiter: u8) -> bool {
    #[derive(PartialEq)]
    enum At {
        FieldStart,
        Unquoted,
        Quoted,
        QuoteInQuoted,
    }
    let mut at = At::FieldStart;
    for &b in body {
        at = match at {
            At::FieldStart if b == quote => At::Quoted,
            // The reader ends a record at `\n`, `\r` or both.
            At::FieldStart | At::Unquoted | At::QuoteInQuoted if b == delimiter || b == b'\n' || b == b'\r' => {
                At::FieldStart
            }
            At::FieldStart | At::Unquoted => At::Unquoted,
            At::Quoted if b == quote => At::QuoteInQuoted,
            At::Quoted => At::Quoted,
            At::QuoteInQuoted if b == quote => At::Quoted,
            At::QuoteInQuoted => At::Unquoted,
        };
    }
    at == At::Quoted
}

#[derive(Debug, Default)]
struct Columns {
    product_id: usize,
    price: usize,
    name: Option<usize>,
    currency: Option<usize>,
    brand: Option<usize>,
    gtin: Option<usize>,
    mpn: Option<usize>,
    availability: Option<usize>,
    url: Option<usize>,
    category: Option<usize>,
    observed_at: Option<usize>,
}

fn resolve_columns(m: &CsvMapping, headers: Option<&csv::StringRecord>) -> Result<Columns, String> {
    let mut missing: Vec<String> = Vec::new();
    let mut find = |name: &str| -> Option<usize> {
        let found = match headers {
            Some(h) => h
                .iter()
                .position(|c| c.trim() == name.trim())
                .or_else(|| h.iter().position(|c| c.trim().eq_ignore_ascii_case(name.trim()))),
            None => name.trim().parse::<usize>().ok(),
        };
        if found.is_none() {
            missing.push(name.to_string());
        }
        found
    };
    let product_id = find(&m.product_id);
    let price = find(&m.price);
    let mut opt = |c: &Option<String>| c.as_deref().and_then(&mut find);
    let cols = Columns {
        product_id: product_id.unwrap_or(0),
        price: price.unwrap_or(0),
        name: opt(&m.name),
        currency: opt(&m.currency),
        brand: opt(&m.brand),
        gtin: opt(&m.gtin),
        mpn: opt(&m.mpn),
        availability: opt(&m.availability),
        url: opt(&m.url),
        category: opt(&m.category),
        observed_at: opt(&m.observed_at),
    };
    if missing.is_empty() {
        Ok(cols)
    } else {
        let what = if headers.is_some() { "column" } else { "column index" };
        Err(format!(
            "missing mapped {what}(s): {}",
            missing.iter().map(|c| format!("{c:?}")).collect::<Vec<_>>().join(", ")
        ))
    }
}

/// The mapped fields of a row that are valid UTF-8, as text.
fn readable(fields: &[Option<&str>], cols: &Columns) -> RawRecord {
    let cell = |i: usize| fields.get(i).copied().flatten().and_then(non_empty);
    let opt = |i: Option<usize>| i.and_then(cell);
    RawRecord {
        product_id: cell(cols.product_id),
        name: opt(cols.name),
        brand: opt(cols.brand),
        gtin: opt(cols.gtin),
        mpn: opt(cols.mpn),
        category: opt(cols.category),
        price: cell(cols.price),
        currency: opt(cols.currency),
        availability: opt(cols.availability),
        url: opt(cols.url),
        observed_at: opt(cols.observed_at),
        ..RawRecord::default()
    }
}

/// Why a row cannot be read as a record at all, if it cannot. `cut_lines` is set on
/// the final record when the file ends inside one of its quoted fields: how many lines
/// that record swallowed. Empty fields after the header's last column (a trailing
/// delimiter) are not a shift.
fn malformed(
    record: &csv::ByteRecord,
    fields: &[Option<&str>],
    width: Option<usize>,
    cut_lines: Option<usize>,
) -> Option<String> {
    if let Some((column, bytes)) = record.iter().enumerate().find(|(i, _)| fields[*i].is_none()) {
        let at = std::str::from_utf8(bytes).err().map_or(0, |e| e.valid_up_to());
        return Some(format!("field {} is not valid UTF-8 (at byte {})", column + 1, at + 1));
    }
    if let Some(lines) = cut_lines {
        return Some(format!(
            "the file ends inside a quoted field of this row, which runs to the end of the file ({lines} lines)"
        ));
    }
    let width = width?;
    let extra_empty = record.len() > width && fields[width..].iter().all(|f| f.is_some_and(|t| t.trim().is_empty()));
    (record.len() != width && !extra_empty).then(|| format!("row has {} fields, the header has {width}", record.len()))
}

/// Parse a CSV product feed into records and per-row rejects.
pub fn parse_csv_feed(
    bytes: &[u8],
    mapping: &CsvMapping,
    locale: &NumberLocale,
    default_currency: Option<&str>,
) -> Extracted {
    let mut out = Extracted::default();
    let body = utf8_body(bytes, mapping.encoding);
    let truncated = ends_inside_quotes(&body, mapping.quote, mapping.delimiter);
    let total_lines = body.split(|b| *b == b'\n').filter(|l| !l.is_empty()).count();
    let mut rdr = csv::ReaderBuilder::new()
        .delimiter(mapping.delimiter)
        .quote(mapping.quote)
        .has_headers(false)
        .flexible(true)
        .from_reader(&body[..]);
    let mut records = rdr.byte_records().peekable();
    let headers = if mapping.has_headers {
        let header = match records.next() {
            Some(Ok(h)) => h,
            Some(Err(e)) => {
                out.rejects.push(RecordReject::new(
                    "row 1",
                    RejectReason::MalformedDocument,
                    format!("unreadable header: {e}"),
                ));
                return out;
            }
            None => {
                out.rejects.push(RecordReject::new(
                    "row 1",
                    RejectReason::MalformedDocument,
                    "document has no header row",
                ));
                return out;
            }
        };
        match header.iter().map(std::str::from_utf8).collect::<Result<csv::StringRecord, _>>() {
            Ok(h) => Some(h),
            Err(e) => {
                let detail = format!("the header is not valid UTF-8 (at byte {})", e.valid_up_to() + 1);
                out.rejects.push(RecordReject::new("row 1", RejectReason::MalformedDocument, detail));
                return out;
            }
        }
    } else {
        None
    };
    let cols = match resolve_columns(mapping, headers.as_ref()) {
        Ok(c) => c,
        Err(detail) => {
            out.rejects.push(RecordReject::new("row 1", RejectReason::MalformedDocument, detail));
            return out;
        }
    };
    let width = headers.as_ref().map(csv::StringRecord::len);
    let mut fallback_row: u64 = if mapping.has_headers { 1 } else { 0 };
    while let Some(rec) = records.next() {
        fallback_row += 1;
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                let row = e.position().map(|p| p.line()).unwrap_or(fallback_row);
                out.rejects.push(RecordReject::new(format!("row {row}"), RejectReason::MalformedRecord, e.to_string()));
                continue;
            }
        };
        let row = rec.position().map(|p| p.line()).unwrap_or(fallback_row);
        let locator = format!("row {row}");
        let fields: Vec<Option<&str>> = rec.iter().map(|f| std::str::from_utf8(f).ok()).collect();
        let raw = readable(&fields, &cols);
        let cut_lines = (truncated && records.peek().is_none())
            .then(|| rec.position().map_or(0, |p| p.line()))
            .map(|start| total_lines.saturating_sub(usize::try_from(start).unwrap_or(0)) + 1);
        if let Some(detail) = malformed(&rec, &fields, width, cut_lines) {
            out.rejects.push(RecordReject::new(locator, RejectReason::MalformedRecord, detail).with_readable(raw));
            continue;
        }
        let Some(product_id) = raw.product_id.clone() else {
            out.rejects.push(
                RecordReject::new(locator, RejectReason::MissingField, format!("empty {:?}", mapping.product_id))
                    .with_readable(raw),
            );
            continue;
        };
        let observed_at = match raw.observed_at.as_deref().map(|t| (t, parse_timestamp(t))) {
            None => None,
            Some((_, Some(at))) => Some(at),
            Some((text, None)) => {
                let detail = format!("observation time {text:?} is not RFC 3339");
                out.rejects.push(RecordReject::new(locator, RejectReason::BadTimestamp, detail).with_readable(raw));
                continue;
            }
        };
        let price_text = fields.get(cols.price).copied().flatten().unwrap_or("");
        match parse_price_with_currency_field(price_text, raw.currency.as_deref(), locale, default_currency) {
            Ok((price, currency)) => out.records.push(ScrapedRecord {
                regular_price: None,
                product_id,
                name: raw.name,
                brand: raw.brand,
                gtin: raw.gtin,
                mpn: raw.mpn,
                price,
                currency,
                availability: raw.availability.as_deref().and_then(normalize_availability),
                url: raw.url,
                category: raw.category,
                sale_starts_at: None,
                sale_ends_at: None,
                offer_count: None,
                observed_at,
                document: None,
            }),
            Err(e) => out.rejects.push(RecordReject::new(locator, e.reason, e.message).with_readable(raw)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn full_mapping() -> CsvMapping {
        CsvMapping {
            name: Some("name".into()),
            currency: Some("currency".into()),
            brand: Some("brand".into()),
            gtin: Some("gtin".into()),
            availability: Some("availability".into()),
            url: Some("url".into()),
            ..CsvMapping::new("id", "price")
        }
    }

    #[test]
    fn utf8_with_bom_and_quoted_fields() {
        let csv = "\u{feff}id,name,price,currency,brand,gtin,availability,url\n\
                   A1,\"Chair, oak\",\"1,299.00\",USD,\"Wood \"\"Co\"\"\",4006381333931,in stock,https://s.example/a1\n\
                   A2,\"Lamp\nwith shade\",15,usd,,,out of stock,\n\
                   A3,Mug,$3.50,,,,preorder,\n";
        let ex = parse_csv_feed(csv.as_bytes(), &full_mapping(), &NumberLocale::en(), Some("USD"));
        assert!(ex.rejects.is_empty(), "{:?}", ex.rejects);
        assert_eq!(ex.records.len(), 3);
        let a1 = &ex.records[0];
        assert_eq!(a1.product_id, "A1", "BOM must not leak into the first header");
        assert_eq!(a1.name.as_deref(), Some("Chair, oak"));
        assert_eq!(a1.price.amount, d("1299"));
        assert_eq!(a1.currency, "USD");
        assert_eq!(a1.brand.as_deref(), Some("Wood \"Co\""));
        assert_eq!(a1.gtin.as_deref(), Some("4006381333931"));
        assert_eq!(a1.availability.as_deref(), Some("in_stock"));
        assert_eq!(a1.url.as_deref(), Some("https://s.example/a1"));
        let a2 = &ex.records[1];
        assert_eq!(a2.name.as_deref(), Some("Lamp\nwith shade"));
        assert_eq!(a2.brand, None);
        assert_eq!(a2.url, None);
        assert_eq!(ex.records[2].price.amount, d("3.5"));
        assert_eq!(ex.records[2].availability.as_deref(), Some("preorder"));
    }

    #[test]
    fn latin1_decoding() {
        let bytes = b"id;name;price\nC1;Caf\xe9 cr\xe8me;2,50 \x80\n";
        let m = CsvMapping {
            delimiter: b';',
            encoding: CsvEncoding::Latin1,
            name: Some("name".into()),
            ..CsvMapping::new("id", "price")
        };
        let ex = parse_csv_feed(bytes, &m, &NumberLocale::de(), None);
        assert!(ex.rejects.is_empty(), "{:?}", ex.rejects);
        assert_eq!(ex.records[0].name.as_deref(), Some("Café crème"));
        assert_eq!(ex.records[0].price.amount, d("2.5"));
        assert_eq!(ex.records[0].currency, "EUR", "0x80 is € in windows-1252");
        // The same bytes as UTF-8: that row is rejected, keeping what is readable.
        let m8 = CsvMapping { encoding: CsvEncoding::Utf8, ..m };
        let ex = parse_csv_feed(bytes, &m8, &NumberLocale::de(), None);
        assert_eq!(ex.records.len(), 0);
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!(ex.rejects[0].reason, RejectReason::MalformedRecord);
        assert_eq!(ex.rejects[0].detail, "field 2 is not valid UTF-8 (at byte 4)");
        assert_eq!(ex.rejects[0].readable.product_id.as_deref(), Some("C1"));
        assert_eq!(ex.rejects[0].readable.name, None);
    }

    #[test]
    fn semicolon_delimiter_with_german_prices_and_bad_rows() {
        let csv = "Artikel;Preis;Währung\n\
                   X1;1.299,00;EUR\n\
                   X2;abc;EUR\n\
                   X3;-4,00;EUR\n\
                   ;5,00;EUR\n\
                   X5;\"1.000.000,5\";EUR\n\
                   X6;0;EUR\n\
                   X7;7,00;XYZ\n\
                   X8;;EUR\n\
                   X9\n\
                   X10;12,5;\n";
        let m =
            CsvMapping { delimiter: b';', currency: Some("Währung".into()), ..CsvMapping::new("artikel", "Preis") };
        let ex = parse_csv_feed(csv.as_bytes(), &m, &NumberLocale::de(), Some("EUR"));
        let got: Vec<_> = ex.records.iter().map(|r| (r.product_id.as_str(), r.price.amount)).collect();
        assert_eq!(got, [("X1", d("1299")), ("X5", d("1000000.5")), ("X10", d("12.5"))]);
        let rej: Vec<_> = ex.rejects.iter().map(|r| (r.locator.as_str(), r.reason.code())).collect();
        assert_eq!(
            rej,
            [
                ("row 3", "UNPARSEABLE_PRICE"),
                ("row 4", "NEGATIVE_PRICE"),
                ("row 5", "MISSING_FIELD"),
                ("row 7", "ZERO_PRICE"),
                ("row 8", "UNKNOWN_CURRENCY"),
                ("row 9", "EMPTY_PRICE"),
                ("row 10", "MALFORMED_RECORD"),
            ]
        );
        assert_eq!(ex.rejects[6].detail, "row has 1 fields, the header has 3");
        assert_eq!(ex.rejects[0].readable.product_id.as_deref(), Some("X2"), "a reject names its product");
        assert_eq!(ex.rejects[0].readable.price.as_deref(), Some("abc"));
    }

    #[test]
    fn one_bad_row_of_each_kind_costs_only_itself() {
        // Row 3: invalid UTF-8; row 4: a shifted row (an unquoted comma in the name); row
        // 6: the file ends inside its quoted name. Rows 2 and 5 are good.
        let mut csv = b"id,name,price,currency\nA1,Kettle,40.00,EUR\n".to_vec();
        csv.extend_from_slice(b"A2,Toa\xffster,25.50,EUR\n");
        csv.extend_from_slice(b"A3,Blender, large,30.00,EUR\n");
        csv.extend_from_slice(b"A4,\"Mug 5\"\" tall\",3.50,EUR\n");
        csv.extend_from_slice(b"A5,\"Lamp with sha");
        let m = CsvMapping {
            name: Some("name".into()),
            currency: Some("currency".into()),
            ..CsvMapping::new("id", "price")
        };
        let ex = parse_csv_feed(&csv, &m, &NumberLocale::en(), None);
        let got: Vec<_> = ex.records.iter().map(|r| (r.product_id.as_str(), r.name.as_deref())).collect();
        assert_eq!(got, [("A1", Some("Kettle")), ("A4", Some("Mug 5\" tall"))]);
        let rejects: Vec<_> = ex
            .rejects
            .iter()
            .map(|r| (r.locator.as_str(), r.reason.code(), r.detail.as_str(), r.readable.product_id.as_deref()))
            .collect();
        assert_eq!(
            rejects,
            [
                ("row 3", "MALFORMED_RECORD", "field 2 is not valid UTF-8 (at byte 4)", Some("A2")),
                ("row 4", "MALFORMED_RECORD", "row has 5 fields, the header has 4", Some("A3")),
                (
                    "row 6",
                    "MALFORMED_RECORD",
                    "the file ends inside a quoted field of this row, which runs to the end of the file (1 lines)",
                    Some("A5")
                ),
            ]
        );
        assert_eq!(ex.rejects[0].readable.currency.as_deref(), Some("EUR"));
        assert!(!ends_inside_quotes(b"a,5\" screen,\"ok \"\"x\"\"\"\n", b'"', b','), "a quote mid-field is literal");
        assert!(!ends_inside_quotes(b"h\r\"a,\"\r", b'"', b','), "CR ends a record");
        assert!(ends_inside_quotes(b"h\r\"abc", b'"', b','));
        // A trailing delimiter is not a shifted row.
        let trailing = "id,name,price,currency\nA1,Kettle,40.00,EUR,\nA2,Mug,41.00,EUR,,\n";
        let ex = parse_csv_feed(trailing.as_bytes(), &m, &NumberLocale::en(), None);
        assert_eq!((ex.records.len(), ex.rejects.len()), (2, 0), "{:?}", ex.rejects);
    }

    #[test]
    fn row_numbers_follow_lines_with_multiline_fields() {
        let csv = "id,name,price\nA,\"two\nlines\",1.00\nB,x,bad\n";
        let ex = parse_csv_feed(csv.as_bytes(), &CsvMapping::new("id", "price"), &NumberLocale::en(), Some("USD"));
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.rejects[0].locator, "row 4");
    }

    #[test]
    fn missing_column_is_single_malformed_reject() {
        let csv = "id,name,cost\nA,x,1\nB,y,2\n";
        let m = CsvMapping { brand: Some("brand".into()), ..CsvMapping::new("id", "price") };
        let ex = parse_csv_feed(csv.as_bytes(), &m, &NumberLocale::en(), Some("USD"));
        assert!(ex.records.is_empty());
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!(ex.rejects[0].reason, RejectReason::MalformedDocument);
        assert!(ex.rejects[0].detail.contains("\"price\""), "{}", ex.rejects[0].detail);
        assert!(ex.rejects[0].detail.contains("\"brand\""), "{}", ex.rejects[0].detail);
        let ex = parse_csv_feed(b"", &m, &NumberLocale::en(), Some("USD"));
        assert_eq!(ex.rejects[0].reason, RejectReason::MalformedDocument);
    }

    #[test]
    fn headerless_uses_indexes_and_custom_quote() {
        let csv = "P1|'a|b'|9.99\nP2|c|oops\n";
        let m = CsvMapping {
            delimiter: b'|',
            quote: b'\'',
            has_headers: false,
            name: Some("1".into()),
            ..CsvMapping::new("0", "2")
        };
        let ex = parse_csv_feed(csv.as_bytes(), &m, &NumberLocale::en(), Some("GBP"));
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].name.as_deref(), Some("a|b"));
        assert_eq!(ex.records[0].currency, "GBP");
        assert_eq!(ex.rejects[0].locator, "row 2");
        let bad = CsvMapping { has_headers: false, ..CsvMapping::new("id", "2") };
        let ex = parse_csv_feed(csv.as_bytes(), &bad, &NumberLocale::en(), Some("GBP"));
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!(ex.rejects[0].reason, RejectReason::MalformedDocument);
    }
}
