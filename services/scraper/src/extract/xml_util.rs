//! Shared hardened XML plumbing for the feed parsers: [`FeedError`] and helpers that
//! refuse DTDs and never expand custom entities.
//!
//! Only the five predefined XML entities and numeric character references are
//! resolved; any other `&name;` is an error, and any `<!DOCTYPE` is rejected before
//! its content is interpreted (this defeats billion-laughs and external entities).

use quick_xml::encoding::Decoder;
use quick_xml::escape::resolve_predefined_entity;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesRef, BytesStart};

/// Error for a whole XML document that cannot be processed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// The document contains a `<!DOCTYPE …>` declaration.
    #[error("DOCTYPE declarations are not allowed (near byte {position})")]
    DoctypeForbidden { position: u64 },
    /// The document references an entity other than the five predefined ones.
    #[error("entity reference &{name}; is not allowed (near byte {position})")]
    UnknownEntity { name: String, position: u64 },
    /// The XML is not well-formed.
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    /// The root element is not what this parser expects.
    #[error("unexpected root element <{found}>, expected {expected}")]
    UnexpectedRoot { found: String, expected: &'static str },
    /// Well-formed XML whose content is invalid for this feed.
    #[error("invalid feed data near byte {position}: {message}")]
    InvalidData { position: u64, message: String },
}

/// Resolve a general reference event (`&amp;`, `&#233;`); custom entities are errors.
pub(crate) fn resolve_general_ref(r: &BytesRef<'_>, position: u64) -> Result<String, FeedError> {
    let malformed = |message: String| FeedError::Malformed { position, message };
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) => Err(malformed("invalid character reference".into())),
            Err(e) => Err(malformed(format!("invalid character reference: {e}"))),
        };
    }
    let name = r.decode().map_err(|e| malformed(format!("invalid entity name: {e}")))?;
    match resolve_predefined_entity(&name) {
        Some(s) => Ok(s.to_string()),
        None => Err(FeedError::UnknownEntity { name: name.into_owned(), position }),
    }
}

/// Look up an attribute by local name (ignoring any prefix), unescaped.
pub(crate) fn attr_value(
    e: &BytesStart<'_>,
    local: &[u8],
    decoder: Decoder,
    position: u64,
) -> Result<Option<String>, FeedError> {
    for a in e.attributes() {
        let a: Attribute<'_> =
            a.map_err(|err| FeedError::Malformed { position, message: format!("bad attribute: {err}") })?;
        if a.key.local_name().as_ref() == local {
            let v = a
                .decode_and_unescape_value(decoder)
                .map_err(|err| FeedError::Malformed { position, message: format!("bad attribute value: {err}") })?;
            return Ok(Some(v.into_owned()));
        }
    }
    Ok(None)
}
