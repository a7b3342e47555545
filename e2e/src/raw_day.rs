//! A deterministic raw day for the benches: price observations as the scraper writes
//! them (canonical CSV and JSON Lines), and the same offers as a Google Merchant feed
//! (XML), with what real days bring: about 5 % rejects (no product id, a zero or an
//! unreadable price), 1 % exact duplicates, 0.5 % ×100 mis-scaled prices, and four
//! currencies. The same `rows` and `day` always give the same bytes.

use ppmt_domain::record::{RawRecord, PRICE_CSV_HEADER};

const CURRENCIES: [&str; 4] = ["EUR", "USD", "GBP", "CHF"];

/// Observation `i` of day `day` (1-based day of a month, for the timestamps), of one of
/// `products` products.
fn record(i: usize, products: usize, day: u32) -> RawRecord {
    let product = i % products;
    let cents = 1_000 + (product * 7_919 + i / products) % 90_000;
    let mut price = format!("{}.{:02}", cents / 100, cents % 100);
    match i % 200 {
        0 => price = format!("{}.00", cents), // ×100
        1..=4 => price = "0".into(),
        5..=8 => price = "12,34.5".into(),
        _ => {}
    }
    RawRecord {
        product_id: (i % 200 != 9).then(|| format!("sku-{product:06}")),
        name: Some(format!("Product {product} {} edition", ["Basic", "Pro", "Max"][product % 3])),
        brand: Some(["Acme", "Globex", "Initech", "Umbrella"][product % 4].into()),
        gtin: Some(format!("{:013}", 4_006_381_000_000u64 + product as u64)),
        category: Some(["audio", "kitchen", "laptops", "smartphones"][product % 4].into()),
        price: Some(price),
        currency: Some(CURRENCIES[product % 4].into()),
        availability: Some(["in_stock", "out_of_stock"][usize::from(i % 10 == 0)].into()),
        url: Some(format!("https://shop.example/p/{product}")),
        observed_at: Some(format!("2026-11-{day:02}T02:{:02}:{:02}Z", (i / 60) % 60, i % 60)),
        ..RawRecord::default()
    }
}

/// `rows` observations of `products` products; every hundredth repeats the one before
/// it exactly.
pub fn records(rows: usize, products: usize, day: u32) -> Vec<RawRecord> {
    records_in(0..rows, products, day)
}

/// Observations `range` of the day of [`records`]: a day too large to hold at once is
/// generated piece by piece, and its pieces are the same rows [`records`] would give.
pub fn records_in(range: std::ops::Range<usize>, products: usize, day: u32) -> Vec<RawRecord> {
    let products = products.max(1);
    range.map(|i| record(if i % 100 == 99 { i - 1 } else { i }, products, day)).collect()
}

/// The ECB's rates of the day for the currencies of [`records`], as the scraper writes
/// them (1 EUR in USD, GBP and CHF).
pub fn fx_csv(day: u32) -> String {
    let mut out = ppmt_domain::record::FX_CSV_HEADER.join(",");
    for (quote, rate) in [("USD", "1.05"), ("GBP", "0.85"), ("CHF", "0.95")] {
        out.push_str(&format!("\n2026-11-{day:02},EUR,{quote},{rate},ECB"));
    }
    out.push('\n');
    out
}

/// The canonical CSV of the records, header first.
pub fn csv(records: &[RawRecord]) -> anyhow::Result<Vec<u8>> {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(PRICE_CSV_HEADER)?;
    for r in records {
        w.write_record(r.csv_fields())?;
    }
    Ok(w.into_inner()?)
}

/// The canonical JSON Lines of the records.
pub fn json_lines(records: &[RawRecord]) -> anyhow::Result<Vec<u8>> {
    let mut out = Vec::new();
    for r in records {
        serde_json::to_writer(&mut out, r)?;
        out.push(b'\n');
    }
    Ok(out)
}

/// The records as a Google Merchant RSS feed (`g:` fields, prices as `12.34 EUR`).
pub fn merchant_feed(records: &[RawRecord]) -> Vec<u8> {
    let mut out = String::from(
        "<?xml version=\"1.0\"?>\n<rss version=\"2.0\" xmlns:g=\"http://base.google.com/ns/1.0\"><channel>\n",
    );
    let text = |v: &Option<String>| v.as_deref().unwrap_or_default().replace('&', "&amp;").replace('<', "&lt;");
    for r in records {
        let availability = if r.availability.as_deref() == Some("in_stock") { "in stock" } else { "out of stock" };
        out.push_str(&format!(
            "<item><g:id>{}</g:id><g:title>{}</g:title><g:brand>{}</g:brand><g:gtin>{}</g:gtin>\
             <g:price>{} {}</g:price><g:availability>{availability}</g:availability><g:link>{}</g:link></item>\n",
            text(&r.product_id),
            text(&r.name),
            text(&r.brand),
            text(&r.gtin),
            text(&r.price),
            text(&r.currency),
            text(&r.url),
        ));
    }
    out.push_str("</channel></rss>\n");
    out.into_bytes()
}
