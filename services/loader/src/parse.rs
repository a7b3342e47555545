//! Reading raw files into validated rows and rejects. Pure: bytes in, rows out, a chunk
//! at a time ([`parse_stream`]), so that a file of any size is read in constant memory;
//! [`parse_file`] gathers the chunks of a file held in memory.
//!
//! A row that cannot be used becomes a [`RejectedRow`] with a reason and its original
//! text (a valid row's text is never copied); only a file that cannot be read at all
//! (wrong header) fails the batch.

use std::io::{self, BufRead, BufReader, Read};
use std::sync::Arc;

use ppmt_domain::manifest::{FileFormat, FileKind, ManifestFile};
use ppmt_domain::record::{
    clip, FxRateRecord, RawRecord, ValidRecord, FX_CSV_HEADER, PRICE_CSV_HEADER, PRICE_CSV_REQUIRED,
};
use ppmt_domain::{RejectReason, RowReject};
use ppmt_platform::ports::{RejectedRow, StagedRow};

/// Records of a chunk: enough that each chunk's `COPY` costs little beside its rows, few
/// enough that the chunks in flight stay a few MB.
pub const CHUNK_RECORDS: usize = 5_000;
/// Bytes of rejected rows' text after which a chunk is handed on early: a reject keeps up
/// to 64 KB of its row, and a chunk of long rejects must stay small too.
const CHUNK_REJECT_BYTES: usize = 4 << 20;
/// Bytes read from the input at a time.
const READ_BUFFER_BYTES: usize = 256 << 10;

/// Records read from a file: a chunk of them as the file streams, or all of them.
#[derive(Debug, Default, PartialEq)]
pub struct Records {
    pub rows: Vec<StagedRow>,
    pub fx_rates: Vec<FxRateRecord>,
    pub rejects: Vec<RejectedRow>,
}

impl Records {
    /// Records read: every one is a row, a rate or a reject.
    pub fn records(&self) -> u64 {
        (self.rows.len() + self.fx_rates.len() + self.rejects.len()) as u64
    }

    fn append(&mut self, mut other: Records) {
        self.rows.append(&mut other.rows);
        self.fx_rates.append(&mut other.fx_rates);
        self.rejects.append(&mut other.rejects);
    }
}

/// A file that cannot be read at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct FileError {
    pub key: String,
    pub reason: String,
}

/// Why parsing a streamed file ended before its end.
#[derive(Debug, thiserror::Error)]
pub enum ParseError {
    /// The file cannot be read as its format.
    #[error(transparent)]
    File(#[from] FileError),
    /// The file's bytes could not be read (the store's stream broke).
    #[error("failed to read {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: io::Error,
    },
    /// Whoever took the chunks stopped taking them.
    #[error("{key}: parsing stopped, its chunks are no longer taken")]
    Stopped { key: String },
}

/// Parses one verified file of the manifest held in memory.
pub fn parse_file(file: &ManifestFile, content: &[u8]) -> Result<Records, FileError> {
    let mut all = Records::default();
    parse_stream(file, content, |chunk| {
        all.append(chunk);
        true
    })
    .map_err(|e| match e {
        ParseError::File(e) => e,
        // Neither happens with bytes in memory, all of them taken.
        other => FileError { key: file.key.clone(), reason: other.to_string() },
    })?;
    Ok(all)
}

/// Parses one file of the manifest as it is read from `input`, handing its records to
/// `take` a chunk at a time (at most [`CHUNK_RECORDS`] each); `take` returns false to stop
/// the parse. Returns the number of records read.
pub fn parse_stream(
    file: &ManifestFile,
    input: impl Read,
    take: impl FnMut(Records) -> bool,
) -> Result<u64, ParseError> {
    let mut chunks = Chunker {
        file_key: file.key.as_str().into(),
        source_id: file.source_id.as_str().into(),
        chunk: Records::default(),
        reject_bytes: 0,
        records: 0,
        take,
    };
    let input = BufReader::with_capacity(READ_BUFFER_BYTES, input);
    match (file.kind, file.format) {
        (FileKind::Prices, FileFormat::Csv) => parse_price_csv(file, input, &mut chunks)?,
        (FileKind::Prices, FileFormat::Json) => parse_price_json_lines(file, input, &mut chunks)?,
        (FileKind::FxRates, FileFormat::Csv) => parse_fx_csv(file, input, &mut chunks)?,
        (FileKind::FxRates, FileFormat::Json) => {
            let reason = "fx_rates files are CSV; JSON is not supported".into();
            return Err(FileError { key: file.key.clone(), reason }.into());
        }
        (FileKind::Original, _) => {
            let reason = "an original document is kept, not loaded".into();
            return Err(FileError { key: file.key.clone(), reason }.into());
        }
    }
    chunks.end()
}

/// Gathers a file's records into chunks and hands each on when it is full.
struct Chunker<F> {
    /// The file's key and source, shared by its rows.
    file_key: Arc<str>,
    source_id: Arc<str>,
    chunk: Records,
    /// Bytes of rejected rows' text in `chunk`.
    reject_bytes: usize,
    /// Records handed on so far.
    records: u64,
    take: F,
}

impl<F: FnMut(Records) -> bool> Chunker<F> {
    fn row(&mut self, line_no: u64, record: ValidRecord) -> Result<(), ParseError> {
        if self.chunk.rows.capacity() == 0 {
            // A chunk of rows fills once rather than growing (a row is a few hundred bytes).
            self.chunk.rows.reserve(CHUNK_RECORDS);
        }
        let (file_key, source_id) = (Arc::clone(&self.file_key), Arc::clone(&self.source_id));
        self.chunk.rows.push(StagedRow { file_key, source_id, line_no, record });
        self.hand_on_when_full()
    }

    fn rate(&mut self, rate: FxRateRecord) -> Result<(), ParseError> {
        self.chunk.fx_rates.push(rate);
        self.hand_on_when_full()
    }

    fn reject(&mut self, reject: RejectedRow) -> Result<(), ParseError> {
        self.reject_bytes += reject.raw.len() + reject.detail.len();
        self.chunk.rejects.push(reject);
        self.hand_on_when_full()
    }

    fn hand_on_when_full(&mut self) -> Result<(), ParseError> {
        if self.chunk.records() as usize >= CHUNK_RECORDS || self.reject_bytes >= CHUNK_REJECT_BYTES {
            self.hand_on()
        } else {
            Ok(())
        }
    }

    fn hand_on(&mut self) -> Result<(), ParseError> {
        if self.chunk.records() == 0 {
            return Ok(());
        }
        let chunk = std::mem::take(&mut self.chunk);
        self.records += chunk.records();
        self.reject_bytes = 0;
        if (self.take)(chunk) {
            Ok(())
        } else {
            Err(ParseError::Stopped { key: self.file_key.to_string() })
        }
    }

    /// Hands on the last chunk; the file's record count.
    fn end(mut self) -> Result<u64, ParseError> {
        self.hand_on()?;
        Ok(self.records)
    }
}

/// Sizes of `rejected_rows.detail` and `rejected_rows.raw_row`: a reject always fits.
const MAX_DETAIL_BYTES: usize = 1024;
const MAX_RAW_BYTES: usize = 65_535;

/// A reject as the warehouse can store it: cut to its column, and a NUL (which no text
/// column can hold) shown as U+2400 `␀`.
fn reject(file: &ManifestFile, line_no: u64, why: RowReject, raw: &str) -> RejectedRow {
    let storable = |text: &str, max| clip(&text.replace('\0', "\u{2400}"), max);
    RejectedRow {
        file_key: file.key.clone(),
        source_id: file.source_id.clone(),
        line_no,
        reason: why.reason,
        detail: storable(&why.detail, MAX_DETAIL_BYTES),
        raw: storable(raw, MAX_RAW_BYTES),
    }
}

fn read_error(file: &ManifestFile, source: io::Error) -> ParseError {
    ParseError::Read { key: file.key.clone(), source }
}

/// A CSV reader's failure: its input's (the file could not be read), or the file's.
fn csv_error(file: &ManifestFile, e: csv::Error, what: String) -> ParseError {
    let reason = format!("{what}: {e}");
    match e.into_kind() {
        csv::ErrorKind::Io(source) => read_error(file, source),
        _ => FileError { key: file.key.clone(), reason }.into(),
    }
}

/// The input after its UTF-8 byte-order mark, if any; `None` when it holds only
/// whitespace (not even a header): a source with nothing today.
fn csv_content<R: Read>(mut input: BufReader<R>) -> io::Result<Option<impl Read>> {
    const BOM: &[u8] = b"\xEF\xBB\xBF";
    // What was read to find out; it is read again by the CSV reader, so that byte
    // offsets and line numbers stay the file's.
    let mut head = Vec::new();
    loop {
        let buffer = input.fill_buf()?;
        if buffer.is_empty() {
            return Ok(None);
        }
        let n = buffer.len();
        head.extend_from_slice(buffer);
        input.consume(n);
        let undecided = head.len() < BOM.len() && BOM.starts_with(&head);
        let text = head.strip_prefix(BOM).unwrap_or(&head);
        if !undecided && !text.iter().all(u8::is_ascii_whitespace) {
            break;
        }
    }
    let text = head.strip_prefix(BOM).map(<[u8]>::to_vec).unwrap_or(head);
    Ok(Some(io::Cursor::new(text).chain(input)))
}

/// A CSV reader's input that keeps what was read past the last record done with: a
/// rejected record's text is cut from here, and only a rejected record's.
struct Recorder<R> {
    inner: R,
    kept: Vec<u8>,
    /// Offset in the input of `kept[0]`.
    base: u64,
}

impl<R: Read> Read for Recorder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.kept.extend_from_slice(buf.get(..n).unwrap_or_default());
        Ok(n)
    }
}

impl<R> Recorder<R> {
    /// Input bytes `start..end`, as far as they are kept.
    fn text(&self, start: u64, end: u64) -> &[u8] {
        let at = |offset: u64| (offset.saturating_sub(self.base) as usize).min(self.kept.len());
        self.kept.get(at(start)..at(end)).unwrap_or_default()
    }

    /// Done with the input before `end`: dropped once it is most of what is kept, so each
    /// byte moves at most once.
    fn release(&mut self, end: u64) {
        let done = (end.saturating_sub(self.base) as usize).min(self.kept.len());
        if done >= READ_BUFFER_BYTES && done * 2 >= self.kept.len() {
            self.kept.drain(..done);
            self.base += done as u64;
        }
    }
}

/// Reads a CSV whose header names the columns of `known` (in any order), with at least
/// those of `required`, handing each record's fields in `known` order (a column the file
/// lacks is empty), borrowed from the record, or the reason the record is unreadable,
/// to `each` with its line number and raw bytes (for a reject's text).
fn read_csv<R: Read, const N: usize>(
    file: &ManifestFile,
    input: BufReader<R>,
    known: &[&str; N],
    required: &[&str],
    mut each: impl FnMut(u64, Result<&[&str], RowReject>, &[u8]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    // An empty file (not even a header) is a source with nothing today: 0 records.
    let Some(content) = csv_content(input).map_err(|e| read_error(file, e))? else {
        return Ok(());
    };
    let recorder = Recorder { inner: content, kept: Vec::new(), base: 0 };
    let mut reader = csv::ReaderBuilder::new().flexible(true).has_headers(true).from_reader(recorder);
    let header = reader.headers().map_err(|e| csv_error(file, e, "unreadable CSV header".into()))?.clone();
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
        }
        .into());
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
                let start = record.position().map(|p| p.byte()).unwrap_or(0);
                let end = reader.position().byte();
                let mut fields = [""; N];
                let read = if record.len() != names.len() {
                    Err(RowReject::new(
                        RejectReason::MalformedRecord,
                        format!("expected {} fields, found {}", names.len(), record.len()),
                    ))
                } else {
                    // The record's text checked once; each field must then also start and
                    // end on a character boundary.
                    let text = std::str::from_utf8(record.as_slice()).ok();
                    let field = |i: usize| text.zip(record.range(i)).and_then(|(t, r)| t.get(r));
                    fields
                        .iter_mut()
                        .zip(&positions)
                        .try_for_each(|(slot, p)| {
                            *slot = match p {
                                Some(i) => field(*i)?,
                                None => "",
                            };
                            Some(())
                        })
                        .map(|()| fields.as_slice())
                        .ok_or_else(|| RowReject::new(RejectReason::MalformedRecord, "row is not valid UTF-8"))
                };
                each(line_no, read, reader.get_ref().text(start, end))?;
                reader.get_mut().release(end);
            }
            Err(e) => return Err(csv_error(file, e, format!("CSV error near line {line_no}"))),
        }
    }
    Ok(())
}

/// A rejected row's text as it was in the file.
fn raw_text(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).trim_end().to_owned()
}

fn parse_price_csv<R: Read>(
    file: &ManifestFile,
    input: BufReader<R>,
    chunks: &mut Chunker<impl FnMut(Records) -> bool>,
) -> Result<(), ParseError> {
    read_csv(file, input, &PRICE_CSV_HEADER, &PRICE_CSV_REQUIRED, |line_no, fields, raw| {
        let record = fields.map(|f| {
            let mut it = f.iter().map(|v| Some(*v).filter(|v| !v.is_empty()));
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
            Ok(record) => chunks.row(line_no, record),
            Err(why) => chunks.reject(reject(file, line_no, why, &raw_text(raw))),
        }
    })
}

fn parse_fx_csv<R: Read>(
    file: &ManifestFile,
    input: BufReader<R>,
    chunks: &mut Chunker<impl FnMut(Records) -> bool>,
) -> Result<(), ParseError> {
    read_csv(file, input, &FX_CSV_HEADER, &FX_CSV_HEADER, |line_no, fields, raw| {
        let rate = fields.and_then(FxRateRecord::from_fields);
        match rate {
            Ok(rate) => chunks.rate(rate),
            Err(why) => chunks.reject(reject(file, line_no, why, &raw_text(raw))),
        }
    })
}

fn parse_price_json_lines(
    file: &ManifestFile,
    mut input: impl BufRead,
    chunks: &mut Chunker<impl FnMut(Records) -> bool>,
) -> Result<(), ParseError> {
    let mut line = Vec::new();
    let mut line_no = 0;
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line).map_err(|e| read_error(file, e))? == 0 {
            return Ok(());
        }
        line_no += 1;
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        // Invalid UTF-8 is a reject, never a U+FFFD in a stored name.
        let text = std::str::from_utf8(&line).map_err(|e| {
            RowReject::new(
                RejectReason::MalformedRecord,
                format!("row is not valid UTF-8 (at byte {})", e.valid_up_to() + 1),
            )
        });
        if text.as_ref().is_ok_and(|t| t.trim().is_empty()) {
            continue;
        }
        let record = text.and_then(RawRecord::from_json_line).and_then(|r| r.validate());
        match record {
            Ok(record) => chunks.row(line_no, record)?,
            Err(why) => chunks.reject(reject(file, line_no, why, &String::from_utf8_lossy(&line)))?,
        }
    }
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
    fn a_csv_row_with_bad_utf8_costs_that_row() {
        let row = |name: &[u8], brand: &[u8]| {
            let mut row = b"p,".to_vec();
            row.extend_from_slice(name);
            row.push(b',');
            row.extend_from_slice(brand);
            row.extend_from_slice(b",,,1.00,,,USD,,,2026-11-25T02:00:00Z,,\n");
            row
        };
        let mut content = HEADER.as_bytes().to_vec();
        content.extend(row(b"caf\xC3\xA9", b""));
        content.extend(row(b"caf\xE9", b""));
        // An `\u{e9}` cut in two by a comma: the row's bytes are UTF-8, its fields not.
        content.extend(row(b"caf\xC3", b"\xA9"));
        let parsed = parse_file(&file(FileKind::Prices, FileFormat::Csv), &content).unwrap();
        assert_eq!(parsed.rows[0].record.name.as_deref(), Some("caf\u{e9}"));
        let rejects: Vec<_> = parsed.rejects.iter().map(|r| (r.line_no, r.reason, r.detail.as_str())).collect();
        let bad = (RejectReason::MalformedRecord, "row is not valid UTF-8");
        assert_eq!(rejects, [(3, bad.0, bad.1), (4, bad.0, bad.1)]);
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

    /// A reader that hands out at most `step` bytes a read, as a network stream may.
    struct Trickle<'a> {
        bytes: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.step.min(buf.len()).min(self.bytes.len());
            buf[..n].copy_from_slice(&self.bytes[..n]);
            self.bytes = &self.bytes[n..];
            Ok(n)
        }
    }

    /// Streams `content` in reads of `step` bytes; every chunk and the record count.
    fn stream(file: &ManifestFile, content: &[u8], step: usize) -> (Vec<Records>, u64) {
        let mut chunks = Vec::new();
        let records = parse_stream(file, Trickle { bytes: content, step }, |c| {
            chunks.push(c);
            true
        })
        .unwrap();
        (chunks, records)
    }

    #[test]
    fn a_large_file_streams_in_chunks_with_the_files_line_numbers_and_reject_texts() {
        // Every 7th row is rejected, its text kept exactly (quotes and all); the file is
        // large enough that the kept input is dropped many times along the way.
        let mut content = format!("\u{feff}{HEADER}");
        let rows = 3 * CHUNK_RECORDS + 123;
        for i in 0..rows {
            let price = if i % 7 == 0 { "0" } else { "10.50" };
            content.push_str(&format!(
                "p{i},\"Widget, \"\"{i}\"\"\",Acme,,,{price},,,EUR,in_stock,,2026-11-25T02:00:00Z,,\n"
            ));
        }
        assert!(content.len() > 4 * READ_BUFFER_BYTES);
        let prices = file(FileKind::Prices, FileFormat::Csv);
        for step in [7, 100_000] {
            let (chunks, records) = stream(&prices, content.as_bytes(), step);
            assert_eq!(records, rows as u64);
            assert_eq!(chunks.len(), 4);
            assert!(chunks.iter().all(|c| c.records() as usize <= CHUNK_RECORDS));
            let mut lines: Vec<(u64, bool)> = chunks
                .iter()
                .flat_map(|c| {
                    c.rows.iter().map(|r| (r.line_no, true)).chain(c.rejects.iter().map(|r| (r.line_no, false)))
                })
                .collect();
            lines.sort();
            let expected: Vec<(u64, bool)> = (0..rows).map(|i| (i as u64 + 2, i % 7 != 0)).collect();
            assert_eq!(lines, expected, "every row once, on its own line, read in steps of {step}");
            let last = chunks.iter().flat_map(|c| &c.rejects).last().unwrap();
            let i = (last.line_no - 2) as usize;
            assert_eq!(
                last.raw,
                format!("p{i},\"Widget, \"\"{i}\"\"\",Acme,,,0,,,EUR,in_stock,,2026-11-25T02:00:00Z,,")
            );
            assert_eq!(
                chunks[1].rows[0].record.name.as_deref(),
                Some(format!("Widget, \"{}\"", chunks[1].rows[0].line_no - 2).as_str())
            );
        }
        // JSON Lines too, with blank lines counted as lines.
        let good = r#"{"product_id":"p1","price":"1.00","currency":"USD","observed_at":"2026-11-25T02:00:00Z"}"#;
        let content = format!("{good}\n\n").repeat(CHUNK_RECORDS + 1);
        let (chunks, records) = stream(&file(FileKind::Prices, FileFormat::Json), content.as_bytes(), 1000);
        assert_eq!((chunks.len(), records), (2, CHUNK_RECORDS as u64 + 1));
        assert_eq!(chunks[1].rows[0].line_no, 2 * CHUNK_RECORDS as u64 + 1);
    }

    #[test]
    fn a_bom_and_blank_input_read_a_byte_at_a_time_are_seen_as_such() {
        let prices = file(FileKind::Prices, FileFormat::Csv);
        assert_eq!(stream(&prices, b"\xEF\xBB\xBF \n\r\n", 1).1, 0);
        let content = format!("\u{feff}\n{HEADER}p1,W,,,,1.00,,,EUR,,,2026-11-25T02:00:00Z,,\n");
        let (chunks, records) = stream(&prices, content.as_bytes(), 1);
        assert_eq!((records, chunks[0].rows[0].line_no), (1, 3));
    }

    #[test]
    fn a_receiver_that_stops_taking_chunks_stops_the_parse() {
        let content =
            format!("{HEADER}{}", "p1,W,,,,1.00,,,EUR,,,2026-11-25T02:00:00Z,,\n".repeat(2 * CHUNK_RECORDS + 1));
        let mut taken = 0;
        let stopped = parse_stream(&file(FileKind::Prices, FileFormat::Csv), content.as_bytes(), |_| {
            taken += 1;
            false
        });
        assert!(matches!(stopped, Err(ParseError::Stopped { .. })), "{stopped:?}");
        assert_eq!(taken, 1);
    }
}
