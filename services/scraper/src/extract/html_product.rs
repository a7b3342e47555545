//! Product extraction from an HTML product page.
//!
//! Sources are tried in priority order, and the first one that yields at least one
//! usable priced record wins:
//! 1. schema.org JSON-LD (`<script type="application/ld+json">`): single object,
//!    array or `@graph`, `@type` string or array, `Product` with `offers` as `Offer`,
//!    array of offers, or `AggregateOffer` (`lowPrice`/`highPrice` → range);
//! 2. microdata (`itemscope itemtype=".../Product"` with `itemprop`s, offers nested);
//! 3. Open Graph / product meta tags (`product:price:amount`, `og:price:amount`, …);
//! 4. caller-supplied CSS selectors ([`CssFallback`]).
//!
//! The machine-readable sources (1–3) must agree: when another of them states a different
//! price or currency for the same product, the page gives no record but a
//! `PRICE_CONFLICT` reject naming both values and where each came from (`19.9` and
//! `19.90` agree).
//!
//! Machine-readable values (JSON-LD, `content` attributes, meta tags) use `.` as the
//! decimal point as schema.org requires, falling back to the page locale when they are
//! not plain decimals; visible text uses the page locale. A missing currency is taken
//! from the other sources on the page, then `default_currency`. Invalid JSON-LD blocks
//! are skipped. A page with no price at all is an `Err` with `MISSING_FIELD`.

use crate::extract::price::{currency_code_from_text, parse_machine_price, parse_price, NumberLocale, PriceError};
use crate::extract::record::{
    non_empty, normalize_availability, Extracted, Price, RawRecord, RecordReject, RejectReason, ScrapedRecord,
};
use scraper::{ElementRef, Html, Selector};
use serde_json::{Map, Value};

/// CSS selectors applied as the last resort. Build with [`CssFallback::new`], which
/// validates every selector.
#[derive(Debug, Clone, PartialEq)]
pub struct CssFallback {
    price: String,
    currency: Option<String>,
    name: Option<String>,
    availability: Option<String>,
    price_sel: Selector,
    currency_sel: Option<Selector>,
    name_sel: Option<Selector>,
    availability_sel: Option<Selector>,
}

/// An invalid CSS selector given to [`CssFallback::new`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid CSS selector {selector:?}: {message}")]
pub struct CssSelectorError {
    pub selector: String,
    pub message: String,
}

fn compile(sel: &str) -> Result<Selector, CssSelectorError> {
    Selector::parse(sel).map_err(|e| CssSelectorError { selector: sel.to_string(), message: e.to_string() })
}

impl CssFallback {
    /// Validate and compile the selectors.
    pub fn new(
        price: &str,
        currency: Option<&str>,
        name: Option<&str>,
        availability: Option<&str>,
    ) -> Result<Self, CssSelectorError> {
        Ok(CssFallback {
            price_sel: compile(price)?,
            currency_sel: currency.map(compile).transpose()?,
            name_sel: name.map(compile).transpose()?,
            availability_sel: availability.map(compile).transpose()?,
            price: price.to_string(),
            currency: currency.map(str::to_string),
            name: name.map(str::to_string),
            availability: availability.map(str::to_string),
        })
    }

    /// The price selector text.
    pub fn price(&self) -> &str {
        &self.price
    }
    /// The currency selector text.
    pub fn currency(&self) -> Option<&str> {
        self.currency.as_deref()
    }
    /// The name selector text.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }
    /// The availability selector text.
    pub fn availability(&self) -> Option<&str> {
        self.availability.as_deref()
    }
}

/// One product/offer as found in one source, before price parsing.
#[derive(Debug, Clone, Default)]
struct Candidate {
    sku: Option<String>,
    gtin: Option<String>,
    mpn: Option<String>,
    name: Option<String>,
    brand: Option<String>,
    category: Option<String>,
    url: Option<String>,
    availability: Option<String>,
    currency: Option<String>,
    price: Option<String>,
    /// True when `price` is machine-readable (schema.org dot decimal).
    price_machine: bool,
    sale_price: Option<String>,
    low: Option<String>,
    high: Option<String>,
    /// An AggregateOffer's `offerCount`.
    offer_count: Option<String>,
}

impl Candidate {
    fn has_price(&self) -> bool {
        self.price.is_some() || self.sale_price.is_some() || self.low.is_some() || self.high.is_some()
    }

    /// What a reject of this offer keeps.
    fn readable(&self) -> RawRecord {
        RawRecord {
            product_id: self.sku.clone().or_else(|| self.gtin.clone()).or_else(|| self.mpn.clone()),
            name: self.name.clone(),
            brand: self.brand.clone(),
            gtin: self.gtin.clone(),
            mpn: self.mpn.clone(),
            category: self.category.clone(),
            price: self.sale_price.clone().or_else(|| self.price.clone()).or_else(|| self.low.clone()),
            currency: self.currency.clone(),
            availability: self.availability.clone(),
            url: self.url.clone(),
            ..RawRecord::default()
        }
    }

    /// Fill empty fields from `other` (first value wins).
    fn merge_missing(&mut self, other: &Candidate) {
        fn fill(a: &mut Option<String>, b: &Option<String>) {
            if a.is_none() {
                a.clone_from(b);
            }
        }
        fill(&mut self.sku, &other.sku);
        fill(&mut self.gtin, &other.gtin);
        fill(&mut self.mpn, &other.mpn);
        fill(&mut self.name, &other.name);
        fill(&mut self.brand, &other.brand);
        fill(&mut self.category, &other.category);
        fill(&mut self.url, &other.url);
        fill(&mut self.availability, &other.availability);
        fill(&mut self.currency, &other.currency);
        if self.price.is_none() && other.price.is_some() {
            self.price.clone_from(&other.price);
            self.price_machine = other.price_machine;
        }
        fill(&mut self.sale_price, &other.sale_price);
        fill(&mut self.low, &other.low);
        fill(&mut self.high, &other.high);
        fill(&mut self.offer_count, &other.offer_count);
    }
}

fn set_first(slot: &mut Option<String>, value: Option<String>) {
    if slot.is_none() {
        *slot = value;
    }
}

fn collapse_ws(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------- JSON-LD

const PRODUCT_TYPES: &[&str] = &["Product", "IndividualProduct", "ProductModel", "SomeProducts"];

fn type_names(o: &Map<String, Value>) -> Vec<&str> {
    let mut out = Vec::new();
    match o.get("@type") {
        Some(Value::String(s)) => out.push(s.as_str()),
        Some(Value::Array(a)) => out.extend(a.iter().filter_map(Value::as_str)),
        _ => {}
    }
    out.into_iter().map(|s| s.rsplit(['/', ':', '#']).next().unwrap_or(s)).collect()
}

fn has_type(o: &Map<String, Value>, wanted: &[&str]) -> bool {
    type_names(o).iter().any(|t| wanted.contains(t))
}

fn collect_products<'a>(v: &'a Value, out: &mut Vec<&'a Map<String, Value>>, depth: usize) {
    if depth > 8 {
        return;
    }
    match v {
        Value::Array(a) => a.iter().for_each(|x| collect_products(x, out, depth + 1)),
        Value::Object(o) => {
            if has_type(o, PRODUCT_TYPES) {
                out.push(o);
            } else if let Some(m) = o.get("mainEntity") {
                collect_products(m, out, depth + 1);
            }
            if let Some(g) = o.get("@graph") {
                collect_products(g, out, depth + 1);
            }
        }
        _ => {}
    }
}

/// A scalar JSON value as text (numbers keep their JSON text); arrays give their first.
fn scalar(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => non_empty(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(a) => a.iter().find_map(|x| scalar(Some(x))),
        _ => None,
    }
}

/// A string or an object's `name` (brand, category, seller).
fn name_or_string(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::Object(o) => scalar(o.get("name")),
        Value::Array(a) => a.iter().find_map(|x| name_or_string(Some(x))),
        other => scalar(Some(other)),
    }
}

fn ld_gtin(o: &Map<String, Value>) -> Option<String> {
    ["gtin", "gtin13", "gtin14", "gtin12", "gtin8"].iter().find_map(|k| scalar(o.get(*k)))
}

fn ld_ids(o: &Map<String, Value>, c: &mut Candidate) {
    set_first(&mut c.sku, scalar(o.get("sku")));
    set_first(&mut c.gtin, ld_gtin(o));
    set_first(&mut c.mpn, scalar(o.get("mpn")));
}

fn ld_offer(o: &Map<String, Value>, base: &Candidate) -> Candidate {
    let mut c = Candidate::default();
    ld_ids(o, &mut c);
    c.url = scalar(o.get("url"));
    c.availability = scalar(o.get("availability"));
    c.currency = scalar(o.get("priceCurrency"));
    c.price = scalar(o.get("price"));
    c.price_machine = true;
    c.low = scalar(o.get("lowPrice"));
    c.high = scalar(o.get("highPrice"));
    c.offer_count = scalar(o.get("offerCount"));
    if c.price.is_none() && c.low.is_none() {
        // priceSpecification: object or array of (Unit)PriceSpecification.
        let specs: Vec<&Value> = match o.get("priceSpecification") {
            Some(Value::Array(a)) => a.iter().collect(),
            Some(v) => vec![v],
            None => vec![],
        };
        if let Some(spec) = specs.iter().filter_map(|v| v.as_object()).find(|s| s.get("price").is_some()) {
            c.price = scalar(spec.get("price"));
            set_first(&mut c.currency, scalar(spec.get("priceCurrency")));
        }
    }
    c.merge_missing(base);
    c
}

fn ld_candidates(p: &Map<String, Value>) -> Vec<Candidate> {
    let mut base = Candidate {
        name: scalar(p.get("name")),
        brand: name_or_string(p.get("brand")),
        category: name_or_string(p.get("category")),
        url: scalar(p.get("url")),
        ..Candidate::default()
    };
    ld_ids(p, &mut base);
    let mut out = Vec::new();
    match p.get("offers") {
        Some(Value::Array(a)) => {
            for off in a.iter().filter_map(Value::as_object) {
                out.push(ld_offer(off, &base));
            }
        }
        Some(Value::Object(off)) => {
            let agg = ld_offer(off, &base);
            let nested: Vec<&Map<String, Value>> = match off.get("offers") {
                Some(Value::Array(a)) => a.iter().filter_map(Value::as_object).collect(),
                Some(Value::Object(o)) => vec![o],
                _ => vec![],
            };
            if agg.price.is_none() && agg.low.is_none() && agg.high.is_none() && !nested.is_empty() {
                for n in nested {
                    out.push(ld_offer(n, &agg));
                }
            } else {
                out.push(agg);
            }
        }
        _ => out.push(base),
    }
    out
}

fn strip_script_wrappers(s: &str) -> &str {
    let mut t = s.trim();
    for (open, close) in [("<!--", "-->"), ("//<![CDATA[", "//]]>"), ("<![CDATA[", "]]>")] {
        if let Some(rest) = t.strip_prefix(open) {
            t = rest.strip_suffix(close).unwrap_or(rest).trim();
        }
    }
    t
}

/// Every node of a JSON-LD document that defines an `@id`: of several, the one with the
/// most properties (a stub `{"@type": "Brand", "@id": "#b"}` does not hide the full node).
fn index_ids<'a>(v: &'a Value, index: &mut std::collections::HashMap<String, &'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| index_ids(x, index)),
        Value::Object(o) => {
            if let Some(Value::String(id)) = o.get("@id") {
                let richer =
                    index.get(id).and_then(|known| known.as_object()).is_none_or(|known| known.len() < o.len());
                if o.len() > 1 && richer {
                    index.insert(id.clone(), v);
                }
            }
            o.values().for_each(|x| index_ids(x, index));
        }
        _ => {}
    }
}

/// `v` with each reference to a node (an object with an `@id` and no more than an
/// `@type`) replaced by the node it names. A node is not expanded again inside itself,
/// so cycles end and a product group's variants do not multiply.
fn resolve_ids(v: &Value, index: &std::collections::HashMap<String, &Value>, path: &mut Vec<String>) -> Value {
    match v {
        Value::Object(o) => {
            let reference = match o.get("@id") {
                Some(Value::String(id)) if o.keys().all(|k| k == "@id" || k == "@type") => Some(id),
                _ => None,
            };
            match reference.filter(|id| !path.contains(id)).and_then(|id| index.get(id).map(|node| (id, node))) {
                Some((id, node)) if !std::ptr::eq(*node, v) => {
                    path.push(id.clone());
                    let resolved = resolve_ids(node, index, path);
                    path.pop();
                    resolved
                }
                _ => {
                    let own = o.get("@id").and_then(Value::as_str).map(str::to_owned);
                    path.extend(own.clone());
                    let resolved =
                        Value::Object(o.iter().map(|(k, x)| (k.clone(), resolve_ids(x, index, path))).collect());
                    if own.is_some() {
                        path.pop();
                    }
                    resolved
                }
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_ids(x, index, path)).collect()),
        other => other.clone(),
    }
}

/// The page's JSON-LD documents, invalid ones skipped, with `@id` references resolved
/// across all of them (a brand or offer defined elsewhere in `@graph`).
fn json_ld_documents(doc: &Html) -> Vec<Value> {
    let Ok(sel) = Selector::parse("script") else {
        return Vec::new();
    };
    let documents: Vec<Value> = doc
        .select(&sel)
        .filter(|script| {
            script.attr("type").is_some_and(|t| t.trim().to_ascii_lowercase().starts_with("application/ld+json"))
        })
        .filter_map(|script| {
            let raw: String = script.text().collect();
            serde_json::from_str::<Value>(strip_script_wrappers(&raw)).ok() // invalid JSON-LD is skipped
        })
        .collect();
    let mut index = std::collections::HashMap::new();
    documents.iter().for_each(|d| index_ids(d, &mut index));
    documents.iter().map(|d| resolve_ids(d, &index, &mut Vec::new())).collect()
}

fn json_ld_candidates(doc: &Html) -> Vec<Candidate> {
    let mut out = Vec::new();
    for v in json_ld_documents(doc) {
        let mut products = Vec::new();
        collect_products(&v, &mut products, 0);
        for p in products {
            out.extend(ld_candidates(p));
        }
    }
    out
}

// ---------------------------------------------------------------- microdata

fn is_product_itemtype(t: &str) -> bool {
    t.split_whitespace().any(|u| {
        let name = u.rsplit(['/', ':', '#']).next().unwrap_or(u);
        PRODUCT_TYPES.contains(&name)
    })
}

/// The value of an itemprop element per the microdata spec (plus the common
/// `content` attribute on any element). Returns (value, machine_readable).
fn microdata_value(el: ElementRef<'_>) -> (Option<String>, bool) {
    let v = el.value();
    let attr = |a: &str| v.attr(a).and_then(non_empty);
    let by_tag = match v.name() {
        "meta" => attr("content"),
        "a" | "link" | "area" => attr("href"),
        "img" | "audio" | "video" | "source" | "embed" | "iframe" => attr("src"),
        "time" => attr("datetime"),
        "data" | "meter" => attr("value"),
        _ => None,
    };
    if by_tag.is_some() {
        return (by_tag, true);
    }
    if let Some(c) = attr("content") {
        return (Some(c), true);
    }
    (non_empty(&collapse_ws(&el.text().collect::<String>())), false)
}

fn apply_microdata_prop(c: &mut Candidate, prop: &str, el: ElementRef<'_>) {
    let (val, machine) = microdata_value(el);
    match prop {
        "name" => set_first(&mut c.name, val),
        "sku" | "productID" => set_first(&mut c.sku, val),
        "gtin" | "gtin8" | "gtin12" | "gtin13" | "gtin14" => set_first(&mut c.gtin, val),
        "mpn" => set_first(&mut c.mpn, val),
        "brand" => set_first(&mut c.brand, val),
        "category" => set_first(&mut c.category, val),
        "url" => set_first(&mut c.url, val),
        "availability" => set_first(&mut c.availability, val),
        "priceCurrency" => set_first(&mut c.currency, val),
        "lowPrice" => set_first(&mut c.low, val),
        "highPrice" => set_first(&mut c.high, val),
        "price" if c.price.is_none() => {
            c.price = val;
            c.price_machine = machine;
        }
        _ => {}
    }
}

fn walk_microdata(scope: ElementRef<'_>, c: &mut Candidate, depth: usize) {
    if depth > 64 {
        return;
    }
    for child in scope.child_elements() {
        let props: Vec<&str> = child.attr("itemprop").map(|p| p.split_whitespace().collect()).unwrap_or_default();
        if child.attr("itemscope").is_some() {
            if props.contains(&"offers") {
                walk_microdata(child, c, depth + 1);
            } else if props.iter().any(|p| *p == "brand" || *p == "manufacturer") {
                let mut b = Candidate::default();
                walk_microdata(child, &mut b, depth + 1);
                let name = b.name.or_else(|| non_empty(&collapse_ws(&child.text().collect::<String>())));
                set_first(&mut c.brand, name);
            }
            continue; // other nested items (reviews, ratings, related products) are ignored
        }
        for p in &props {
            apply_microdata_prop(c, p, child);
        }
        walk_microdata(child, c, depth + 1);
    }
}

fn microdata_candidates(doc: &Html) -> Vec<Candidate> {
    let mut out = Vec::new();
    let Ok(sel) = Selector::parse("[itemscope][itemtype]") else {
        return out;
    };
    for el in doc.select(&sel) {
        if !el.attr("itemtype").is_some_and(is_product_itemtype) {
            continue;
        }
        // Skip products nested in another product (e.g. isRelatedTo).
        let nested = el
            .ancestors()
            .filter_map(ElementRef::wrap)
            .any(|a| a.attr("itemscope").is_some() && a.attr("itemtype").is_some_and(is_product_itemtype));
        if nested {
            continue;
        }
        let mut c = Candidate::default();
        walk_microdata(el, &mut c, 0);
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------- meta tags

fn meta_candidate(doc: &Html) -> Candidate {
    let mut c = Candidate { price_machine: true, ..Candidate::default() };
    let Ok(sel) = Selector::parse("meta") else {
        return c;
    };
    for m in doc.select(&sel) {
        let key = m
            .attr("property")
            .or_else(|| m.attr("name"))
            .or_else(|| m.attr("itemprop"))
            .map(|k| k.trim().to_ascii_lowercase());
        let (Some(key), Some(val)) = (key, m.attr("content").and_then(non_empty)) else {
            continue;
        };
        let slot = match key.as_str() {
            "product:price:amount" | "og:price:amount" => &mut c.price,
            "product:sale_price:amount" => &mut c.sale_price,
            "product:price:currency" | "og:price:currency" => &mut c.currency,
            "og:title" => &mut c.name,
            "product:brand" | "og:brand" => &mut c.brand,
            "product:availability" | "og:availability" => &mut c.availability,
            "product:retailer_item_id" | "product:sku" => &mut c.sku,
            "product:gtin" | "product:ean" | "product:upc" | "product:isbn" => &mut c.gtin,
            "product:mfr_part_no" => &mut c.mpn,
            "product:category" => &mut c.category,
            "og:url" => &mut c.url,
            _ => continue,
        };
        set_first(slot, Some(val));
    }
    c
}

// ---------------------------------------------------------------- CSS fallback

fn css_text(doc: &Html, sel: &Selector) -> Option<String> {
    let el = doc.select(sel).next()?;
    non_empty(&collapse_ws(&el.text().collect::<String>()))
        .or_else(|| el.attr("content").and_then(non_empty))
        .or_else(|| el.attr("href").and_then(non_empty))
}

fn css_candidate(doc: &Html, fb: &CssFallback) -> Candidate {
    Candidate {
        price: css_text(doc, &fb.price_sel),
        price_machine: false,
        currency: fb.currency_sel.as_ref().and_then(|s| css_text(doc, s)),
        name: fb.name_sel.as_ref().and_then(|s| css_text(doc, s)),
        availability: fb.availability_sel.as_ref().and_then(|s| css_text(doc, s)),
        ..Candidate::default()
    }
}

/// Visible price text often carries a label or footnote ("Price: $5*"): keep the span
/// from the first digit/currency char to the last one.
fn trim_visible_price(s: &str) -> &str {
    let s = s.rsplit(':').next().unwrap_or(s);
    let keep = |c: char| c.is_alphanumeric() || "€$£¥₹₩₽₺₪₫₴₱₦฿".contains(c);
    s.trim_matches(|c: char| !keep(c))
}

// ---------------------------------------------------------------- assembly

fn parse_one(
    text: &str,
    machine: bool,
    locale: &NumberLocale,
    currency: Option<&str>,
) -> Result<(Price, String), PriceError> {
    if machine {
        parse_machine_price(text, locale, currency)
    } else {
        parse_price(text, locale, currency).or_else(|e| {
            let trimmed = trim_visible_price(text);
            if trimmed != text && e.reason == RejectReason::UnparseablePrice {
                parse_price(trimmed, locale, currency)
            } else {
                Err(e)
            }
        })
    }
}

fn candidate_price(
    c: &Candidate,
    locale: &NumberLocale,
    currency: Option<&str>,
) -> Result<(Price, String), PriceError> {
    if let Some(sale) = &c.sale_price {
        if let Ok(p) = parse_one(sale, c.price_machine, locale, currency) {
            return Ok(p);
        }
    }
    if let Some(p) = &c.price {
        return parse_one(p, c.price_machine, locale, currency);
    }
    match (&c.low, &c.high) {
        (Some(lo), Some(hi)) => {
            let (lo, cur) = parse_one(lo, true, locale, currency)?;
            let (hi, cur_hi) = parse_one(hi, true, locale, currency)?;
            if cur != cur_hi || lo.amount > hi.amount {
                return Err(PriceError {
                    reason: RejectReason::UnparseablePrice,
                    message: "inconsistent lowPrice/highPrice".into(),
                });
            }
            if lo.amount == hi.amount {
                Ok((Price::exact(lo.amount), cur))
            } else {
                Ok((Price::range(lo.amount, hi.amount), cur))
            }
        }
        (Some(lo), None) => {
            let (lo, cur) = parse_one(lo, true, locale, currency)?;
            Ok((Price::from_amount(lo.amount), cur))
        }
        _ => Err(PriceError {
            reason: RejectReason::MissingField,
            message: "offer has highPrice but no price or lowPrice".into(),
        }),
    }
}

fn to_record(
    c: &Candidate,
    page_url: &str,
    locale: &NumberLocale,
    fallback_currency: Option<&str>,
) -> Result<ScrapedRecord, PriceError> {
    let currency = match c.currency.as_deref() {
        Some(raw) => Some(currency_code_from_text(raw).ok_or_else(|| PriceError {
            reason: RejectReason::UnknownCurrency,
            message: format!("unknown currency {raw:?}"),
        })?),
        None => fallback_currency.map(str::to_string),
    };
    let (price, currency) = candidate_price(c, locale, currency.as_deref())?;
    // The regular price beside a sale price that won.
    let regular_price = c
        .sale_price
        .as_ref()
        .and(c.price.as_deref())
        .and_then(|regular| parse_one(regular, c.price_machine, locale, Some(&currency)).ok())
        .filter(|(regular, cur)| *cur == currency && regular.amount > price.amount)
        .map(|(regular, _)| regular.amount);
    let product_id =
        c.sku.clone().or_else(|| c.gtin.clone()).or_else(|| c.mpn.clone()).unwrap_or_else(|| page_url.to_string());
    Ok(ScrapedRecord {
        regular_price,
        product_id,
        name: c.name.clone(),
        brand: c.brand.clone(),
        gtin: c.gtin.clone(),
        mpn: c.mpn.clone(),
        price,
        currency,
        availability: c.availability.as_deref().and_then(normalize_availability),
        url: c.url.clone().or_else(|| non_empty(page_url)),
        category: c.category.clone(),
        sale_starts_at: None,
        sale_ends_at: None,
        offer_count: c.offer_count.as_deref().and_then(|n| n.trim().parse().ok()),
        observed_at: None,
        document: None,
    })
}

/// Whether two statements of a product's price agree: the same amount and currency
/// (`19.9` is `19.90`), one inside the other's range, or one the other's regular price
/// beside its sale price.
fn agree(a: &ScrapedRecord, b: &ScrapedRecord) -> bool {
    let within = |x: &ScrapedRecord, y: &ScrapedRecord| {
        y.price.max_amount.is_some_and(|max| (y.price.amount..=max).contains(&x.price.amount))
    };
    a.currency == b.currency
        && (a.price.amount == b.price.amount
            || within(a, b)
            || within(b, a)
            || a.regular_price == Some(b.price.amount)
            || b.regular_price == Some(a.price.amount))
}

/// A price that another machine-readable source of the page states for a product of the
/// winning source and that agrees with none of its offers, as a reject naming both
/// values and their sources. Offers are the same product when their ids match, or when
/// each source has one offer and one of them has no id of its own (the page's URL).
fn conflict(
    locator: &str,
    page_url: &str,
    (winner, ours): (&str, &Extracted),
    (label, theirs): (&str, &Extracted),
) -> Option<RecordReject> {
    let single = ours.records.len() == 1 && theirs.records.len() == 1;
    for b in &theirs.records {
        let same: Vec<&ScrapedRecord> = ours
            .records
            .iter()
            .filter(|a| {
                a.product_id == b.product_id || (single && (a.product_id == page_url || b.product_id == page_url))
            })
            .collect();
        let Some(a) = same.first().filter(|_| !same.iter().any(|a| agree(a, b))) else { continue };
        let detail = format!(
            "{winner} states {} {}, {label} states {} {} for product {}",
            a.price.amount, a.currency, b.price.amount, b.currency, a.product_id
        );
        let readable = RawRecord {
            product_id: Some(a.product_id.clone()),
            name: a.name.clone(),
            brand: a.brand.clone(),
            gtin: a.gtin.clone(),
            mpn: a.mpn.clone(),
            url: a.url.clone(),
            ..RawRecord::default()
        };
        return Some(RecordReject::new(locator, RejectReason::PriceConflict, detail).with_readable(readable));
    }
    None
}

/// Extract product offers from an HTML page. See the module docs for the order of sources.
pub fn extract_product(
    html: &str,
    page_url: &str,
    locale: &NumberLocale,
    default_currency: Option<&str>,
    fallback: Option<&CssFallback>,
) -> Result<Extracted, RecordReject> {
    let doc = Html::parse_document(html);
    let locator = format!("page {page_url}");
    let sources: [(&str, Vec<Candidate>); 4] = [
        ("json-ld", json_ld_candidates(&doc)),
        ("microdata", microdata_candidates(&doc)),
        ("meta", vec![meta_candidate(&doc)]),
        ("css", fallback.map(|f| vec![css_candidate(&doc, f)]).unwrap_or_default()),
    ];
    // Page-level hints used to fill gaps (currency, name) in the winning source.
    let mut hints = Candidate::default();
    for (_, cands) in &sources {
        for c in cands {
            set_first(&mut hints.currency, c.currency.clone());
            set_first(&mut hints.name, c.name.clone());
        }
    }
    let extracted: Vec<(&str, Extracted)> = sources
        .iter()
        .map(|(label, cands)| {
            let mut out = Extracted::default();
            for (i, c) in cands.iter().filter(|c| c.has_price()).enumerate() {
                let mut c = c.clone();
                if c.currency.is_none() {
                    c.currency.clone_from(&hints.currency);
                }
                if c.name.is_none() {
                    c.name.clone_from(&hints.name);
                }
                match to_record(&c, page_url, locale, default_currency) {
                    Ok(r) => {
                        let dup = out
                            .records
                            .iter()
                            .any(|x| x.product_id == r.product_id && x.price == r.price && x.currency == r.currency);
                        if !dup {
                            out.records.push(r);
                        }
                    }
                    Err(e) => out.rejects.push(
                        RecordReject::new(locator.clone(), e.reason, format!("{label} offer {}: {}", i + 1, e.message))
                            .with_readable(c.readable()),
                    ),
                }
            }
            (*label, out)
        })
        .collect();
    if let Some((winner, out)) = extracted.iter().find(|(_, out)| !out.records.is_empty()) {
        // The machine-readable sources must agree with the one that wins.
        let mut structured = extracted.iter().filter(|(label, _)| *label != "css" && label != winner);
        if let Some(reject) =
            structured.find_map(|(label, other)| conflict(&locator, page_url, (winner, out), (label, other)))
        {
            return Err(reject);
        }
        return Ok(out.clone());
    }
    let first_rejects: Vec<RecordReject> =
        extracted.into_iter().map(|(_, out)| out.rejects).find(|r| !r.is_empty()).unwrap_or_default();
    Err(first_rejects.into_iter().next().unwrap_or_else(|| {
        // A product the page names without a price: the reject still names it.
        let named = sources.iter().flat_map(|(_, cands)| cands).find(|c| c.readable().product_id.is_some());
        RecordReject::new(
            locator,
            RejectReason::MissingField,
            "no price found in JSON-LD, microdata, meta tags or CSS fallback",
        )
        .with_readable(named.map(Candidate::readable).unwrap_or_default())
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::record::PriceKind;
    use rust_decimal::Decimal;
    use std::str::FromStr;

    const URL: &str = "https://shop.example.com/p/1";

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    fn en(html: &str) -> Result<Extracted, RecordReject> {
        extract_product(html, URL, &NumberLocale::en(), None, None)
    }

    fn page(head: &str, body: &str) -> String {
        format!("<!doctype html><html><head>{head}</head><body>{body}</body></html>")
    }

    #[test]
    fn json_ld_single_product_offer() {
        let html = page(
            r#"<script type="application/ld+json">{
              "@context": "https://schema.org", "@type": "Product",
              "name": "Trail Shoe", "sku": "SHOE-42", "gtin13": "4006381333931", "mpn": "TS42",
              "brand": {"@type": "Brand", "name": "Runr"}, "category": "Shoes",
              "offers": {"@type": "Offer", "price": 89.90, "priceCurrency": "EUR",
                         "availability": "https://schema.org/InStock",
                         "url": "https://shop.example.com/shoe"}
            }</script>"#,
            "<h1>Trail Shoe</h1>",
        );
        let ex = en(&html).unwrap();
        assert_eq!(ex.records.len(), 1);
        let r = &ex.records[0];
        assert_eq!(r.product_id, "SHOE-42");
        assert_eq!(r.name.as_deref(), Some("Trail Shoe"));
        assert_eq!(r.brand.as_deref(), Some("Runr"));
        assert_eq!(r.gtin.as_deref(), Some("4006381333931"));
        assert_eq!(r.mpn.as_deref(), Some("TS42"));
        assert_eq!(r.price.amount, d("89.9"));
        assert_eq!(r.price.kind, PriceKind::Exact);
        assert_eq!(r.currency, "EUR");
        assert_eq!(r.availability.as_deref(), Some("in_stock"));
        assert_eq!(r.url.as_deref(), Some("https://shop.example.com/shoe"));
        assert_eq!(r.category.as_deref(), Some("Shoes"));
    }

    #[test]
    fn json_ld_graph_with_type_array_and_offer_array() {
        let html = page(
            r#"<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
              {"@type":"WebPage","name":"Shop page"},
              {"@type":["Product","Thing"],"name":"T-Shirt","brand":"Basics","gtin":"0012345678905",
               "offers":[
                 {"@type":"Offer","sku":"TS-S","price":"19.99","priceCurrency":"USD","availability":"http://schema.org/InStock"},
                 {"@type":"Offer","sku":"TS-XL","price":"21.50","priceCurrency":"USD","availability":"https://schema.org/OutOfStock"},
                 {"@type":"Offer","sku":"TS-BAD","price":"0","priceCurrency":"USD"}
               ]}
            ]}</script>"#,
            "",
        );
        let ex = en(&html).unwrap();
        let got: Vec<_> =
            ex.records.iter().map(|r| (r.product_id.as_str(), r.price.amount, r.availability.as_deref())).collect();
        assert_eq!(got, [("TS-S", d("19.99"), Some("in_stock")), ("TS-XL", d("21.5"), Some("out_of_stock"))]);
        assert!(ex.records.iter().all(|r| r.brand.as_deref() == Some("Basics")));
        assert_eq!(ex.rejects.len(), 1);
        assert_eq!(ex.rejects[0].reason, RejectReason::ZeroPrice);
        assert_eq!(ex.rejects[0].locator, format!("page {URL}"));
        assert_eq!(ex.rejects[0].readable.product_id.as_deref(), Some("TS-BAD"), "the reject names its product");
    }

    #[test]
    fn json_ld_array_and_aggregate_offer() {
        let html = page(
            r#"<script type="application/ld+json">[
              {"@type":"BreadcrumbList"},
              {"@type":"Product","name":"Laptop","mpn":"LP-1",
               "offers":{"@type":"AggregateOffer","lowPrice":"999.00","highPrice":1299,"priceCurrency":"GBP","offerCount":3}}
            ]</script>"#,
            "",
        );
        let r = &en(&html).unwrap().records[0];
        assert_eq!(r.product_id, "LP-1");
        assert_eq!(r.price.kind, PriceKind::Range);
        assert_eq!(r.price.amount, d("999"));
        assert_eq!(r.price.max_amount, Some(d("1299")));
        assert_eq!(r.currency, "GBP");
        assert_eq!(r.url.as_deref(), Some(URL));
        assert_eq!(r.offer_count, Some(3), "the AggregateOffer's offerCount");

        let low_only = page(
            r#"<script type="application/ld+json">{"@type":"Product","name":"X",
              "offers":{"@type":"AggregateOffer","lowPrice":5,"priceCurrency":"EUR"}}</script>"#,
            "",
        );
        let r = &en(&low_only).unwrap().records[0];
        assert_eq!((r.price.kind, r.price.amount), (PriceKind::From, d("5")));
        assert_eq!(r.product_id, URL, "no sku/gtin/mpn -> page URL");

        let agg_single = page(
            r#"<script type="application/ld+json">{"@type":"Product","sku":"A",
              "offers":{"@type":"AggregateOffer","price":"12.5","priceCurrency":"EUR"}}</script>"#,
            "",
        );
        let r = &en(&agg_single).unwrap().records[0];
        assert_eq!((r.price.kind, r.price.amount), (PriceKind::Exact, d("12.5")));
    }

    #[test]
    fn json_ld_price_string_in_de_locale_and_currency_from_meta() {
        let html = page(
            r#"<meta property="product:price:currency" content="EUR">
               <script type="application/ld+json">{"@type":"Product","sku":"K1","brand":["Kaffee AG"],
                 "offers":{"@type":"Offer","price":"1299.00"}}</script>"#,
            "",
        );
        let ex = extract_product(&html, URL, &NumberLocale::de(), None, None).unwrap();
        let r = &ex.records[0];
        assert_eq!(r.price.amount, d("1299"), "machine-readable dot decimal");
        assert_eq!(r.currency, "EUR");
        assert_eq!(r.brand.as_deref(), Some("Kaffee AG"));
    }

    #[test]
    fn broken_json_ld_is_skipped() {
        let html = page(
            r#"<script type="application/ld+json">{"@type":"Product", "offers": {"price": 5,,}</script>
               <script type="application/ld+json"><!-- {"@type":"Product","sku":"OK","offers":{"price":7,"priceCurrency":"USD"}} --></script>"#,
            "",
        );
        let ex = en(&html).unwrap();
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].product_id, "OK");
        assert_eq!(ex.records[0].price.amount, d("7"));
    }

    /// A product page stating its price in JSON-LD and in microdata.
    fn two_ways(ld_price: &str, microdata_price: &str) -> String {
        page(
            &format!(
                r#"<script type="application/ld+json">{{"@type":"Product","sku":"KT-1","name":"Kettle",
                   "offers":{{"@type":"Offer","price":"{ld_price}","priceCurrency":"EUR"}}}}</script>"#
            ),
            &format!(
                r#"<div itemscope itemtype="https://schema.org/Product"><span itemprop="sku">KT-1</span>
                   <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
                     <span itemprop="price" content="{microdata_price}">{microdata_price} €</span>
                     <meta itemprop="priceCurrency" content="EUR"></div></div>"#
            ),
        )
    }

    #[test]
    fn two_different_prices_for_one_product_are_a_conflict_with_no_record() {
        let reject = en(&two_ways("39.90", "49.90")).unwrap_err();
        assert_eq!(reject.reason, RejectReason::PriceConflict);
        assert_eq!(reject.detail, "json-ld states 39.9 EUR, microdata states 49.9 EUR for product KT-1");
        assert_eq!(reject.readable.product_id.as_deref(), Some("KT-1"), "the reject names its product");
        // The same price written two ways is one price.
        let ex = en(&two_ways("19.9", "19.90")).unwrap();
        assert_eq!(ex.records.len(), 1);
        assert_eq!(ex.records[0].price.amount, d("19.9"));
        // Open Graph disagreeing with JSON-LD is a conflict too.
        let og = page(
            r#"<script type="application/ld+json">{"@type":"Product","name":"Lamp",
                 "offers":{"@type":"Offer","price":25,"priceCurrency":"USD"}}</script>
               <meta property="product:price:amount" content="27.00">
               <meta property="product:price:currency" content="USD">"#,
            "",
        );
        let reject = en(&og).unwrap_err();
        assert_eq!(reject.reason, RejectReason::PriceConflict);
        assert!(reject.detail.starts_with("json-ld states 25 USD, meta states 27 USD"), "{}", reject.detail);
        // No conflict: a price inside the other's range, a regular price beside a sale,
        // and another product of the page.
        let agreeing = [
            (r#""@type":"AggregateOffer","lowPrice":10,"highPrice":20,"priceCurrency":"USD""#, "15"),
            (
                r#""@type":"Offer","price":10,"priceCurrency":"USD""#,
                "10\"><meta property=\"product:sale_price:amount\" content=\"8.5",
            ),
        ];
        for (offer, meta) in agreeing {
            let html = page(
                &format!(
                    r#"<script type="application/ld+json">{{"@type":"Product","name":"Lamp","offers":{{{offer}}}}}</script>
                       <meta property="product:price:amount" content="{meta}">
                       <meta property="product:price:currency" content="USD">"#
                ),
                "",
            );
            assert!(en(&html).is_ok(), "{offer} / {meta}: {:?}", en(&html));
        }
        let related = page(
            r#"<script type="application/ld+json">{"@type":"Product","sku":"MAIN","offers":{"price":30,"priceCurrency":"EUR"}}</script>"#,
            r#"<div itemscope itemtype="https://schema.org/Product"><span itemprop="sku">OTHER</span>
               <div itemprop="offers" itemscope itemtype="https://schema.org/Offer"><meta itemprop="price" content="12">
               <meta itemprop="priceCurrency" content="EUR"></div></div>"#,
        );
        assert_eq!(en(&related).unwrap().records[0].product_id, "MAIN");
    }

    #[test]
    fn json_ld_id_references_are_followed_within_the_graph() {
        let html = page(
            r##"<script type="application/ld+json">{"@context":"https://schema.org","@graph":[
                 {"@type":"Product","@id":"#product","name":"Drill","sku":"DR-5",
                  "brand":{"@id":"#brand"},"offers":{"@id":"#offer"}},
                 {"@type":"Brand","@id":"#brand","name":"Boreman"},
                 {"@type":"Offer","@id":"#offer","price":"129.00","priceCurrency":"GBP",
                  "availability":"https://schema.org/InStock"},
                 {"@type":"WebPage","@id":"#page","mainEntity":{"@id":"#product"}}
               ]}</script>"##,
            "",
        );
        let ex = en(&html).unwrap();
        assert_eq!(ex.records.len(), 1, "{:?}", ex.records);
        let r = &ex.records[0];
        assert_eq!((r.product_id.as_str(), r.brand.as_deref(), r.currency.as_str()), ("DR-5", Some("Boreman"), "GBP"));
        assert_eq!((r.price.amount, r.availability.as_deref()), (d("129"), Some("in_stock")));
        // A reference cycle ends.
        let cycle = page(
            r##"<script type="application/ld+json">{"@graph":[
                 {"@type":"Product","sku":"C","brand":{"@id":"#a"},"offers":{"price":"5","priceCurrency":"EUR"}},
                 {"@id":"#a","name":"A","parent":{"@id":"#b"}},{"@id":"#b","child":{"@id":"#a"}}]}</script>"##,
            "",
        );
        assert_eq!(en(&cycle).unwrap().records[0].brand.as_deref(), Some("A"));
        // A product group whose 300 variants point back at it stays small, and a stub
        // does not hide the full node.
        let variants: Vec<String> = (0..300)
            .map(|i| format!(r##"{{"@type":"Product","@id":"#v{i}","sku":"V{i}","isVariantOf":{{"@id":"#g"}},"offers":{{"price":"{}","priceCurrency":"EUR"}}}}"##, 10 + i))
            .collect();
        let refs: Vec<String> = (0..300).map(|i| format!(r##"{{"@id":"#v{i}"}}"##)).collect();
        let group = page(
            &format!(
                r##"<script type="application/ld+json">{{"@graph":[{{"@type":"Brand","@id":"#b"}},
                     {{"@type":"ProductGroup","@id":"#g","brand":{{"@id":"#b"}},"hasVariant":[{}]}},{},
                     {{"@type":"Brand","@id":"#b","name":"Full"}}]}}</script>"##,
                refs.join(","),
                variants.join(",")
            ),
            "",
        );
        let started = std::time::Instant::now();
        let ex = en(&group).unwrap();
        assert_eq!(ex.records.len(), 300);
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "{:?}", started.elapsed());
    }

    #[test]
    fn microdata_product() {
        let html = page(
            "",
            r#"<div itemscope itemtype="https://schema.org/Product">
                 <h1 itemprop="name">Espresso   Machine</h1>
                 <span itemprop="sku">EM-9</span>
                 <meta itemprop="gtin13" content="5012345678900">
                 <div itemprop="brand" itemscope itemtype="https://schema.org/Brand"><span itemprop="name">Brewco</span></div>
                 <div itemprop="review" itemscope itemtype="https://schema.org/Review"><span itemprop="name">Great!</span></div>
                 <div itemprop="offers" itemscope itemtype="https://schema.org/Offer">
                   <span itemprop="price" content="1299.00">1.299,00 €</span>
                   <meta itemprop="priceCurrency" content="EUR">
                   <link itemprop="availability" href="https://schema.org/PreOrder">
                 </div>
               </div>"#,
        );
        let ex = extract_product(&html, URL, &NumberLocale::de(), None, None).unwrap();
        assert_eq!(ex.records.len(), 1);
        let r = &ex.records[0];
        assert_eq!(r.product_id, "EM-9");
        assert_eq!(r.name.as_deref(), Some("Espresso Machine"));
        assert_eq!(r.brand.as_deref(), Some("Brewco"));
        assert_eq!(r.gtin.as_deref(), Some("5012345678900"));
        assert_eq!(r.price.amount, d("1299"));
        assert_eq!(r.currency, "EUR");
        assert_eq!(r.availability.as_deref(), Some("preorder"));
    }

    #[test]
    fn microdata_text_price_uses_locale() {
        let html = page(
            "",
            r#"<div itemscope itemtype="http://schema.org/Product"><span itemprop="name">Käse</span>
               <span itemprop="offers" itemscope itemtype="http://schema.org/Offer"><span itemprop="price">1 299,50 €</span></span></div>"#,
        );
        let ex = extract_product(&html, URL, &NumberLocale::fr(), None, None).unwrap();
        assert_eq!(ex.records[0].price.amount, d("1299.5"));
        assert_eq!(ex.records[0].currency, "EUR");
        assert_eq!(ex.records[0].name.as_deref(), Some("Käse"));
    }

    #[test]
    fn open_graph_meta_tags() {
        let html = page(
            r#"<meta property="og:title" content="Desk Lamp">
               <meta property="product:price:amount" content="34.95">
               <meta property="product:price:currency" content="USD">
               <meta property="product:availability" content="instock">
               <meta property="product:retailer_item_id" content="LAMP-7">"#,
            "<p>no structured data</p>",
        );
        let r = &en(&html).unwrap().records[0];
        assert_eq!(r.product_id, "LAMP-7");
        assert_eq!(r.name.as_deref(), Some("Desk Lamp"));
        assert_eq!(r.price.amount, d("34.95"));
        assert_eq!(r.currency, "USD");
        assert_eq!(r.availability.as_deref(), Some("in_stock"));

        let og = page(
            r#"<meta property="og:price:amount" content="10"><meta property="og:price:currency" content="CAD">
               <meta property="product:sale_price:amount" content="8.5">"#,
            "",
        );
        let r = &en(&og).unwrap().records[0];
        assert_eq!((r.price.amount, r.currency.as_str()), (d("8.5"), "CAD"));
        assert_eq!(r.regular_price, Some(d("10")), "the regular price beside the sale price");
    }

    #[test]
    fn css_fallback_applies_last() {
        let fb = CssFallback::new(".price", Some(".cur"), Some("h1.title"), Some("#stock")).unwrap();
        let html = page(
            "",
            r#"<h1 class="title">Garden Hose</h1><span class="price">Price: 1,049.00*</span>
               <span class="cur">$</span><div id="stock">In Stock</div>"#,
        );
        let ex = extract_product(&html, URL, &NumberLocale::en(), None, Some(&fb)).unwrap();
        let r = &ex.records[0];
        assert_eq!(r.product_id, URL);
        assert_eq!(r.name.as_deref(), Some("Garden Hose"));
        assert_eq!(r.price.amount, d("1049"));
        assert_eq!(r.currency, "USD");
        assert_eq!(r.availability.as_deref(), Some("in_stock"));

        // Higher-priority sources win over CSS.
        let html2 = page(
            r#"<meta property="product:price:amount" content="5"><meta property="product:price:currency" content="USD">"#,
            r#"<span class="price">$9.00</span>"#,
        );
        let ex = extract_product(&html2, URL, &NumberLocale::en(), None, Some(&fb)).unwrap();
        assert_eq!(ex.records[0].price.amount, d("5"));

        assert!(CssFallback::new("div[", None, None, None).is_err());
        assert_eq!(fb.price(), ".price");
    }

    #[test]
    fn default_currency_used_when_page_has_none() {
        let html = page(
            r#"<script type="application/ld+json">{"@type":"Product","sku":"Z","offers":{"price":3}}</script>"#,
            "",
        );
        let ex = extract_product(&html, URL, &NumberLocale::en(), Some("CHF"), None).unwrap();
        assert_eq!(ex.records[0].currency, "CHF");
        let err = en(&html).unwrap_err();
        assert_eq!(err.reason, RejectReason::UnknownCurrency);
    }

    #[test]
    fn page_without_price_is_missing_field() {
        let err = en(&page("<title>About us</title>", "<p>Hello</p>")).unwrap_err();
        assert_eq!(err.reason, RejectReason::MissingField);
        assert_eq!(err.locator, format!("page {URL}"));
        let err = en("").unwrap_err();
        assert_eq!(err.reason, RejectReason::MissingField);
        // A product named without a price: the reject names it.
        let unpriced =
            page(r#"<script type="application/ld+json">{"@type":"Product","sku":"NP-1","name":"Lamp"}</script>"#, "");
        let err = en(&unpriced).unwrap_err();
        assert_eq!((err.reason, err.readable.product_id.as_deref()), (RejectReason::MissingField, Some("NP-1")));
    }

    #[test]
    fn invalid_price_everywhere_reports_first_reject() {
        let html = page(
            r#"<script type="application/ld+json">{"@type":"Product","sku":"N","offers":{"price":-4,"priceCurrency":"EUR"}}</script>"#,
            "",
        );
        let err = en(&html).unwrap_err();
        assert_eq!(err.reason, RejectReason::NegativePrice);
    }

    #[test]
    fn truncated_and_malformed_html_does_not_panic() {
        let inputs = [
            "<html><head><script type=\"application/ld+json\">{\"@type\":\"Product\"",
            "<div itemscope itemtype=\"https://schema.org/Product\"><span itemprop=\"price\" content=\"12.00\"",
            "<<<>>><meta property=product:price:amount content=7><meta property=product:price:currency content=EUR><div class=\"x",
            "\u{0}\u{feff}<html",
            "<script type=\"application/ld+json\">[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]</script>",
        ];
        for i in inputs {
            let _ = en(i);
        }
        // html5ever recovers unquoted attributes and the unclosed trailing markup.
        let r = en(inputs[2]).unwrap();
        assert_eq!(r.records[0].price.amount, d("7"));
        assert_eq!(r.records[0].currency, "EUR");
    }
}
