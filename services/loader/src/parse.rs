//! Reading raw files into validated rows and rejects. Pure: bytes in, rows out.
//!
//! A row that cannot be used becomes a [`RejectedRow`] with a reason and its original
//! text; only a file that cannot be read at all (wrong header) fails the batch.

use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
use ppmt_domain::record::{clip, FxRateRecord, RawRecord, FX_CSV_HEADER, PRICE_CSV_HEADER, PRICE_CSV_REQUIRED};
use ppmt_domain::{RejectReason, RowReject};
use ppmt_platform::ports::{RejectedRow, StagedRow};

/// What one file yielded.
#[derive(Debug, Default, PartialEq)]
pub struct ParsedFile {
    pub rows: Vec<StagedRow>,
    pub fx_rates: Vec<FxRateRecord>,
    pub rejects: Vec<RejectedRow>,
}

impl ParsedFile {
    /// Records read from the file: every one is a row, a rate or a reject.
    pub fn records(&self) -> u64 {
        (self.rows.len() + self.fx_rates.len() + self.rejects.len()) as u64
    }
}

/// A file that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct FileError {
    pub key: String,
    pub reason: String,
}

/// Parses one verified file of the manifest.
pub fn parse_file(file: &ManifestFile, content: &[u8]) -> Result<ParsedFile, FileError> {
    match (file.kind, file.format) {
        (FileKind::Prices, FileFormat::Csv) => parse_price_csv(file, content),
        (FileKind::Prices, FileFormat::Json) => Ok(parse_price_json_lines(file, content)),
        (FileKind::FxRates, FileFormat::Csv) => parse_fx_csv(file, content),
        (FileKind::FxRates, FileFormat::Json) => {
            Err(FileError { key: file.key.clone(), reason: "fx_rates files are CSV; JSON is not supported".into() })
        }
        (FileKind::Original, _) => {
            Err(FileError { key: file.key.clone(), reason: "an original document is kept, not loaded".into() })
        }
    }
}

/// Sizes of `rejected_rows.detail` and `rejected_rows.raw_row`: a reject always fits.
const MAX_DETAIL_BYTES: usize = 1024;
const MAX_RAW_BYTES: usize = 65_535;

/// A reject as the warehouse can store it: cut to its column, and a NUL (which no text
/// column can hold) shown as U+2400 `␀`.
fn reject(file: &ManifestFile, line_no: u64, why: RowReject, raw: String) -> RejectedRow {
    let storable = |text: &str, max| clip(&text.replace('\0', "\u{2400}"), max);
    RejectedRow {
        file_key: file.key.clone(),
        source_id: file.source_id.clone(),
        line_no,
        reason: why.reason,
        detail: storable(&why.detail, MAX_DETAIL_BYTES),
        raw: storable(&raw, MAX_RAW_BYTES),
    }
}

/// Reads a CSV whose header names the columns of `known` (in any order), with at least
/// those of `required`, handing each record's fields in `known` order (a column the file
/// lacks is empty), or the reason the record is unreadable, to `each` with its line
/// number and raw text.
fn read_csv(
    file: &ManifestFile,
    content: &[u8],
    known: &[&str],
    required: &[&str],
    mut each: impl FnMut(u64, Result<Vec<String>, RowReject>, String),
) -> Result<(), FileError> {
    let content = content.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(content);
    // An empty file (not even a header) is a source with nothing today: 0 records.
    if content.iter().all(u8::is_ascii_whitespace) {
        return Ok(());
    }
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(content);
    let header = reader
        .headers()
        .map_err(|e| FileError { key: file.key.clone(), reason: format!("unreadable CSV header: {e}") })?
        .clone();
    let names: Vec<&str> = header.iter().map(str::trim).collect();
    let unknown: Vec<&str> = names.iter().copied().filter(|n| !known.contains(n)).collect();
    let missing: Vec<&str> = required.iter().copied().filter(|r| !names.contains(r)).collect();
    if !unknown.is_empty() || !missing.is_empty() || names.len() != header.len() {
        return Err(FileError {
            key: file.key.clone(),
            reason: format!(
                "CSV header is `{}`: unknown columns [{}], missing columns [{}]; expected the columns of `{}`",
                names.join(","),
                unknown.join(","),
                missing.join(","),
                known.join(",")
            ),
        });
    }
    // For each known column, its position in the file.
    let positions: Vec<Option<usize>> = known.iter().map(|k| names.iter().position(|n| n == k)).collect();
    let mut record = csv::ByteRecord::new();
    loop {
        let line_no = reader.position().line() + 1;
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let line_no = record.position().map(|p| p.line()).unwrap_or(line_no);
                // The row exactly as it is in the file, quotes and all.
                let start = record.position().map(|p| p.byte() as usize).unwrap_or(0);
                let end = (reader.position().byte() as usize).min(content.len());
                let raw = String::from_utf8_lossy(content.get(start..end).unwrap_or_default()).trim_end().to_owned();
                let fields = if record.len() != names.len() {
                    Err(RowReject::new(
                        RejectReason::MalformedRecord,
                        format!("expected {} fields, found {}", names.len(), record.len()),
                    ))
                } else {
                    positions
                        .iter()
                        .map(|p| p.map_or(Ok(String::new()), |i| String::from_utf8(record[i].to_vec())))
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(|_| RowReject::new(RejectReason::MalformedRecord, "row is not valid UTF-8"))
                };
                each(line_no, fields, raw);
            }
            Err(e) => {
                return Err(FileError { key: file.key.clone(), reason: format!("CSV error near line {line_no}: {e}") });
            }
        }
    }
    Ok(())
}

fn parse_price_csv(file: &ManifestFile, content: &[u8]) -> Result<ParsedFile, FileError> {
    let mut parsed = ParsedFile::default();
    read_csv(file, content, &PRICE_CSV_HEADER, &PRICE_CSV_REQUIRED, |line_no, fields, raw| {
        let record = fields.map(|f| {
            let mut it = f.into_iter().map(|v| Some(v).filter(|v| !v.is_empty()));
            let mut next = || it.next().flatten();
            RawRecord {
                product_id: next(),
                name: next(),
                brand: next(),
                gtin: next(),
                mpn: next(),
                category: next(),
                price: next(),
                price_kind: next(),
                price_max: next(),
                regular_price: next(),
                sale_starts_at: next(),
                sale_ends_at: next(),
                offer_count: next(),
                currency: next(),
                availability: next(),
                url: next(),
                observed_at: next(),
                reject_reason: next(),
                reject_detail: next(),
                original: next(),
            }
        });
        match record.and_then(|r| r.validate()) {
            Ok(record) => parsed.rows.push(StagedRow {
                file_key: file.key.clone(),
                source_id: file.source_id.clone(),
                line_no,
                record,
            }),
            Err(why) => parsed.rejects.push(reject(file, line_no, why, raw)),
        }
    })?;
    Ok(parsed)
}

fn parse_fx_csv(file: &ManifestFile, content: &[u8]) -> Result<ParsedFile, FileError> {
    let mut parsed = ParsedFile::default();
    read_csv(file, content, &FX_CSV_HEADER, &FX_CSV_HEADER, |line_no, fields, raw| {
        let rate = fields.and_then(|f| FxRateRecord::from_fields(&f.iter().map(String::as_str).collect::<Vec<_>>()));
        match rate {
            Ok(rate) => parsed.fx_rates.push(rate),
            Err(why) => parsed.rejects.push(reject(file, line_no, why, raw)),
        }
    })?;
    Ok(parsed)
}

fn parse_price_json_lines(file: &ManifestFile, content: &[u8]) -> ParsedFile {
    let mut parsed = ParsedFile::default();
    for (i, line) in content.split(|b| *b == b'\n').enumerate() {
        let line_no = i as u64 + 1;
        let text = String::from_utf8_lossy(line);
        if text.trim().is_empty() {
            continue;
        }
        // Invalid UTF-8 is a reject, never a U+FFFD in a stored name.
        let record = std::str::from_utf8(line)
            .map_err(|e| {
                RowReject::new(
                    RejectReason::MalformedRecord,
                    format!("row is not valid UTF-8 (at byte {})", e.valid_up_to() + 1),
                )
            })
            .and_then(|line| {
                serde_json::from_str::<serde_json::Value>(line)
                    .map_err(|e| RowReject::new(RejectReason::MalformedRecord, format!("not JSON: {e}")))
            })
            .and_then(|v| RawRecord::from_json(&v))
            .and_then(|r| r.validate());
        match record {
            Ok(record) => parsed.rows.push(StagedRow {
                file_key: file.key.clone(),
                source_id: file.source_id.clone(),
                line_no,
                record,
            }),
            Err(why) => parsed.rejects.push(reject(file, line_no, why, text.into_owned())),
        }
    }
    parsed
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(kind: FileKind, format: FileFormat) -> ManifestFile {
        ManifestFile::describe("raw/2026-11-25/s_020000.x".into(), "s".into(), kind, format, b"", 0)
    }

    const HEADER: &str =
        "product_id,name,brand,gtin,mpn,price,price_kind,price_max,currency,availability,url,observed_at,reject_reason,reject_detail\n";

    #[test]
    fn an_empty_file_has_no_records_and_bad_bytes_cost_one_row() {
        for kind in [FileKind::Prices, FileKind::FxRates] {
            let parsed = parse_file(&file(kind, FileFormat::Csv), b"").unwrap();
            assert_eq!((parsed.rows.len(), parsed.rejects.len(), parsed.fx_rates.len()), (0, 0, 0));
        }
        let good = r#"{"product_id":"p1","price":"1.00","currency":"USD","observed_at":"2026-11-25T02:00:00Z"}"#;
        let mut content = format!("{good}\n").into_bytes();
        content.extend_from_slice(b"{\"product_id\":\"p2\",\"name\":\"caf\xE9\"}\n");
        content.extend_from_slice(format!("{good}\n").as_bytes());
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Json), &content).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        let reject = &parsed.rejects[0];
        assert_eq!((reject.line_no, reject.reason), (2, RejectReason::MalformedRecord));
        assert_eq!(reject.detail, "row is not valid UTF-8 (at byte 31)");
        // A NUL is kept visibly in the stored row.
        let nul = "{\"product_id\":\"p\0\"}\n";
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Json), nul.as_bytes()).unwrap();
        assert_eq!(parsed.rejects[0].raw, "{\"product_id\":\"p\u{2400}\"}");
    }

    #[test]
    fn csv_rows_are_validated_and_bad_ones_kept_with_line_numbers() {
        let content = format!(
            "{HEADER}p1,\"Widget, large\",,,,10.50,,,USD,in_stock,,2026-11-25T02:00:00Z,,\n\
             p2,Bad,,,,-1,,,USD,,,2026-11-25T02:00:00Z,,\n\
             p3,short,row\n"
        );
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Csv), content.as_bytes()).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rows[0].line_no, 2);
        assert_eq!(parsed.rows[0].record.name.as_deref(), Some("Widget, large"));
        let reasons: Vec<_> = parsed.rejects.iter().map(|r| (r.line_no, r.reason)).collect();
        assert_eq!(reasons, vec![(3, RejectReason::NegativePrice), (4, RejectReason::MalformedRecord)]);
        assert_eq!(parsed.rejects[1].raw, "p3,short,row");
        assert_eq!(parsed.rejects[0].raw, "p2,Bad,,,,-1,,,USD,,,2026-11-25T02:00:00Z,,");
        assert_eq!(parsed.records(), 3);
    }

    #[test]
    fn files_with_the_current_header_read_every_column() {
        let content = format!(
            "{}\np1,Widget,Acme,4006381333931,WX-1,Home > Kitchen,24.00,,,29.99,,,,EUR,in_stock,,2026-11-25T02:00:00Z,,,\
             raw/2026-11-25/original/shop/run_0000.json.gz\n",
            PRICE_CSV_HEADER.join(",")
        );
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Csv), content.as_bytes()).unwrap();
        let r = &parsed.rows[0].record;
        assert_eq!(r.category.as_deref(), Some("Home > Kitchen"));
        assert_eq!(r.regular_price, Some(rust_decimal::Decimal::new(2999, 2)));
        assert_eq!(r.keys.gtin14.as_deref(), Some("04006381333931"));
        assert_eq!(r.keys.mpn_key.as_deref(), Some("WX1"));
    }

    #[test]
    fn a_wrong_header_fails_the_file_naming_it() {
        let err = parse_file(&file(FileKind::Prices, FileFormat::Csv), b"id,price\n1,2\n").unwrap_err();
        assert!(err
            .to_string()
            .starts_with("raw/2026-11-25/s_020000.x: CSV header is `id,price`: unknown columns [id]"));
    }

    #[test]
    fn json_lines_keep_going_after_a_bad_line() {
        let content = b"{\"product_id\":\"p1\",\"price\":\"3.10\",\"currency\":\"GBP\",\"observed_at\":\"2026-11-25T02:00:00Z\"}\n\
{not json\n\n[1,2]\n";
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Json), content).unwrap();
        assert_eq!(parsed.rows.len(), 1);
        assert_eq!(parsed.rejects.iter().map(|r| r.line_no).collect::<Vec<_>>(), vec![2, 4]);
        assert!(parsed.rejects.iter().all(|r| r.reason == RejectReason::MalformedRecord));
        assert_eq!(parsed.records(), 3);
    }

    #[test]
    fn fx_files_yield_rates() {
        let content = b"rate_date,base_currency,quote_currency,rate,source\n2026-11-25,EUR,USD,1.05,ECB\n2026-11-25,EUR,ZZZ,1,ECB\n";
        let parsed = parse_file(&file(FileKind::FxRates, FileFormat::Csv), content).unwrap();
        assert_eq!(parsed.fx_rates.len(), 1);
        assert_eq!(parsed.rejects[0].reason, RejectReason::UnknownCurrency);
    }
}
