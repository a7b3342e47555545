//! Pure parsing of the documents sources send: no network, no AWS.
//!
//! - [`record`]: the scraped record, its price and reject types;
//! - [`price`]: locale-aware price text (`1,299.00`, `1.299,00`, `1 299,00`, `€1.299`);
//! - [`xml_util`]: hardened XML helpers (no DTDs, no custom entities);
//! - [`merchant_feed`]: Google Merchant Center RSS/Atom feeds, streamed;
//! - [`ecb_fx`]: ECB euro reference rates;
//! - [`html_product`]: product pages (JSON-LD, microdata, OpenGraph, CSS fallback);
//! - [`robots`]: robots.txt rules;
//! - [`json_fields`]: JSON API pages mapped by JSON pointers;
//! - [`csv_feed`]: CSV product feeds (delimiters, quoting, BOM, Latin-1).

pub mod csv_feed;
pub mod ecb_fx;
pub mod html_product;
pub mod json_fields;
pub mod merchant_feed;
pub mod price;
pub mod record;
pub mod robots;
pub mod xml_util;
