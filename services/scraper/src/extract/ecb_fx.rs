//! Parser for the European Central Bank reference-rate XML
//! (`eurofxref-daily.xml`, also works for the `-hist` / `-hist-90d` files).
//!
//! Rates are quoted as 1 EUR = `rate` `quote`. `Cube` elements are matched by the
//! eurofxref namespace URI. The document fails as a whole ([`FeedError`]) when it
//! has a DOCTYPE, a custom entity, a rate outside a dated `Cube`, an invalid date,
//! a rate for EUR itself, a non-positive or non-decimal rate, a duplicate currency
//! for a date, or no rates at all. A currency that is not an active ISO 4217 code is
//! left out and reported in [`EcbRates::skipped`].

use crate::extract::price::is_iso4217;
pub use crate::extract::xml_util::FeedError;
use crate::extract::xml_util::{attr_value, resolve_general_ref};
use chrono::NaiveDate;
use ppmt_domain::record::FxRateRecord;
use ppmt_domain::Currency;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;
use rust_decimal::Decimal;
use std::collections::HashSet;
use std::io::BufRead;
use std::str::FromStr;

/// The eurofxref vocabulary namespace URI.
pub const ECB_NS: &[u8] = b"http://www.ecb.int/vocabulary/2002-08-01/eurofxref";

/// What a rates document yielded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcbRates {
    /// 1 EUR = `rate` `quote_currency` on `rate_date`, source `ECB`.
    pub rates: Vec<FxRateRecord>,
    /// Rates left out, with why: currencies that are not active ISO 4217 codes (the
    /// `-hist` files still list withdrawn ones such as HRK).
    pub skipped: Vec<String>,
}

/// Parse ECB reference rates from a streaming reader.
pub fn parse_ecb_daily<R: BufRead>(r: R) -> Result<EcbRates, FeedError> {
    let mut reader = NsReader::from_reader(r);
    let mut buf = Vec::new();
    let mut rates = Vec::new();
    let mut skipped = Vec::new();
    let mut depth = 0usize;
    let mut seen_root = false;
    // (date, depth of the dated Cube)
    let mut current: Option<(NaiveDate, usize)> = None;
    let mut seen: HashSet<(NaiveDate, String)> = HashSet::new();

    loop {
        buf.clear();
        let pos = reader.buffer_position();
        let (ns, event) = match reader.read_resolved_event_into(&mut buf) {
            Ok(v) => v,
            Err(e) => return Err(FeedError::Malformed { position: reader.error_position(), message: e.to_string() }),
        };
        let invalid = |message: String| FeedError::InvalidData { position: pos, message };
        match event {
            Event::DocType(_) => return Err(FeedError::DoctypeForbidden { position: pos }),
            Event::Start(ref e) | Event::Empty(ref e) => {
                let is_empty = matches!(event, Event::Empty(_));
                depth += 1;
                let local = e.local_name().as_ref().to_vec();
                if !seen_root {
                    seen_root = true;
                    if local != b"Envelope" {
                        return Err(FeedError::UnexpectedRoot {
                            found: String::from_utf8_lossy(&local).into_owned(),
                            expected: "<gesmes:Envelope>",
                        });
                    }
                }
                let is_cube = local == b"Cube" && matches!(&ns, ResolveResult::Bound(n) if n.as_ref() == ECB_NS);
                if is_cube {
                    let decoder = reader.decoder();
                    let time = attr_value(e, b"time", decoder, pos)?;
                    let currency = attr_value(e, b"currency", decoder, pos)?;
                    let rate = attr_value(e, b"rate", decoder, pos)?;
                    if let Some(t) = time {
                        let date = NaiveDate::parse_from_str(t.trim(), "%Y-%m-%d")
                            .map_err(|err| invalid(format!("invalid date {t:?}: {err}")))?;
                        if !is_empty {
                            current = Some((date, depth));
                        }
                    } else if currency.is_some() || rate.is_some() {
                        let (date, _) =
                            current.ok_or_else(|| invalid("rate Cube outside a Cube with a time attribute".into()))?;
                        let quote = currency
                            .map(|c| c.trim().to_string())
                            .ok_or_else(|| invalid("rate Cube without currency".into()))?;
                        if quote == "EUR" {
                            return Err(invalid("a rate for EUR itself".into()));
                        }
                        let rate_text = rate.ok_or_else(|| invalid(format!("no rate for {quote}")))?;
                        let rate = parse_rate(rate_text.trim())
                            .ok_or_else(|| invalid(format!("invalid rate {rate_text:?} for {quote}")))?;
                        if !seen.insert((date, quote.clone())) {
                            return Err(invalid(format!("duplicate rate for {quote} on {date}")));
                        }
                        match quote.parse::<Currency>() {
                            Ok(quote_currency) if is_iso4217(&quote) => rates.push(FxRateRecord {
                                rate_date: date,
                                base_currency: Currency::EUR,
                                quote_currency,
                                rate,
                                source: "ECB".into(),
                            }),
                            _ => skipped.push(format!("{date} {quote:?}: not an active ISO 4217 code")),
                        }
                    }
                }
                if is_empty {
                    depth -= 1;
                }
            }
            Event::End(_) => {
                if current.is_some_and(|(_, d)| d == depth) {
                    current = None;
                }
                depth = depth.saturating_sub(1);
            }
            Event::GeneralRef(r) => {
                resolve_general_ref(&r, pos)?;
            }
            Event::Eof => {
                if depth > 0 || !seen_root {
                    return Err(FeedError::Malformed {
                        position: reader.buffer_position(),
                        message: "unexpected end of document".into(),
                    });
                }
                if rates.is_empty() {
                    return Err(FeedError::InvalidData {
                        position: reader.buffer_position(),
                        message: "no exchange rates found".into(),
                    });
                }
                return Ok(EcbRates { rates, skipped });
            }
            Event::Text(_) | Event::CData(_) | Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
}

/// Strict positive plain decimal (`1.0412`), normalized.
fn parse_rate(s: &str) -> Option<Decimal> {
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let ok = !int.is_empty()
        && int.bytes().all(|b| b.is_ascii_digit())
        && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()));
    if !ok {
        return None;
    }
    let v = Decimal::from_str(s).ok()?;
    if v <= Decimal::ZERO {
        return None;
    }
    Some(v.normalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAILY: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
	<gesmes:subject>Reference rates</gesmes:subject>
	<gesmes:Sender>
		<gesmes:name>European Central Bank</gesmes:name>
	</gesmes:Sender>
	<Cube>
		<Cube time='2026-11-25'>
			<Cube currency='USD' rate='1.0412'/>
			<Cube currency='JPY' rate='162.05'/>
			<Cube currency='BGN' rate='1.9558'/>
			<Cube currency='CZK' rate='25.180'/>
			<Cube currency='DKK' rate='7.4582'/>
			<Cube currency='GBP' rate='0.83088'/>
			<Cube currency='HUF' rate='410.53'/>
			<Cube currency='PLN' rate='4.3338'/>
			<Cube currency='RON' rate='4.9764'/>
			<Cube currency='SEK' rate='11.5440'/>
			<Cube currency='CHF' rate='0.9283'/>
			<Cube currency='ISK' rate='144.30'/>
			<Cube currency='NOK' rate='11.6625'/>
			<Cube currency='TRY' rate='36.0754'/>
			<Cube currency='AUD' rate='1.6108'/>
			<Cube currency='BRL' rate='6.0626'/>
			<Cube currency='CAD' rate='1.4618'/>
			<Cube currency='CNY' rate='7.5489'/>
			<Cube currency='HKD' rate='8.1058'/>
			<Cube currency='IDR' rate='16577.41'/>
			<Cube currency='ILS' rate='3.8234'/>
			<Cube currency='INR' rate='87.9620'/>
			<Cube currency='KRW' rate='1461.12'/>
			<Cube currency='MXN' rate='21.3680'/>
			<Cube currency='MYR' rate='4.6550'/>
			<Cube currency='NZD' rate='1.7880'/>
			<Cube currency='PHP' rate='61.234'/>
			<Cube currency='SGD' rate='1.4031'/>
			<Cube currency='THB' rate='35.917'/>
			<Cube currency='ZAR' rate='18.8875'/>
		</Cube>
	</Cube>
</gesmes:Envelope>"#;

    fn parse(s: &str) -> Result<Vec<FxRateRecord>, FeedError> {
        parse_ecb_daily(s.as_bytes()).map(|r| r.rates)
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn parses_realistic_daily_file() {
        let rates = parse(DAILY).unwrap();
        assert_eq!(rates.len(), 30);
        let date = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        assert!(rates.iter().all(|r| r.rate_date == date && r.base_currency == Currency::EUR));
        assert_eq!(
            rates[0],
            FxRateRecord {
                rate_date: date,
                base_currency: Currency::EUR,
                quote_currency: Currency::USD,
                rate: d("1.0412"),
                source: "ECB".into()
            }
        );
        let czk = rates.iter().find(|r| r.quote_currency.as_str() == "CZK").unwrap();
        assert_eq!(czk.rate, d("25.18"));
        assert_eq!(czk.rate.to_string(), "25.18");
        let idr = rates.iter().find(|r| r.quote_currency.as_str() == "IDR").unwrap();
        assert_eq!(idr.rate, d("16577.41"));
    }

    #[test]
    fn withdrawn_or_unknown_currencies_are_skipped_not_fatal() {
        let xml = wrap(
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate="1.05"/><Cube currency="HRK" rate="7.5"/><Cube currency="usd" rate="1.1"/></Cube>"#,
        );
        let out = parse_ecb_daily(xml.as_bytes()).unwrap();
        assert_eq!(out.rates.len(), 1);
        assert_eq!(out.skipped.len(), 2, "{:?}", out.skipped);
        assert!(out.skipped[0].contains("HRK"));
    }

    #[test]
    fn parses_multiple_dates_history() {
        let xml = r#"<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube>
<Cube time="2026-11-25"><Cube currency="USD" rate="1.0412"/></Cube>
<Cube time="2026-11-24"><Cube currency="USD" rate="1.0398"/></Cube>
</Cube></gesmes:Envelope>"#;
        let rates = parse(xml).unwrap();
        assert_eq!(rates.len(), 2);
        assert_eq!(rates[1].rate_date, NaiveDate::from_ymd_opt(2026, 11, 24).unwrap());
        assert_eq!(rates[1].rate, d("1.0398"));
    }

    fn wrap(inner: &str) -> String {
        format!(
            r#"<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref"><Cube>{inner}</Cube></gesmes:Envelope>"#
        )
    }

    #[test]
    fn rejects_invalid_content() {
        let bad = [
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate="0"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate="-1.2"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate="1,04"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate=""/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="USD"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="XYZ" rate="1.1"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube currency="EUR" rate="1"/></Cube>"#,
            r#"<Cube time="2026-11-25"><Cube rate="1.1"/></Cube>"#,
            r#"<Cube time="2026-13-45"><Cube currency="USD" rate="1.1"/></Cube>"#,
            r#"<Cube><Cube currency="USD" rate="1.1"/></Cube>"#,
            r#"<Cube currency="USD" rate="1.1"/>"#,
            r#"<Cube time="2026-11-25"><Cube currency="USD" rate="1.1"/><Cube currency="USD" rate="1.2"/></Cube>"#,
            r#"<Cube time="2026-11-25"></Cube>"#,
        ];
        for inner in bad {
            let err = parse(&wrap(inner)).unwrap_err();
            assert!(matches!(err, FeedError::InvalidData { .. }), "{inner}: {err:?}");
        }
    }

    #[test]
    fn rejects_malformed_and_hostile_documents() {
        assert!(matches!(
            parse("<!DOCTYPE x [<!ENTITY a \"b\">]><gesmes:Envelope/>").unwrap_err(),
            FeedError::DoctypeForbidden { .. }
        ));
        let ent = wrap(r#"<Cube time="2026-11-25">&xxe;<Cube currency="USD" rate="1.1"/></Cube>"#);
        assert!(matches!(parse(&ent).unwrap_err(), FeedError::UnknownEntity { .. }));
        let truncated = &DAILY[..DAILY.len() / 2];
        assert!(matches!(parse(truncated).unwrap_err(), FeedError::Malformed { .. }));
        let mismatched = wrap(r#"<Cube time="2026-11-25"><Cube currency="USD" rate="1.1"/></Cubes>"#);
        assert!(matches!(parse(&mismatched).unwrap_err(), FeedError::Malformed { .. }));
        assert!(matches!(parse("<html/>").unwrap_err(), FeedError::UnexpectedRoot { .. }));
        assert!(matches!(parse("").unwrap_err(), FeedError::Malformed { .. }));
        // Cube in a foreign namespace is ignored -> no rates.
        let foreign = r#"<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01"><Cube><Cube time="2026-11-25"><Cube currency="USD" rate="1.1"/></Cube></Cube></gesmes:Envelope>"#;
        assert!(matches!(parse(foreign).unwrap_err(), FeedError::InvalidData { .. }));
    }
}
