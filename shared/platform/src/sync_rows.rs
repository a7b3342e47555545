//! The syncer's queries (`sql/queries/sync_*.sql`, `retired_*.sql`), `ppmt rejects`'
//! (`set_aside_rows.sql`) and `ppmt report`'s (`top_movers.sql`, `mover_history.sql`)
//! return rows of text cells, on PostgreSQL (simple protocol) and Redshift (Data API)
//! alike; this reads them into a [`SyncSet`], [`SetAside`], [`PriceMover`] and
//! [`PricePoint`] rows. Columns are positional, in the order each query's header lists.

use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use ppmt_domain::app_view::{HistoryPoint, ItemVersion, OfferView, ProductView};

use crate::ports::{PriceMover, PricePoint, SetAside, SyncSet};

/// One result row: each column as text, `None` for NULL.
pub type TextRow = Vec<Option<String>>;

/// The rows of each query of [`crate::sql::SYNC_QUERIES`].
#[derive(Debug, Default)]
pub struct SyncRows {
    pub products: Vec<TextRow>,
    pub offers: Vec<TextRow>,
    pub history: Vec<TextRow>,
    pub retired_offers: Vec<TextRow>,
    pub retired_products: Vec<TextRow>,
    pub retired_history: Vec<TextRow>,
}

struct Cells<'a> {
    query: &'static str,
    row: &'a TextRow,
}

impl Cells<'_> {
    fn opt(&self, i: usize) -> Option<String> {
        self.row.get(i).cloned().flatten().map(|t| t.trim_end().to_owned())
    }

    fn text(&self, i: usize) -> Result<String, String> {
        self.opt(i).ok_or_else(|| format!("{}: column {} is NULL", self.query, i + 1))
    }

    fn parse<T: FromStr>(&self, i: usize) -> Result<T, String> {
        let text = self.text(i)?;
        parse_text(&text).ok_or_else(|| format!("{}: column {} `{text}` cannot be read", self.query, i + 1))
    }

    fn parse_opt<T: FromStr>(&self, i: usize) -> Result<Option<T>, String> {
        match self.opt(i) {
            None => Ok(None),
            Some(_) => self.parse(i).map(Some),
        }
    }

    fn time(&self, i: usize) -> Result<DateTime<Utc>, String> {
        let text = self.text(i)?;
        // PostgreSQL's text form (`2026-11-25 02:00:00+00`) or RFC 3339.
        DateTime::parse_from_rfc3339(&text)
            .or_else(|_| DateTime::parse_from_str(&text, "%Y-%m-%d %H:%M:%S%.f%#z"))
            .map(|t| t.with_timezone(&Utc))
            .map_err(|_| format!("{}: column {} `{text}` is not a time", self.query, i + 1))
    }

    fn version(&self, first: usize) -> Result<ItemVersion, String> {
        Ok(ItemVersion { price_date: self.parse(first)?, load_seq: self.parse(first + 1)? })
    }
}

fn parse_text<T: FromStr>(text: &str) -> Option<T> {
    text.parse().ok()
}

fn each<T>(query: &'static str, rows: &[TextRow], f: impl Fn(&Cells) -> Result<T, String>) -> Result<Vec<T>, String> {
    rows.iter().map(|row| f(&Cells { query, row })).collect()
}

/// Reads a page of rows of the `query`th of [`crate::sql::SYNC_QUERIES`].
pub fn sync_page(query: usize, page: Vec<TextRow>) -> Result<SyncSet, String> {
    let mut rows = SyncRows::default();
    let part = match query {
        0 => &mut rows.products,
        1 => &mut rows.offers,
        2 => &mut rows.history,
        3 => &mut rows.retired_offers,
        4 => &mut rows.retired_products,
        5 => &mut rows.retired_history,
        _ => return Err(format!("the view has no query {query}")),
    };
    *part = page;
    read_sync_set(&rows)
}

/// Reads the rows of the sync queries.
pub fn read_sync_set(rows: &SyncRows) -> Result<SyncSet, String> {
    Ok(SyncSet {
        products: each("sync_products.sql", &rows.products, |c| {
            let product = ProductView {
                product_id: c.text(0)?,
                gtin: c.opt(1),
                name: c.opt(2),
                brand: c.opt(3),
                category: c.text(4)?,
                market_price_usd: c.parse(5)?,
                retail_price_usd: c.parse(6)?,
                lowest_price_usd: c.parse(7)?,
                sources: c.parse(8)?,
                price_change_pct: c.parse_opt(9)?,
                trend: c.opt(10),
                confidence: c.parse(11)?,
                availability: c.opt(12),
                price_date: c.parse(13)?,
                batch_id: c.text(14)?,
            };
            Ok((product, c.version(15)?))
        })?,
        offers: each("sync_offers.sql", &rows.offers, |c| {
            let offer = OfferView {
                product_id: c.text(0)?,
                source_id: c.text(1)?,
                price: c.parse(2)?,
                currency: c.text(3)?,
                price_usd: c.parse(4)?,
                fx_rate: c.parse(5)?,
                fx_rate_date: c.parse(6)?,
                fx_source: c.text(7)?,
                availability: c.opt(8),
                url: c.opt(9),
                observed_at: c.time(10)?,
                price_date: c.parse(11)?,
                price_max: c.parse_opt(14)?,
                regular_price_usd: c.parse_opt(15)?,
            };
            Ok((offer, c.version(12)?))
        })?,
        history: each("sync_history.sql", &rows.history, |c| {
            let point = HistoryPoint {
                product_id: c.text(0)?,
                price_date: c.parse(1)?,
                market_price_usd: c.parse(2)?,
                lowest_price_usd: c.parse(3)?,
                sources: c.parse(4)?,
            };
            Ok((point, c.version(5)?))
        })?,
        retired_offers: each("retired_offers.sql", &rows.retired_offers, |c| {
            Ok((c.text(0)?, c.text(1)?, c.version(2)?))
        })?,
        retired_products: each("retired_products.sql", &rows.retired_products, |c| {
            Ok((c.text(0)?, c.opt(1), c.version(2)?))
        })?,
        retired_history: each("retired_history.sql", &rows.retired_history, |c| {
            Ok((c.text(0)?, c.parse::<NaiveDate>(1)?, c.version(2)?))
        })?,
    })
}

/// The rows of `set_aside_rows.sql`, as text.
pub fn set_aside_from(rows: &[TextRow]) -> Result<Vec<SetAside>, String> {
    each("set_aside_rows.sql", rows, |c| {
        Ok(SetAside {
            kind: c.text(0)?,
            source_id: c.text(1)?,
            reason_code: c.text(2)?,
            rows: c.parse(3)?,
            sample_file: c.text(4)?,
            sample_line: c.parse(5)?,
            sample_detail: c.opt(6).unwrap_or_default(),
        })
    })
}

/// The rows of `top_movers.sql`, as text.
pub fn movers_from(rows: &[TextRow]) -> Result<Vec<PriceMover>, String> {
    each("top_movers.sql", rows, |c| {
        Ok(PriceMover {
            product_id: c.text(0)?,
            name: c.opt(1),
            brand: c.opt(2),
            category: c.text(3)?,
            market_price_usd: c.parse(4)?,
            price_change_pct: c.parse(5)?,
            prev_price_date: c.parse(6)?,
        })
    })
}

/// The rows of `mover_history.sql`, as text.
pub fn price_points_from(rows: &[TextRow]) -> Result<Vec<PricePoint>, String> {
    each("mover_history.sql", rows, |c| {
        Ok(PricePoint { product_id: c.text(0)?, price_date: c.parse(1)?, market_price_usd: c.parse(2)? })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(cells: &[Option<&str>]) -> TextRow {
        cells.iter().map(|c| c.map(str::to_owned)).collect()
    }

    #[test]
    fn reads_postgres_text_rows() {
        let rows = SyncRows {
            products: vec![row(&[
                Some("G04006381333931"),
                Some("04006381333931"),
                Some("Widget"),
                None,
                Some("kitchen"),
                Some("24.99"),
                Some("29.99"),
                Some("23.50"),
                Some("3"),
                Some("-4.25"),
                Some("falling"),
                Some("0.812"),
                Some("in_stock 2/3"),
                Some("2026-11-25"),
                Some("b1"),
                Some("2026-11-25"),
                Some("1764036000000"),
            ])],
            offers: vec![row(&[
                Some("G04006381333931"),
                Some("shop"),
                Some("22.000000"),
                Some("EUR"),
                Some("23.10"),
                Some("1.050000000000"),
                Some("2026-11-25"),
                Some("ECB"),
                None,
                None,
                Some("2026-11-25 02:00:00+00"),
                Some("2026-11-25"),
                Some("2026-11-25"),
                Some("1"),
            ])],
            retired_history: vec![row(&[Some("p"), Some("2026-11-25"), Some("2026-11-25"), Some("1")])],
            ..SyncRows::default()
        };
        let set = read_sync_set(&rows).unwrap();
        assert_eq!(set.products[0].0.sources, 3);
        assert_eq!(set.products[0].1.load_seq, 1_764_036_000_000);
        assert_eq!(set.offers[0].0.observed_at.to_rfc3339(), "2026-11-25T02:00:00+00:00");
        assert_eq!(set.retired_history.len(), 1);
        let broken =
            SyncRows { retired_products: vec![row(&[Some("p"), None, None, Some("1")])], ..SyncRows::default() };
        assert_eq!(read_sync_set(&broken).unwrap_err(), "retired_products.sql: column 3 is NULL");
    }

    #[test]
    fn reads_movers_and_price_points() {
        let movers = movers_from(&[row(&[
            Some("G1"),
            None,
            Some("Acme"),
            Some("audio"),
            Some("44.43"),
            Some("-8.86"),
            Some("2026-11-24"),
        ])])
        .unwrap();
        assert_eq!((movers[0].name.as_deref(), movers[0].price_change_pct.to_string()), (None, "-8.86".to_owned()));
        let points = price_points_from(&[row(&[Some("G1"), Some("2026-11-25"), Some("44.43")])]).unwrap();
        assert_eq!(points[0].market_price_usd.to_string(), "44.43");
        let broken = movers_from(&[row(&[Some("G1"), None, None, Some("audio"), Some("1"), None, None])]);
        assert_eq!(broken.unwrap_err(), "top_movers.sql: column 6 is NULL");
    }
}
