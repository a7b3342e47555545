//! Locale-aware price text parsing.
//!
//! [`parse_price`] turns human or machine price text (`"1.299,00 €"`, `"USD 15"`,
//! `"from $9.99"`, `"10–20 EUR"`) into a [`Price`] plus a validated ISO 4217 currency.
//! Separators are interpreted strictly per [`NumberLocale`]: anything that does not fit
//! the locale's grouping rules (groups of exactly three digits after the first) is
//! rejected as [`RejectReason::UnparseablePrice`] rather than guessed.
//!
//! Amounts are returned `normalize()`d (trailing zeros removed), so `2879.20`
//! and `2879.2` are equal and print identically.
//!
//! [`is_iso4217`] validates currency codes against a built-in list of active codes.

use crate::extract::record::{Price, RejectReason};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

pub use ppmt_domain::money::is_iso4217;

/// How digits are grouped in front of the decimal separator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grouping {
    /// Groups of three: `1,299,999`.
    #[default]
    Thousands,
    /// Indian: the last group of three, the others of two: `12,34,567`.
    Indian,
}

/// How numbers are written in a locale.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NumberLocale {
    decimal_separator: char,
    grouping_separators: Vec<char>,
    #[serde(default)]
    grouping: Grouping,
}

/// Space, no-break space (U+00A0) and narrow no-break space (U+202F): the spaces
/// European locales group digits with.
const SPACES: [char; 3] = [' ', '\u{a0}', '\u{202f}'];

impl NumberLocale {
    /// English: `1,299.00`.
    pub fn en() -> Self {
        NumberLocale { decimal_separator: '.', grouping_separators: vec![','], grouping: Grouping::Thousands }
    }

    /// German: `1.299,00`, or `1 299,00` with a (no-break) space.
    pub fn de() -> Self {
        let mut grouping_separators = vec!['.'];
        grouping_separators.extend(SPACES);
        NumberLocale { decimal_separator: ',', grouping_separators, grouping: Grouping::Thousands }
    }

    /// French: `1 299,00`, grouping by space, NBSP (U+00A0) or narrow NBSP (U+202F).
    pub fn fr() -> Self {
        NumberLocale { decimal_separator: ',', grouping_separators: SPACES.to_vec(), grouping: Grouping::Thousands }
    }

    /// Swiss and Liechtenstein (any language): `1'299.00`, with `'` or `’`, or a space.
    pub fn swiss() -> Self {
        let mut grouping_separators = vec!['\'', '\u{2019}'];
        grouping_separators.extend(SPACES);
        NumberLocale { decimal_separator: '.', grouping_separators, grouping: Grouping::Thousands }
    }

    /// Indian: `1,29,999.00`.
    pub fn indian() -> Self {
        NumberLocale { decimal_separator: '.', grouping_separators: vec![','], grouping: Grouping::Indian }
    }

    /// The decimal separator.
    pub fn decimal_separator(&self) -> char {
        self.decimal_separator
    }

    /// Accepted digit-grouping separators.
    pub fn grouping_separators(&self) -> &[char] {
        &self.grouping_separators
    }

    fn is_grouping(&self, c: char) -> bool {
        self.grouping_separators.contains(&c)
    }

    /// Whether `groups` (the integer part split at grouping separators) are grouped
    /// as the locale groups digits.
    fn groups_fit(&self, groups: &[&str]) -> bool {
        let Some((first, rest)) = groups.split_first() else { return false };
        if rest.is_empty() {
            return true;
        }
        match self.grouping {
            Grouping::Thousands => (1..=3).contains(&first.len()) && rest.iter().all(|g| g.len() == 3),
            Grouping::Indian => {
                let (last, middle) = rest.split_last().unwrap_or((&"", &[]));
                (1..=2).contains(&first.len()) && middle.iter().all(|g| g.len() == 2) && last.len() == 3
            }
        }
    }
}

/// Error for an unsupported locale name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unsupported number locale {0:?}: expected en, de or fr, optionally with a region (de-DE), \
     a Swiss or Liechtenstein one (de-CH, fr-CH, it-CH, en-CH, de-LI) or an Indian one (en-IN, hi-IN)"
)]
pub struct LocaleError(pub String);

impl FromStr for NumberLocale {
    type Err = LocaleError;

    /// Accepts `en`, `de`, `fr`, optionally with a region (`en-US`, `de_AT`, `fr-FR`);
    /// a Swiss or Liechtenstein region (`de-CH`, `fr-CH`, `it-CH`, `en-CH`, `de-LI`)
    /// writes `1'299.00`, and `en-IN` / `hi-IN` group digits the Indian way.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let norm = s.trim().replace('_', "-").to_ascii_lowercase();
        let mut parts = norm.splitn(2, '-');
        let lang = parts.next().unwrap_or("");
        let region = parts.next();
        if let Some(r) = region {
            let ok_shape = (r.len() == 2 && r.bytes().all(|b| b.is_ascii_alphabetic()))
                || (r.len() == 3 && r.bytes().all(|b| b.is_ascii_digit()));
            if !ok_shape {
                return Err(LocaleError(s.to_string()));
            }
        }
        match (lang, region) {
            ("de" | "fr" | "it" | "en" | "rm", Some("ch" | "li")) => Ok(NumberLocale::swiss()),
            ("en" | "hi", Some("in")) => Ok(NumberLocale::indian()),
            ("en", _) => Ok(NumberLocale::en()),
            ("de", _) => Ok(NumberLocale::de()),
            ("fr", _) => Ok(NumberLocale::fr()),
            _ => Err(LocaleError(s.to_string())),
        }
    }
}

/// Why a price text could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", reason.code())]
pub struct PriceError {
    pub reason: RejectReason,
    pub message: String,
}

impl PriceError {
    fn new(reason: RejectReason, message: impl Into<String>) -> Self {
        PriceError { reason, message: message.into() }
    }

    fn unparseable(text: &str, why: &str) -> Self {
        PriceError::new(RejectReason::UnparseablePrice, format!("cannot parse price {text:?}: {why}"))
    }
}

/// Prefixes (lowercase) that turn a price into a "from" price.
const FROM_PREFIXES: &[&str] =
    &["starting at", "starting from", "as low as", "from", "à partir de", "a partir de", "dès", "ab"];

/// Words that separate the two ends of a range (in addition to `-`, `–`, `—`).
const RANGE_WORDS: &[&str] = &["to", "bis", "à"];

const DOLLAR_CURRENCIES: &[&str] = &[
    "USD", "CAD", "AUD", "NZD", "HKD", "SGD", "MXN", "TWD", "BSD", "BBD", "BZD", "BMD", "BND", "FJD", "GYD", "JMD",
    "KYD", "LRD", "NAD", "SBD", "SRD", "TTD", "XCD", "CLP", "COP", "ARS",
];

/// Map a currency symbol (or symbol-like prefix such as `US$`) to a code.
/// `$` means USD unless the default currency is another dollar currency; `¥` means
/// JPY unless the default is CNY; `kr` needs a Scandinavian default.
fn symbol_currency(sym: &str, default: Option<&str>) -> Option<String> {
    let code = match sym {
        "€" => "EUR",
        "£" => "GBP",
        "$" => match default {
            Some(d) if DOLLAR_CURRENCIES.contains(&d) => d,
            _ => "USD",
        },
        "¥" | "￥" => match default {
            Some("CNY") => "CNY",
            _ => "JPY",
        },
        "₹" => "INR",
        "₩" => "KRW",
        "₽" => "RUB",
        "₺" => "TRY",
        "₪" => "ILS",
        "₫" => "VND",
        "₴" => "UAH",
        "₱" => "PHP",
        "₦" => "NGN",
        "฿" => "THB",
        "us$" => "USD",
        "c$" | "ca$" => "CAD",
        "a$" | "au$" => "AUD",
        "nz$" => "NZD",
        "hk$" => "HKD",
        "s$" => "SGD",
        "r$" => "BRL",
        "mx$" => "MXN",
        "kr" => match default {
            Some(d @ ("SEK" | "NOK" | "DKK" | "ISK")) => d,
            _ => return None,
        },
        "zł" => "PLN",
        "kč" => "CZK",
        "ft" => "HUF",
        _ => return None,
    };
    Some(code.to_string())
}

fn is_symbol_char(c: char) -> bool {
    matches!(c, '€' | '£' | '$' | '¥' | '￥' | '₹' | '₩' | '₽' | '₺' | '₪' | '₫' | '₴' | '₱' | '₦' | '฿')
}

fn is_space(c: char) -> bool {
    c.is_whitespace() || c == '\u{a0}' || c == '\u{202f}'
}

#[derive(Debug, PartialEq)]
enum Tok {
    Num(String),
    Minus,
    RangeSep,
    Currency(String),
}

/// Strip a "from" prefix; returns (rest, was_from).
fn strip_from_prefix(text: &str) -> (&str, bool) {
    let lower = text.to_lowercase();
    for p in FROM_PREFIXES {
        if let Some(rest_lower) = lower.strip_prefix(p) {
            // Require a boundary after the prefix so "abc" is not "ab" + "c".
            let boundary = match rest_lower.chars().next() {
                None => false,
                Some(c) => is_space(c) || c.is_ascii_digit() || is_symbol_char(c) || c == ':',
            };
            // Lowercasing can change byte lengths for exotic characters; only accept
            // when the original has the same prefix length (ASCII/Latin-1 prefixes).
            if boundary && text.is_char_boundary(p.len()) {
                let orig_prefix = &text[..p.len()];
                if orig_prefix.to_lowercase() == *p {
                    let rest = text[p.len()..].trim_start_matches(|c: char| is_space(c) || c == ':');
                    return (rest, true);
                }
            }
        }
    }
    (text, false)
}

fn lex(text: &str, locale: &NumberLocale, default: Option<&str>) -> Result<Vec<Tok>, PriceError> {
    let chars: Vec<char> = text.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    let is_sep = |c: char| c == '.' || c == ',' || c == locale.decimal_separator || locale.is_grouping(c);
    while i < chars.len() {
        let c = chars[i];
        let next_is_digit = chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
        if c.is_ascii_digit() || ((c == '.' || c == ',') && next_is_digit) {
            let start = i;
            while i < chars.len() {
                let d = chars[i];
                let sep_then_digit = is_sep(d) && chars.get(i + 1).is_some_and(|n| n.is_ascii_digit());
                if d.is_ascii_digit() || sep_then_digit {
                    i += 1;
                } else {
                    break;
                }
            }
            toks.push(Tok::Num(chars[start..i].iter().collect()));
            continue;
        }
        if is_space(c) {
            i += 1;
            continue;
        }
        if matches!(c, '-' | '–' | '—' | '−') {
            let seen_num = toks.iter().any(|t| matches!(t, Tok::Num(_)));
            toks.push(if seen_num && c != '−' { Tok::RangeSep } else { Tok::Minus });
            i += 1;
            continue;
        }
        if is_symbol_char(c) {
            let sym = c.to_string();
            let code = symbol_currency(&sym, default)
                .ok_or_else(|| PriceError::unparseable(text, "unknown currency symbol"))?;
            toks.push(Tok::Currency(code));
            i += 1;
            continue;
        }
        if c.is_alphabetic() {
            let start = i;
            while i < chars.len() && chars[i].is_alphabetic() {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let lower = word.to_lowercase();
            // Symbol-like prefixes glued to '$' ("US$", "R$").
            if chars.get(i) == Some(&'$') {
                let sym = format!("{lower}$");
                if let Some(code) = symbol_currency(&sym, default) {
                    toks.push(Tok::Currency(code));
                    i += 1;
                    continue;
                }
                return Err(PriceError::unparseable(text, "unknown dollar prefix"));
            }
            // Swiss francs written `Fr.` or `SFr.`.
            if matches!(lower.as_str(), "fr" | "sfr") && chars.get(i) == Some(&'.') {
                toks.push(Tok::Currency("CHF".into()));
                i += 1;
                continue;
            }
            if RANGE_WORDS.contains(&lower.as_str()) {
                toks.push(Tok::RangeSep);
                continue;
            }
            if let Some(code) = symbol_currency(&lower, default) {
                toks.push(Tok::Currency(code));
                continue;
            }
            if word.chars().count() == 3 && word.chars().all(|c| c.is_ascii_alphabetic()) {
                let upper = word.to_ascii_uppercase();
                if is_iso4217(&upper) {
                    toks.push(Tok::Currency(upper));
                    continue;
                }
                if word == upper {
                    return Err(PriceError::new(
                        RejectReason::UnknownCurrency,
                        format!("unknown currency code {word:?} in {text:?}"),
                    ));
                }
            }
            if lower == "kr" {
                return Err(PriceError::new(
                    RejectReason::UnknownCurrency,
                    format!("ambiguous currency \"kr\" in {text:?} without SEK/NOK/DKK/ISK default"),
                ));
            }
            return Err(PriceError::unparseable(text, &format!("unexpected word {word:?}")));
        }
        return Err(PriceError::unparseable(text, &format!("unexpected character {c:?}")));
    }
    Ok(toks)
}

/// Parse one number token strictly according to `locale`.
fn parse_number(num: &str, locale: &NumberLocale, text: &str) -> Result<Decimal, PriceError> {
    let dec = locale.decimal_separator;
    let mut parts = num.split(dec);
    let int_part = parts.next().unwrap_or("");
    let frac_part = parts.next();
    if parts.next().is_some() {
        return Err(PriceError::unparseable(text, "more than one decimal separator"));
    }
    let mut digits = String::with_capacity(num.len() + 1);
    // Integer part: plain digits, or groups of 3 after a first group of 1-3.
    let groups: Vec<&str> = int_part.split(|c: char| locale.is_grouping(c)).collect();
    if !locale.groups_fit(&groups) {
        return Err(PriceError::unparseable(text, "invalid digit grouping"));
    }
    for g in &groups {
        if !g.chars().all(|c| c.is_ascii_digit()) {
            return Err(PriceError::unparseable(text, "separator not valid for the number locale"));
        }
        digits.push_str(g);
    }
    if let Some(frac) = frac_part {
        if frac.is_empty() || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(PriceError::unparseable(text, "separator not valid for the number locale"));
        }
        if digits.is_empty() {
            digits.push('0');
        }
        digits.push('.');
        digits.push_str(frac);
    }
    if digits.is_empty() {
        return Err(PriceError::unparseable(text, "no digits"));
    }
    Decimal::from_str(&digits).map(|d| d.normalize()).map_err(|_| PriceError::unparseable(text, "number out of range"))
}

fn resolve_default_currency(default: Option<&str>, text: &str) -> Result<String, PriceError> {
    match default.map(str::trim) {
        Some(d) if is_iso4217(&d.to_ascii_uppercase()) => Ok(d.to_ascii_uppercase()),
        Some(d) => Err(PriceError::new(
            RejectReason::UnknownCurrency,
            format!("default currency {d:?} is not an ISO 4217 code"),
        )),
        None => Err(PriceError::new(
            RejectReason::UnknownCurrency,
            format!("no currency in {text:?} and no default currency"),
        )),
    }
}

/// Check sign/zero of an already-parsed amount and normalize its scale.
pub fn validate_amount(amount: Decimal, text: &str) -> Result<Decimal, PriceError> {
    if amount.is_zero() {
        return Err(PriceError::new(RejectReason::ZeroPrice, format!("price {text:?} is zero")));
    }
    if amount.is_sign_negative() {
        return Err(PriceError::new(RejectReason::NegativePrice, format!("price {text:?} is negative")));
    }
    Ok(amount.normalize())
}

/// `49.–` or `49.--` (a dash for no cents, as Swiss shops write it) as `49.00`: the
/// dash after the decimal separator becomes `00`, so `1.299.–` still has two decimal
/// separators and is refused.
fn without_dash_cents(text: &str, decimal: char) -> std::borrow::Cow<'_, str> {
    let chars: Vec<char> = text.chars().collect();
    let is_dash = |c: Option<&char>| c.is_some_and(|c| matches!(c, '-' | '–' | '—'));
    // The dashes (one or two) of a dash-for-cents at `i`, if there is one.
    let dashes = |i: usize| {
        let dashes = if is_dash(chars.get(i + 2)) { 2 } else { 1 };
        (i > 0
            && chars[i - 1].is_ascii_digit()
            && chars[i] == decimal
            && is_dash(chars.get(i + 1))
            && !chars.get(i + 1 + dashes).is_some_and(char::is_ascii_digit))
        .then_some(dashes)
    };
    if !(0..chars.len()).any(|i| dashes(i).is_some()) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 2);
    let mut i = 0;
    while i < chars.len() {
        out.push(chars[i]);
        if let Some(n) = dashes(i) {
            out.push_str("00");
            i += n;
        }
        i += 1;
    }
    std::borrow::Cow::Owned(out)
}

/// Parse price text such as `"1,299.00"`, `"€1.299"`, `"15.00 USD"`, `"10–20 EUR"`,
/// `"ab 9,99 €"` into a [`Price`] and its ISO 4217 currency.
///
/// Currency comes from a symbol or code in the text, else from `default_currency`
/// (which must itself be a valid code). Errors carry a [`RejectReason`].
pub fn parse_price(
    text: &str,
    locale: &NumberLocale,
    default_currency: Option<&str>,
) -> Result<(Price, String), PriceError> {
    let trimmed = text.trim_matches(is_space);
    if trimmed.is_empty() {
        return Err(PriceError::new(RejectReason::EmptyPrice, "price is empty"));
    }
    if !trimmed.chars().any(|c| c.is_ascii_digit()) {
        return Err(PriceError::unparseable(text, "no digits"));
    }
    let dashless = without_dash_cents(trimmed, locale.decimal_separator);
    let (body, is_from) = strip_from_prefix(&dashless);
    let default_upper = default_currency.map(|d| d.trim().to_ascii_uppercase());
    let toks = lex(body, locale, default_upper.as_deref())?;

    let mut currency: Option<String> = None;
    let mut nums: Vec<(bool, &str)> = Vec::new(); // (negative, text)
    let mut pending_minus = false;
    let mut range_seps = 0usize;
    for t in &toks {
        match t {
            Tok::Currency(c) => {
                if let Some(prev) = &currency {
                    if prev != c {
                        return Err(PriceError::unparseable(text, "conflicting currencies"));
                    }
                }
                currency = Some(c.clone());
            }
            Tok::Minus => {
                if pending_minus || !nums.is_empty() {
                    return Err(PriceError::unparseable(text, "misplaced minus sign"));
                }
                pending_minus = true;
            }
            Tok::RangeSep => {
                if nums.len() != 1 || range_seps > 0 {
                    return Err(PriceError::unparseable(text, "misplaced range separator"));
                }
                range_seps += 1;
            }
            Tok::Num(n) => {
                if nums.len() != range_seps {
                    return Err(PriceError::unparseable(text, "two numbers without a range separator"));
                }
                nums.push((pending_minus, n.as_str()));
                pending_minus = false;
            }
        }
    }
    if pending_minus || nums.is_empty() || nums.len() != range_seps + 1 {
        return Err(PriceError::unparseable(text, "incomplete price"));
    }
    let mut amounts = Vec::with_capacity(2);
    for (neg, n) in &nums {
        let v = parse_number(n, locale, text)?;
        amounts.push(if *neg { -v } else { v });
    }
    let currency = match currency {
        Some(c) => c,
        None => resolve_default_currency(default_upper.as_deref(), text)?,
    };
    let price = match amounts.as_slice() {
        [a] => {
            let a = validate_amount(*a, text)?;
            if is_from {
                Price::from_amount(a)
            } else {
                Price::exact(a)
            }
        }
        [lo, hi] => {
            if is_from {
                return Err(PriceError::unparseable(text, "\"from\" combined with a range"));
            }
            let lo = validate_amount(*lo, text)?;
            let hi = validate_amount(*hi, text)?;
            if lo > hi {
                return Err(PriceError::unparseable(text, "range low end above high end"));
            }
            if lo == hi {
                Price::exact(lo)
            } else {
                Price::range(lo, hi)
            }
        }
        _ => return Err(PriceError::unparseable(text, "incomplete price")),
    };
    Ok((price, currency))
}

/// Parse a machine-readable price (schema.org / meta `content`, which mandates `.` as the
/// decimal point, e.g. `"1299.00"`), falling back to [`parse_price`] with `locale` when the
/// text is not a plain decimal.
pub fn parse_machine_price(
    text: &str,
    locale: &NumberLocale,
    currency: Option<&str>,
) -> Result<(Price, String), PriceError> {
    let t = text.trim();
    let plain = {
        let body = t.strip_prefix('-').unwrap_or(t);
        let mut it = body.splitn(2, '.');
        let int = it.next().unwrap_or("");
        let frac = it.next();
        !int.is_empty()
            && int.bytes().all(|b| b.is_ascii_digit())
            && frac.is_none_or(|f| !f.is_empty() && f.bytes().all(|b| b.is_ascii_digit()))
    };
    if !plain {
        return parse_price(t, locale, currency);
    }
    let amount = Decimal::from_str(t).map_err(|_| PriceError::unparseable(text, "number out of range"))?;
    let amount = validate_amount(amount, text)?;
    let cur = resolve_default_currency(currency, text)?;
    Ok((Price::exact(amount), cur))
}

/// Parse a price from a JSON number's text (e.g. `"19.99"`, `"1e3"`), exactly.
pub fn parse_json_number_price(number_text: &str, currency: Option<&str>) -> Result<(Price, String), PriceError> {
    let amount = Decimal::from_str(number_text)
        .or_else(|_| Decimal::from_scientific(number_text))
        .map_err(|_| PriceError::unparseable(number_text, "number out of range"))?;
    let amount = validate_amount(amount, number_text)?;
    let cur = resolve_default_currency(currency, number_text)?;
    Ok((Price::exact(amount), cur))
}

/// Combine a separate currency field (JSON/CSV column) with price text.
///
/// The currency field, when present, must be a valid code and acts as the default for
/// the price text; if the text names a different currency the price is rejected.
pub fn parse_price_with_currency_field(
    price_text: &str,
    currency_field: Option<&str>,
    locale: &NumberLocale,
    default_currency: Option<&str>,
) -> Result<(Price, String), PriceError> {
    let field = match currency_field.map(str::trim).filter(|s| !s.is_empty()) {
        Some(f) => {
            let code = currency_code_from_text(f)
                .ok_or_else(|| PriceError::new(RejectReason::UnknownCurrency, format!("unknown currency {f:?}")))?;
            Some(code)
        }
        None => None,
    };
    let default = field.as_deref().or(default_currency);
    let (price, cur) = parse_price(price_text, locale, default)?;
    if let Some(f) = &field {
        if *f != cur {
            return Err(PriceError::unparseable(
                price_text,
                &format!("currency field {f} disagrees with price text currency {cur}"),
            ));
        }
    }
    Ok((price, cur))
}

/// Interpret a standalone currency text: an ISO code (any case) or a known symbol.
pub fn currency_code_from_text(text: &str) -> Option<String> {
    let t = text.trim_matches(is_space);
    let upper = t.to_ascii_uppercase();
    if is_iso4217(&upper) {
        return Some(upper);
    }
    symbol_currency(&t.to_lowercase(), None)
}

impl fmt::Display for NumberLocale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "decimal {:?}, grouping {:?} ({:?})", self.decimal_separator, self.grouping_separators, self.grouping)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::record::PriceKind;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn locale_from_str() {
        assert_eq!("en".parse::<NumberLocale>().unwrap(), NumberLocale::en());
        assert_eq!("en-US".parse::<NumberLocale>().unwrap(), NumberLocale::en());
        assert_eq!("de-DE".parse::<NumberLocale>().unwrap(), NumberLocale::de());
        assert_eq!("de_AT".parse::<NumberLocale>().unwrap(), NumberLocale::de());
        assert_eq!("fr-FR".parse::<NumberLocale>().unwrap(), NumberLocale::fr());
        assert_eq!(" FR ".parse::<NumberLocale>().unwrap(), NumberLocale::fr());
        for bad in ["", "es", "english", "en-", "en-USA1", "xx-YY", "hi"] {
            let err = bad.parse::<NumberLocale>().unwrap_err();
            assert!(err.to_string().contains("unsupported number locale"), "{bad}");
        }
        for swiss in ["de-CH", "fr_CH", "it-CH", "en-CH", "de-LI"] {
            assert_eq!(swiss.parse::<NumberLocale>().unwrap(), NumberLocale::swiss(), "{swiss}");
        }
        assert_eq!("en-IN".parse::<NumberLocale>().unwrap(), NumberLocale::indian());
        assert_eq!("hi-IN".parse::<NumberLocale>().unwrap(), NumberLocale::indian());
    }

    #[test]
    fn swiss_indian_and_spaced_european_prices() {
        let (ch, india, de) = (NumberLocale::swiss(), NumberLocale::indian(), NumberLocale::de());
        let ok = |text: &str, locale: &NumberLocale, default: Option<&str>| {
            let (price, currency) = parse_price(text, locale, default).unwrap_or_else(|e| panic!("{text}: {e}"));
            (price.amount, currency)
        };
        assert_eq!(ok("1'299.00", &ch, Some("CHF")), (d("1299"), "CHF".into()));
        assert_eq!(ok("CHF 1’299.90", &ch, None), (d("1299.9"), "CHF".into()));
        assert_eq!(ok("CHF 49.–", &ch, None), (d("49"), "CHF".into()));
        assert_eq!(ok("Fr. 49.-", &ch, Some("CHF")).0, d("49"), "a dash for no cents");
        assert_eq!(ok("1 299.00", &ch, Some("CHF")).0, d("1299"));
        assert_eq!(ok("1 299,00 €", &de, None), (d("1299"), "EUR".into()));
        assert_eq!(ok("1\u{a0}299,00\u{a0}€", &de, None), (d("1299"), "EUR".into()), "a no-break space groups");
        assert_eq!(ok("ab 49,– €", &de, None).0, d("49"));
        assert_eq!(ok("₹1,29,999", &india, None), (d("129999"), "INR".into()));
        assert_eq!(ok("12,34,567.50", &india, Some("INR")).0, d("1234567.5"));
        assert_eq!(ok("1,299", &india, Some("INR")).0, d("1299"));
        assert_eq!(ok("CHF 49.--", &ch, None).0, d("49"));
        for (bad, locale) in
            [("1,299,999", &india), ("123,456", &india), ("1'29'999", &ch), ("49.–5", &ch), ("CHF 1.299.–", &ch)]
        {
            let err = parse_price(bad, locale, Some("INR")).unwrap_err();
            assert_eq!(err.reason, RejectReason::UnparseablePrice, "{bad}: {err}");
        }
    }

    /// (text, locale, default currency, amount, kind, max, currency)
    #[test]
    fn parses_valid_prices_table() {
        let en = NumberLocale::en();
        let de = NumberLocale::de();
        let fr = NumberLocale::fr();
        #[allow(clippy::type_complexity)]
        let cases: Vec<(&str, &NumberLocale, Option<&str>, &str, PriceKind, Option<&str>, &str)> = vec![
            ("1,299.00", &en, Some("USD"), "1299", PriceKind::Exact, None, "USD"),
            ("1,299", &en, Some("USD"), "1299", PriceKind::Exact, None, "USD"),
            ("1,234,567.891", &en, Some("USD"), "1234567.891", PriceKind::Exact, None, "USD"),
            ("1.299,00", &de, Some("EUR"), "1299", PriceKind::Exact, None, "EUR"),
            ("1.299", &de, Some("EUR"), "1299", PriceKind::Exact, None, "EUR"),
            ("€1.299", &de, None, "1299", PriceKind::Exact, None, "EUR"),
            ("1 299,00", &fr, Some("EUR"), "1299", PriceKind::Exact, None, "EUR"),
            ("1\u{a0}299,00\u{a0}€", &fr, None, "1299", PriceKind::Exact, None, "EUR"),
            ("1\u{202f}299,50 €", &fr, None, "1299.5", PriceKind::Exact, None, "EUR"),
            ("$15", &en, None, "15", PriceKind::Exact, None, "USD"),
            ("£3.50", &en, None, "3.5", PriceKind::Exact, None, "GBP"),
            ("¥1,500", &en, None, "1500", PriceKind::Exact, None, "JPY"),
            ("USD 15", &en, None, "15", PriceKind::Exact, None, "USD"),
            ("15.00 USD", &en, None, "15", PriceKind::Exact, None, "USD"),
            ("EUR 12,50", &de, None, "12.5", PriceKind::Exact, None, "EUR"),
            ("12,50 EUR", &fr, None, "12.5", PriceKind::Exact, None, "EUR"),
            ("CHF 49.90", &en, None, "49.9", PriceKind::Exact, None, "CHF"),
            ("$15 USD", &en, None, "15", PriceKind::Exact, None, "USD"),
            ("US$ 9.99", &en, None, "9.99", PriceKind::Exact, None, "USD"),
            ("$12.00", &en, Some("CAD"), "12", PriceKind::Exact, None, "CAD"),
            ("¥88", &en, Some("CNY"), "88", PriceKind::Exact, None, "CNY"),
            ("199 kr", &en, Some("SEK"), "199", PriceKind::Exact, None, "SEK"),
            ("0.99", &en, Some("EUR"), "0.99", PriceKind::Exact, None, "EUR"),
            (".99", &en, Some("EUR"), "0.99", PriceKind::Exact, None, "EUR"),
            ("2879.2", &en, Some("EUR"), "2879.2", PriceKind::Exact, None, "EUR"),
            ("2879.20", &en, Some("eur"), "2879.2", PriceKind::Exact, None, "EUR"),
            ("  42  ", &en, Some("EUR"), "42", PriceKind::Exact, None, "EUR"),
            ("10.00 - 20.00", &en, Some("USD"), "10", PriceKind::Range, Some("20"), "USD"),
            ("10–20 EUR", &en, None, "10", PriceKind::Range, Some("20"), "EUR"),
            ("€10,50 — €20,00", &de, None, "10.5", PriceKind::Range, Some("20"), "EUR"),
            ("$5 to $7.5", &en, None, "5", PriceKind::Range, Some("7.5"), "USD"),
            ("10 bis 20 €", &de, None, "10", PriceKind::Range, Some("20"), "EUR"),
            ("15 - 15 USD", &en, None, "15", PriceKind::Exact, None, "USD"),
            ("from 9.99", &en, Some("USD"), "9.99", PriceKind::From, None, "USD"),
            ("From $9.99", &en, None, "9.99", PriceKind::From, None, "USD"),
            ("ab 9,99 €", &de, None, "9.99", PriceKind::From, None, "EUR"),
            ("Ab 1.299,00 €", &de, None, "1299", PriceKind::From, None, "EUR"),
            ("à partir de 9,99 €", &fr, None, "9.99", PriceKind::From, None, "EUR"),
            ("À partir de 9,99 €", &fr, None, "9.99", PriceKind::From, None, "EUR"),
            ("dès 5,00 €", &fr, None, "5", PriceKind::From, None, "EUR"),
            ("starting at $5", &en, None, "5", PriceKind::From, None, "USD"),
            ("Starting from 5 GBP", &en, None, "5", PriceKind::From, None, "GBP"),
        ];
        for (text, loc, def, amount, kind, max, cur) in cases {
            let (p, c) = parse_price(text, loc, def).unwrap_or_else(|e| panic!("{text:?} failed: {e}"));
            assert_eq!(p.amount, d(amount), "{text:?}");
            assert_eq!(p.amount.to_string(), amount, "{text:?} scale");
            assert_eq!(p.kind, kind, "{text:?}");
            assert_eq!(p.max_amount, max.map(d), "{text:?}");
            assert_eq!(c, cur, "{text:?}");
        }
    }

    #[test]
    fn equal_values_normalize_identically() {
        let en = NumberLocale::en();
        let (a, _) = parse_price("2879.2", &en, Some("EUR")).unwrap();
        let (b, _) = parse_price("2879.20", &en, Some("EUR")).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.amount.to_string(), b.amount.to_string());
        assert_eq!(a.amount.scale(), 1);
    }

    #[test]
    fn rejects_bad_prices_table() {
        let en = NumberLocale::en();
        let de = NumberLocale::de();
        let fr = NumberLocale::fr();
        use RejectReason::*;
        let cases: Vec<(&str, &NumberLocale, Option<&str>, RejectReason)> = vec![
            ("", &en, Some("USD"), EmptyPrice),
            ("   ", &en, Some("USD"), EmptyPrice),
            ("\u{a0}", &fr, Some("EUR"), EmptyPrice),
            ("0", &en, Some("USD"), ZeroPrice),
            ("0.00", &en, Some("USD"), ZeroPrice),
            ("$0", &en, None, ZeroPrice),
            ("0,00 €", &de, None, ZeroPrice),
            ("-5", &en, Some("USD"), NegativePrice),
            ("-5.00 USD", &en, None, NegativePrice),
            ("USD -5", &en, None, NegativePrice),
            ("−5 €", &de, None, NegativePrice),
            ("abc", &en, Some("USD"), UnparseablePrice),
            ("12.34.56", &en, Some("USD"), UnparseablePrice),
            ("1.299,00", &en, Some("USD"), UnparseablePrice),
            ("1,299.00", &de, Some("EUR"), UnparseablePrice),
            ("12.50", &de, Some("EUR"), UnparseablePrice),
            ("1,29", &en, Some("USD"), UnparseablePrice),
            ("1,2345", &en, Some("USD"), UnparseablePrice),
            ("1 299.00", &en, Some("USD"), UnparseablePrice),
            ("1.299,00", &fr, Some("EUR"), UnparseablePrice),
            ("12,", &de, Some("EUR"), UnparseablePrice),
            ("abc 12", &en, Some("USD"), UnparseablePrice),
            ("12 34", &en, Some("USD"), UnparseablePrice),
            ("10 - 20 - 30", &en, Some("USD"), UnparseablePrice),
            ("20 - 10", &en, Some("USD"), UnparseablePrice),
            ("from 10 - 20", &en, Some("USD"), UnparseablePrice),
            ("€15 USD", &en, None, UnparseablePrice),
            ("15 % off", &en, Some("USD"), UnparseablePrice),
            ("--5", &en, Some("USD"), UnparseablePrice),
            ("5-", &en, Some("USD"), UnparseablePrice),
            ("99999999999999999999999999999999", &en, Some("USD"), UnparseablePrice),
            ("15.00 XYZ", &en, None, UnknownCurrency),
            ("15.00", &en, None, UnknownCurrency),
            ("15.00", &en, Some("EURO"), UnknownCurrency),
            ("199 kr", &en, None, UnknownCurrency),
        ];
        for (text, loc, def, reason) in cases {
            let err = parse_price(text, loc, def).err().unwrap_or_else(|| panic!("{text:?} should fail"));
            assert_eq!(err.reason, reason, "{text:?}: {}", err.message);
            assert!(err.to_string().starts_with(reason.code()), "{err}");
        }
    }

    #[test]
    fn machine_price_uses_dot_regardless_of_locale() {
        let de = NumberLocale::de();
        let (p, c) = parse_machine_price("1299.00", &de, Some("EUR")).unwrap();
        assert_eq!((p.amount, c.as_str()), (d("1299"), "EUR"));
        let (p, _) = parse_machine_price("1.299", &de, Some("EUR")).unwrap();
        assert_eq!(p.amount, d("1.299"));
        // Not a plain decimal: locale rules apply.
        let (p, _) = parse_machine_price("1.299,50 €", &de, None).unwrap();
        assert_eq!(p.amount, d("1299.5"));
        assert_eq!(parse_machine_price("-3", &de, Some("EUR")).unwrap_err().reason, RejectReason::NegativePrice);
        assert_eq!(parse_machine_price("0.0", &de, Some("EUR")).unwrap_err().reason, RejectReason::ZeroPrice);
        assert_eq!(parse_machine_price("12", &de, None).unwrap_err().reason, RejectReason::UnknownCurrency);
    }

    #[test]
    fn json_number_price() {
        let (p, c) = parse_json_number_price("19.99", Some("USD")).unwrap();
        assert_eq!((p.amount, c.as_str()), (d("19.99"), "USD"));
        let (p, _) = parse_json_number_price("1e3", Some("USD")).unwrap();
        assert_eq!(p.amount, d("1000"));
        assert_eq!(parse_json_number_price("-1", Some("USD")).unwrap_err().reason, RejectReason::NegativePrice);
        assert_eq!(parse_json_number_price("1e400", Some("USD")).unwrap_err().reason, RejectReason::UnparseablePrice);
    }

    #[test]
    fn currency_field_combination() {
        let en = NumberLocale::en();
        let (p, c) = parse_price_with_currency_field("12.50", Some("gbp"), &en, Some("USD")).unwrap();
        assert_eq!((p.amount, c.as_str()), (d("12.5"), "GBP"));
        let (_, c) = parse_price_with_currency_field("£12.50", Some("GBP"), &en, None).unwrap();
        assert_eq!(c, "GBP");
        let (_, c) = parse_price_with_currency_field("12.50", Some("€"), &en, None).unwrap();
        assert_eq!(c, "EUR");
        let (_, c) = parse_price_with_currency_field("12.50", None, &en, Some("USD")).unwrap();
        assert_eq!(c, "USD");
        assert_eq!(
            parse_price_with_currency_field("€12.50", Some("GBP"), &en, None).unwrap_err().reason,
            RejectReason::UnparseablePrice
        );
        assert_eq!(
            parse_price_with_currency_field("12.50", Some("EURO"), &en, None).unwrap_err().reason,
            RejectReason::UnknownCurrency
        );
    }

    #[test]
    fn json_number_extremes_do_not_panic() {
        for t in
            ["1e-400", "1e99999999999999999999", "-1e-30", "1E+5", "1e", "e5", "", "0.0000000000000000000000000001"]
        {
            let _ = parse_json_number_price(t, Some("USD"));
        }
        let (p, _) = parse_json_number_price("1E+5", Some("USD")).unwrap();
        assert_eq!(p.amount, d("100000"));
    }

    #[test]
    fn pseudo_random_inputs_do_not_panic() {
        let alphabet: Vec<char> = "0123456789.,- \u{a0}\u{202f}€$£¥–abUSDEURkr$:%àÀ".chars().collect();
        let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
        let locales = [NumberLocale::en(), NumberLocale::de(), NumberLocale::fr()];
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 12) as usize;
            let s: String = (0..len).map(|i| alphabet[((seed >> (i * 5)) as usize) % alphabet.len()]).collect();
            for loc in &locales {
                if let Ok((p, c)) = parse_price(&s, loc, Some("EUR")) {
                    assert!(p.amount > Decimal::ZERO, "{s:?}");
                    assert!(is_iso4217(&c), "{s:?}");
                }
            }
        }
    }

    #[test]
    fn never_panics_on_odd_input() {
        let inputs = [
            "€",
            "$$",
            "-",
            "–",
            "1-",
            "ab",
            "ab9",
            "abc9",
            "à",
            "𝟙𝟚𝟛",
            "١٢٣",
            "1\u{0}2",
            "..",
            ",,,",
            "1..2",
            "US$",
            "XX$5",
            "İ5",
            "ß5",
            "from",
            "from ",
            "10 to",
            "kr",
            "5 ¥ ¥",
        ];
        for loc in [NumberLocale::en(), NumberLocale::de(), NumberLocale::fr()] {
            for i in inputs {
                let _ = parse_price(i, &loc, Some("EUR"));
                let _ = parse_machine_price(i, &loc, Some("EUR"));
            }
        }
        assert_eq!(
            parse_price("abc9", &NumberLocale::en(), Some("EUR")).unwrap_err().reason,
            RejectReason::UnparseablePrice
        );
    }
}
