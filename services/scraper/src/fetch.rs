//! Fetching one source of each kind into records, rates and rejects. One failing
//! source never fails the others: every error ends up in that source's [`SourceOutput`].

use std::collections::{BTreeMap, HashSet};

use ppmt_domain::manifest::sha256_hex;
use ppmt_domain::record::FxRateRecord;
use url::Url;

use crate::extract::csv_feed::parse_csv_feed;
use crate::extract::ecb_fx::parse_ecb_daily;
use crate::extract::html_product::extract_product;
use crate::extract::json_fields::extract_json_page;
use crate::extract::merchant_feed::parse_merchant_feed;
use crate::extract::record::{Extracted, RecordReject, RejectReason, ScrapedRecord};
use crate::extract::robots::Robots;
use crate::http::{FetchError, Fetcher, ROBOTS_TOKEN};
use crate::pagination::PageView;
use crate::sources::{Source, SourceKind};

/// What one source yielded.
#[derive(Debug, Default)]
pub struct SourceOutput {
    pub records: Vec<ScrapedRecord>,
    pub fx_rates: Vec<FxRateRecord>,
    pub rejects: Vec<RecordReject>,
    /// Documents fetched (pages, feeds, product pages).
    pub pages: u64,
    /// Product pages robots.txt told us not to fetch.
    pub disallowed_by_robots: Vec<String>,
    /// Why the source stopped early, if it did. Records read before that are kept.
    pub error: Option<String>,
}

impl SourceOutput {
    fn fail(&mut self, error: impl ToString) {
        self.error.get_or_insert(error.to_string());
    }

    /// Keeps a document's records and rejects, each marked with the document's URL; a
    /// document that could not be read at all (a missing column, a wrong items pointer,
    /// bad encoding) ends the source with that reason. Returns the items the document had.
    fn absorb(&mut self, document: &Url, extracted: Extracted) -> usize {
        let items = extracted.records.len()
            + extracted.rejects.iter().filter(|r| r.reason != RejectReason::MalformedDocument).count();
        if let Some(broken) = extracted.rejects.iter().find(|r| r.reason == RejectReason::MalformedDocument) {
            self.fail(broken);
        }
        self.keep(document, extracted);
        items
    }

    /// Keeps records and rejects read from `document`, marked with its URL.
    fn keep(&mut self, document: &Url, mut extracted: Extracted) {
        let url = document.as_str();
        extracted.records.iter_mut().for_each(|r| r.document = Some(url.to_owned()));
        extracted.rejects.iter_mut().for_each(|r| r.document = Some(url.to_owned()));
        self.records.extend(extracted.records);
        self.rejects.extend(extracted.rejects);
    }
}

fn parse_url(text: &str) -> Result<Url, String> {
    Url::parse(text).map_err(|e| format!("`{text}` is not a URL: {e}"))
}

/// Fetches everything `source` offers.
pub async fn fetch_source(source: &Source, fetcher: &Fetcher) -> SourceOutput {
    let mut out = SourceOutput::default();
    let currency = source.config.default_currency.as_deref();
    let single = |out: &mut SourceOutput| -> Option<Url> {
        match source.config.url.as_deref().map(parse_url) {
            Some(Ok(u)) => Some(u),
            Some(Err(e)) => {
                out.fail(e);
                None
            }
            None => {
                out.fail("no url");
                None
            }
        }
    };
    match source.config.kind {
        SourceKind::JsonApi => {
            if let Some(url) = single(&mut out) {
                fetch_json_api(source, fetcher, url, &mut out).await;
            }
        }
        SourceKind::CsvFeed => {
            let Some(url) = single(&mut out) else {
                return out;
            };
            let Some(mapping) = source.config.csv.as_ref() else {
                return out;
            };
            match fetcher.get(&url).await {
                Ok(doc) => {
                    out.pages += 1;
                    out.absorb(&url, parse_csv_feed(&doc.body, mapping, &source.locale, currency));
                }
                Err(e) => out.fail(e),
            }
        }
        SourceKind::MerchantFeed => {
            let Some(url) = single(&mut out) else {
                return out;
            };
            match fetcher.get(&url).await {
                Ok(doc) => {
                    out.pages += 1;
                    match parse_merchant_feed(&doc.body[..], &source.locale, currency, doc.fetched_at) {
                        Ok(extracted) => {
                            out.absorb(&url, extracted);
                        }
                        Err(e) => {
                            out.rejects.push(RecordReject::new(
                                url.as_str(),
                                RejectReason::MalformedDocument,
                                e.to_string(),
                            ));
                            out.fail(format!("feed {url}: {e}"));
                        }
                    }
                }
                Err(e) => out.fail(e),
            }
        }
        SourceKind::EcbFx => {
            let Some(url) = single(&mut out) else {
                return out;
            };
            match fetcher.get(&url).await {
                Ok(doc) => {
                    out.pages += 1;
                    match parse_ecb_daily(&doc.body[..]) {
                        Ok(parsed) => {
                            out.fx_rates = parsed.rates;
                            for why in parsed.skipped {
                                out.rejects.push(RecordReject::new(url.as_str(), RejectReason::UnknownCurrency, why));
                            }
                        }
                        Err(e) => out.fail(format!("rates {url}: {e}")),
                    }
                }
                Err(e) => out.fail(e),
            }
        }
        SourceKind::HtmlPages => fetch_pages(source, fetcher, &mut out).await,
    }
    out
}

async fn fetch_json_api(source: &Source, fetcher: &Fetcher, base: Url, out: &mut SourceOutput) {
    let Some(mapping) = source.config.mapping.as_ref() else {
        return;
    };
    let pagination = source.config.pagination.as_ref();
    let mut url = pagination.map(|p| p.first_url(&base)).unwrap_or(base);
    let mut seen_urls = HashSet::from([url.to_string()]);
    let mut previous_digest: Option<String> = None;
    loop {
        if out.pages == u64::from(source.config.max_pages) {
            out.fail(format!("stopped at the page cap of {} pages; {url} was not fetched", source.config.max_pages));
            return;
        }
        let page = match fetcher.get(&url).await {
            Ok(page) => page,
            Err(e) => return out.fail(e),
        };
        out.pages += 1;
        let locator = format!("page {} ({url})", out.pages);
        let body: serde_json::Value = match serde_json::from_slice(&page.body) {
            Ok(v) => v,
            Err(e) => {
                out.rejects.push(RecordReject::new(
                    locator.clone(),
                    RejectReason::MalformedDocument,
                    format!("invalid JSON: {e}"),
                ));
                return out.fail(format!("{locator}: invalid JSON: {e}"));
            }
        };
        let digest = sha256_hex(&page.body);
        if previous_digest.as_deref() == Some(digest.as_str()) {
            return out.fail(format!("pagination loop: {locator} is the same as the page before"));
        }
        previous_digest = Some(digest);
        let extracted =
            extract_json_page(&body, mapping, &source.locale, source.config.default_currency.as_deref(), &locator);
        let items = out.absorb(&url, extracted);
        if out.error.is_some() {
            return;
        }
        let Some(pagination) = pagination else { return };
        let view = PageView { url: &page.url, body: &body, link_header: page.link.as_deref(), items };
        match pagination.next_url(out.pages - 1, &view) {
            Ok(None) => return,
            Ok(Some(next)) => {
                if !seen_urls.insert(next.to_string()) {
                    return out.fail(format!("pagination loop: page {} would fetch {next} again", out.pages + 1));
                }
                url = next;
            }
            Err(e) => return out.fail(format!("{locator}: {e}")),
        }
    }
}

/// robots.txt of each origin, fetched once. A missing file (4xx) allows everything; an
/// unreachable one (5xx, timeout) disallows everything, as crawlers conventionally do.
async fn robots_for(fetcher: &Fetcher, origin: &Url, cache: &mut BTreeMap<String, Option<Robots>>) -> Option<Robots> {
    let key = origin.origin().ascii_serialization();
    if let Some(cached) = cache.get(&key) {
        return cached.clone();
    }
    let robots = match origin.join("/robots.txt") {
        Ok(robots_url) => match fetcher.get(&robots_url).await {
            Ok(doc) => Some(Robots::parse(&String::from_utf8_lossy(&doc.body))),
            Err(FetchError::Status { status, .. }) if (400..500).contains(&status) => Some(Robots::parse("")),
            Err(e) => {
                tracing::warn!(error = %e, "robots.txt unreachable; not fetching this site");
                None
            }
        },
        Err(_) => None,
    };
    cache.insert(key, robots.clone());
    robots
}

async fn fetch_pages(source: &Source, fetcher: &Fetcher, out: &mut SourceOutput) {
    let mut robots_cache = BTreeMap::new();
    let mut allowed = Vec::new();
    let mut crawl_delay: Option<std::time::Duration> = None;
    for text in &source.config.urls {
        let url = match parse_url(text) {
            Ok(u) => u,
            Err(e) => {
                out.fail(e);
                continue;
            }
        };
        match robots_for(fetcher, &url, &mut robots_cache).await {
            // Rules apply to the path with its query (`Disallow: /search?`).
            Some(robots) if robots.is_allowed(ROBOTS_TOKEN, &url[url::Position::BeforePath..]) => {
                crawl_delay = crawl_delay.max(robots.crawl_delay(ROBOTS_TOKEN));
                allowed.push(url);
            }
            _ => out.disallowed_by_robots.push(url.to_string()),
        }
    }
    // A site that asks for a crawl delay gets its pages one at a time, that far apart.
    let pages = match crawl_delay {
        None => futures::future::join_all(allowed.iter().map(|url| fetcher.get(url))).await,
        Some(delay) => {
            let mut pages = Vec::with_capacity(allowed.len());
            for (i, url) in allowed.iter().enumerate() {
                if i > 0 {
                    tokio::time::sleep(delay).await;
                }
                pages.push(fetcher.get(url).await);
            }
            pages
        }
    };
    for (url, page) in allowed.iter().zip(pages) {
        match page {
            Ok(doc) => {
                out.pages += 1;
                let html = String::from_utf8_lossy(&doc.body);
                match extract_product(
                    &html,
                    url.as_str(),
                    &source.locale,
                    source.config.default_currency.as_deref(),
                    source.css.as_ref(),
                ) {
                    // One page's problems are that page's rejects, not the source's error.
                    Ok(extracted) => out.keep(url, extracted),
                    Err(reject) => out.keep(url, Extracted { records: Vec::new(), rejects: vec![reject] }),
                }
            }
            Err(e) => {
                out.rejects.push(RecordReject::new(format!("page {url}"), RejectReason::FetchFailed, e.to_string()))
            }
        }
    }
    if !out.disallowed_by_robots.is_empty() {
        tracing::info!(
            source = source.id(),
            pages = out.disallowed_by_robots.len(),
            "pages disallowed by robots.txt were skipped"
        );
    }
}
