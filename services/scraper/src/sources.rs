//! The sources file: every source the scraper fetches, as configuration. Adding a source
//! of an existing kind needs no code.
//!
//! TOML, one `[[source]]` table per source. `${NAME}` anywhere in the file is replaced by
//! the environment variable `NAME` (so hosts can differ per environment); secrets are
//! never in the file, only the name of one (see [`AuthConfig`]). Every problem is
//! reported at once, naming the source and the field.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use crate::extract::csv_feed::CsvMapping;
use crate::extract::html_product::CssFallback;
use crate::extract::json_fields::JsonMapping;
use crate::extract::price::{is_iso4217, NumberLocale};
use crate::extract::record::AVAILABILITY_VALUES;
use crate::pagination::Pagination;

/// What a source is, and so how it is fetched and parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A JSON API, paginated, fields picked by JSON pointer.
    JsonApi,
    /// Product pages: JSON-LD, microdata, OpenGraph, then CSS selectors.
    HtmlPages,
    /// A Google Merchant Center feed (RSS 2.0 or Atom with `g:` fields).
    MerchantFeed,
    /// A CSV product feed.
    CsvFeed,
    /// The ECB's daily euro reference rates (`eurofxref-daily.xml`).
    EcbFx,
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::JsonApi => "json_api",
            SourceKind::HtmlPages => "html_pages",
            SourceKind::MerchantFeed => "merchant_feed",
            SourceKind::CsvFeed => "csv_feed",
            SourceKind::EcbFx => "ecb_fx",
        }
    }
}

/// Credentials sent as a request header. `secret` names a secret: under Lambda it is read
/// from AWS Secrets Manager (through the Parameters and Secrets extension); elsewhere from
/// the environment variable of that name.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// Header to send, `Authorization` unless set.
    #[serde(default = "default_auth_header")]
    pub header: String,
    /// Text before the secret, e.g. `"Bearer "`.
    #[serde(default)]
    pub prefix: String,
    /// Name of the secret holding the credential.
    pub secret: String,
}

fn default_auth_header() -> String {
    "Authorization".into()
}

/// CSS selectors tried last on product pages.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CssConfig {
    pub price: String,
    pub currency: Option<String>,
    pub name: Option<String>,
    pub availability: Option<String>,
}

fn default_locale() -> String {
    "en".into()
}
const fn default_rate_limit_per_sec() -> f64 {
    2.0
}
const fn default_burst() -> u32 {
    2
}
const fn default_timeout_secs() -> u64 {
    20
}
const fn default_concurrency() -> usize {
    2
}
const fn default_max_retries() -> u32 {
    3
}
const fn default_max_pages() -> u32 {
    100
}

/// One source, as written in the file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// Names the source in keys and reports: lower-case letters, digits, `_` and `-`.
    pub id: String,
    pub kind: SourceKind,
    /// The endpoint (all kinds but `html_pages`).
    pub url: Option<String>,
    /// The product pages (`html_pages` only).
    #[serde(default)]
    pub urls: Vec<String>,
    #[serde(default)]
    pub auth: Option<AuthConfig>,
    /// Steady request rate allowed to this source.
    #[serde(default = "default_rate_limit_per_sec")]
    pub rate_limit_per_sec: f64,
    /// Requests allowed in a burst above the steady rate.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Whole-request timeout.
    #[serde(default = "default_timeout_secs")]
    pub timeout_secs: u64,
    /// Requests in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    /// Retries after the first try, on timeouts, 429 and 5xx.
    #[serde(default = "default_max_retries")]
    pub max_retries: u32,
    /// Currency of prices that do not state one.
    pub default_currency: Option<String>,
    /// How numbers are written: `en` (1,299.00), `de` (1.299,00), `fr` (1 299,00), a
    /// Swiss region such as `de-CH` (1'299.00), or `en-IN` (1,29,999.00).
    #[serde(default = "default_locale")]
    pub locale: String,
    /// The source's own availability wordings, each mapped to one of
    /// [`AVAILABILITY_VALUES`] (keys compared case-insensitively), e.g.
    /// `{ "lieferbar" = "in_stock", "ausverkauft" = "out_of_stock" }`. Wordings the
    /// scraper already knows (`in stock`, schema.org URLs, …) are read as it knows them.
    #[serde(default)]
    pub availability_values: BTreeMap<String, String>,
    /// Pagination of a `json_api` source; none when absent.
    #[serde(default)]
    pub pagination: Option<Pagination>,
    /// Most pages fetched from one source; reaching it is recorded as an error.
    #[serde(default = "default_max_pages")]
    pub max_pages: u32,
    /// Field pointers of a `json_api` source.
    pub mapping: Option<JsonMapping>,
    /// Dialect and columns of a `csv_feed` source.
    pub csv: Option<CsvMapping>,
    /// CSS fallback of an `html_pages` source.
    pub css: Option<CssConfig>,
}

/// A source checked and ready to fetch.
#[derive(Debug, Clone)]
pub struct Source {
    pub config: SourceConfig,
    pub locale: NumberLocale,
    pub css: Option<CssFallback>,
    /// Why this source cannot be scraped (an unsupported locale): it then fails alone,
    /// with this reason, and the other sources of the file are scraped as usual.
    pub unusable: Option<String>,
}

impl Source {
    pub fn id(&self) -> &str {
        &self.config.id
    }

    /// A record's availability in the source's own wording, mapped to ours; any other
    /// value as it is.
    pub fn map_availability(&self, availability: String) -> String {
        self.config
            .availability_values
            .iter()
            .find(|(wording, _)| wording.trim().to_lowercase() == availability.trim().to_lowercase())
            .map_or(availability, |(_, value)| value.clone())
    }

    pub fn timeout(&self) -> Duration {
        Duration::from_secs(self.config.timeout_secs)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesFile {
    source: Vec<toml::Table>,
}

fn one_line(e: &toml::de::Error) -> String {
    e.to_string().split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A sources file that cannot be used; lists every problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("sources file {path}: {}", .problems.join("; "))]
pub struct SourcesError {
    pub path: String,
    pub problems: Vec<String>,
}

/// Replaces `${NAME}` with `vars[NAME]`; a missing variable is a problem.
fn interpolate(text: &str, vars: &BTreeMap<String, String>, problems: &mut Vec<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        match after.find('}') {
            Some(end) => {
                let name = &after[..end];
                match vars.get(name) {
                    Some(value) => out.push_str(value),
                    None => problems.push(format!("environment variable `{name}` used in the file is not set")),
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses and checks a sources file. `vars` is the environment for `${NAME}`.
pub fn parse_sources(path: &str, text: &str, vars: &BTreeMap<String, String>) -> Result<Vec<Source>, SourcesError> {
    let mut problems = Vec::new();
    let text = interpolate(text, vars, &mut problems);
    let fail = |problems: Vec<String>| SourcesError { path: path.to_owned(), problems };
    if !problems.is_empty() {
        return Err(fail(problems));
    }
    let file: SourcesFile = toml::from_str(&text).map_err(|e| fail(vec![one_line(&e)]))?;
    // Each source on its own, so a mistake in one does not hide those in the others.
    let mut configs = Vec::new();
    for (i, table) in file.source.into_iter().enumerate() {
        let name =
            table.get("id").and_then(|v| v.as_str()).map_or_else(|| format!("#{}", i + 1), |id| format!("`{id}`"));
        match SourceConfig::deserialize(table) {
            Ok(config) => configs.push(config),
            Err(e) => problems.push(format!("source {name}: {}", one_line(&e))),
        }
    }
    let mut sources = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for config in configs {
        let before = problems.len();
        let mut problem =
            |field: &str, why: String| problems.push(format!("source `{}`, field `{field}`: {why}", config.id));
        if config.id.is_empty()
            || !config.id.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
        {
            problem("id", "must be lower-case letters, digits, `_` or `-`".into());
        }
        if !seen.insert(config.id.clone()) {
            problem("id", "is used by another source".into());
        }
        let kind = config.kind;
        let wants_url = kind != SourceKind::HtmlPages;
        if wants_url && config.url.is_none() {
            problem("url", format!("is required for kind {}", kind.as_str()));
        }
        if !wants_url && config.urls.is_empty() {
            problem("urls", "html_pages needs at least one page".into());
        }
        if !wants_url && config.url.is_some() {
            problem("url", "html_pages takes `urls`, a list".into());
        }
        if wants_url && !config.urls.is_empty() {
            problem("urls", format!("only html_pages takes a list; kind {} takes `url`", kind.as_str()));
        }
        for u in config.url.iter().chain(&config.urls) {
            if let Err(e) = url::Url::parse(u) {
                problem("url", format!("`{u}` is not a URL: {e}"));
            }
        }
        let misplaced = [
            ("mapping", config.mapping.is_some(), SourceKind::JsonApi),
            ("csv", config.csv.is_some(), SourceKind::CsvFeed),
            ("css", config.css.is_some(), SourceKind::HtmlPages),
            ("pagination", config.pagination.is_some(), SourceKind::JsonApi),
        ];
        for (field, present, owner) in misplaced {
            if present && kind != owner {
                problem(field, format!("is not used by kind {}", kind.as_str()));
            }
        }
        if kind == SourceKind::JsonApi && config.mapping.is_none() {
            problem("mapping", "json_api needs a mapping of JSON pointers".into());
        }
        if kind == SourceKind::CsvFeed && config.csv.is_none() {
            problem("csv", "csv_feed needs its column mapping".into());
        }
        if !(config.rate_limit_per_sec > 0.0 && config.rate_limit_per_sec.is_finite()) {
            problem("rate_limit_per_sec", "must be a positive number".into());
        }
        if config.burst == 0 {
            problem("burst", "must be at least 1".into());
        }
        if config.concurrency == 0 {
            problem("concurrency", "must be at least 1".into());
        }
        if config.timeout_secs == 0 {
            problem("timeout_secs", "must be at least 1".into());
        }
        if config.max_pages == 0 {
            problem("max_pages", "must be at least 1".into());
        }
        if let Some(c) = &config.default_currency {
            if !is_iso4217(c) {
                problem("default_currency", format!("`{c}` is not an ISO 4217 code"));
            }
        }
        for (wording, value) in &config.availability_values {
            if !AVAILABILITY_VALUES.contains(&value.as_str()) {
                problem(
                    "availability_values",
                    format!("`{wording}` maps to `{value}`, not one of {}", AVAILABILITY_VALUES.join(", ")),
                );
            }
        }
        // A locale this scraper cannot read fails this source alone, at scrape time.
        let (locale, unusable) = match config.locale.parse::<NumberLocale>() {
            Ok(locale) => (locale, None),
            Err(e) => (NumberLocale::en(), Some(format!("source {}: locale: {e}", config.id))),
        };
        let css = config.css.as_ref().and_then(|c| {
            CssFallback::new(&c.price, c.currency.as_deref(), c.name.as_deref(), c.availability.as_deref())
                .map_err(|e| problem("css", e.to_string()))
                .ok()
        });
        if problems.len() == before {
            sources.push(Source { config, locale, css, unusable });
        }
    }
    if sources.is_empty() && problems.is_empty() {
        problems.push("lists no source".into());
    }
    if problems.is_empty() {
        Ok(sources)
    } else {
        Err(fail(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars() -> BTreeMap<String, String> {
        BTreeMap::from([("BASE".to_string(), "http://127.0.0.1:9".to_string())])
    }

    const GOOD: &str = r#"
[[source]]
id = "acme_api"
kind = "json_api"
url = "${BASE}/api/products"
default_currency = "USD"
rate_limit_per_sec = 5
pagination = { style = "page_number", param = "page" }
mapping = { items = "/products", product_id = "/sku", price = "/price" }
auth = { secret = "ACME_TOKEN", prefix = "Bearer " }

[[source]]
id = "shop_pages"
kind = "html_pages"
urls = ["${BASE}/p/1.html"]
locale = "de"
css = { price = ".price" }

[[source]]
id = "partner_csv"
kind = "csv_feed"
url = "${BASE}/feed.csv"
csv = { delimiter = ";", encoding = "latin1", product_id = "sku", price = "preis" }

[[source]]
id = "ecb"
kind = "ecb_fx"
url = "${BASE}/eurofxref-daily.xml"
"#;

    #[test]
    fn parses_one_source_of_each_kind_with_defaults() {
        let sources = parse_sources("s.toml", GOOD, &vars()).unwrap();
        assert_eq!(sources.len(), 4);
        assert_eq!(sources[0].config.url.as_deref(), Some("http://127.0.0.1:9/api/products"));
        assert_eq!(sources[0].config.max_retries, 3);
        assert_eq!(sources[0].config.auth.as_ref().map(|a| a.header.as_str()), Some("Authorization"));
        assert_eq!(sources[1].locale, NumberLocale::de());
        assert_eq!(sources[2].config.csv.as_ref().map(|c| c.delimiter), Some(b';'));
    }

    #[test]
    fn names_every_bad_field() {
        let bad = r#"
[[source]]
id = "Bad Id"
kind = "json_api"
default_currency = "EURO"
rate_limit_per_sec = 0
csv = { product_id = "a", price = "b" }
"#;
        let err = parse_sources("s.toml", bad, &vars()).unwrap_err();
        let text = err.to_string();
        for needle in [
            "field `id`",
            "field `url`",
            "field `mapping`",
            "field `csv`",
            "field `default_currency`",
            "field `rate_limit_per_sec`",
        ] {
            assert!(text.contains(needle), "{needle} missing in {text}");
        }
    }

    #[test]
    fn a_mistake_in_one_source_does_not_hide_another() {
        let two = "[[source]]\nid = \"a\"\nkind = \"ftp\"\nurl = \"http://x\"\n\n[[source]]\nid = \"b\"\nkind = \"json_api\"\nurl = \"http://x\"\nmapping = { items = \"\", product_id = \"/id\", price = \"/p\", prise = \"/q\" }\n";
        let text = parse_sources("s.toml", two, &vars()).unwrap_err().to_string();
        assert!(text.contains("source `a`") && text.contains("ftp"), "{text}");
        assert!(text.contains("source `b`") && text.contains("prise"), "{text}");
    }

    #[test]
    fn a_regional_locale_is_read_and_an_unknown_one_fails_its_source_alone() {
        let file = "[[source]]\nid = \"swiss\"\nkind = \"ecb_fx\"\nurl = \"http://x\"\nlocale = \"de-CH\"\n\n\
                    [[source]]\nid = \"odd\"\nkind = \"ecb_fx\"\nurl = \"http://x\"\nlocale = \"xx-YY\"\n";
        let sources = parse_sources("s.toml", file, &vars()).unwrap();
        assert_eq!((sources[0].locale.clone(), sources[0].unusable.clone()), (NumberLocale::swiss(), None));
        let why = sources[1].unusable.clone().unwrap();
        assert!(why.starts_with("source odd: locale: unsupported number locale \"xx-YY\""), "{why}");
    }

    #[test]
    fn a_source_maps_its_own_availability_wordings() {
        let file = "[[source]]\nid = \"de_shop\"\nkind = \"ecb_fx\"\nurl = \"http://x\"\n\
                    availability_values = { \"Lieferbar\" = \"in_stock\", \"ausverkauft\" = \"out_of_stock\" }\n";
        let source = &parse_sources("s.toml", file, &vars()).unwrap()[0];
        assert_eq!(source.map_availability("lieferbar".into()), "in_stock");
        assert_eq!(source.map_availability("Ausverkauft".into()), "out_of_stock");
        assert_eq!(source.map_availability("in_stock".into()), "in_stock");
        let bad = file.replace("\"in_stock\"", "\"plenty\"");
        let err = parse_sources("s.toml", &bad, &vars()).unwrap_err().to_string();
        assert!(err.contains("`Lieferbar` maps to `plenty`, not one of in_stock"), "{err}");
    }

    #[test]
    fn unknown_fields_and_missing_variables_are_errors() {
        let typo = "[[source]]\nid = \"a\"\nkind = \"ecb_fx\"\nurl = \"http://x\"\nrate_limt = 3\n";
        let err = parse_sources("s.toml", typo, &vars()).unwrap_err();
        assert!(err.to_string().contains("rate_limt"), "{err}");
        let missing = "[[source]]\nid = \"a\"\nkind = \"ecb_fx\"\nurl = \"${NOPE}/x\"\n";
        let err = parse_sources("s.toml", missing, &vars()).unwrap_err();
        assert!(err.to_string().contains("`NOPE`"), "{err}");
    }
}
