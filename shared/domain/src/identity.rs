//! The keys products are matched by across sources, computed once in the loader so that
//! PostgreSQL and Redshift compare the same text (neither dialect can NFKC-normalise
//! portably). The matching itself is SQL (`sql/transform/040_match_offers.sql` to
//! `048_save_matches.sql`);
//! brand aliases and category rules are data in the warehouse, not code.

use std::borrow::Cow;

use unicode_normalization::UnicodeNormalization;

/// A GTIN (UPC-A, EAN-8, EAN-13 or GTIN-14) as the 14-digit GTIN-14 it stands for, so
/// that the same item written as a UPC and as an EAN compares equal. Spaces and hyphens
/// are ignored. A wrong length, a bad check digit or all zeros is not an identifier.
pub fn gtin14(text: &str) -> Option<String> {
    let mut digits = [b'0'; 14];
    let mut len = 0;
    for c in text.chars() {
        match c {
            '0'..='9' if len < digits.len() => {
                digits[len] = c as u8;
                len += 1;
            }
            ' ' | '-' | '\u{a0}' => {}
            _ => return None,
        }
    }
    if !matches!(len, 8 | 12 | 13 | 14) {
        return None;
    }
    digits.copy_within(..len, 14 - len);
    digits[..14 - len].fill(b'0');
    if digits.iter().all(|&b| b == b'0') {
        return None;
    }
    // GS1 mod 10: from the right, excluding the check digit, weights 3, 1, 3, ...
    let value = |b: u8| u32::from(b - b'0');
    let sum: u32 = digits[..13].iter().rev().enumerate().map(|(i, &d)| value(d) * if i % 2 == 0 { 3 } else { 1 }).sum();
    let check = (10 - sum % 10) % 10;
    (check == value(digits[13])).then(|| String::from_utf8_lossy(&digits).into_owned())
}

/// `text` NFKC-normalised. ASCII text is its own NFKC form, so it skips the normaliser
/// (most names, brands and part numbers are ASCII).
fn nfkc(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.nfkc().collect())
    }
}

/// `text` NFKC-normalised and lower-cased, and of that the runs that `keep` accepts, one
/// space between runs. ASCII text is its own NFKC form, so it skips the normaliser.
fn collapse_lower(text: &str, keep: impl Fn(char) -> bool) -> Option<String> {
    if text.is_ascii() {
        collapse(text.bytes().map(|b| char::from(b.to_ascii_lowercase())), keep, text.len())
    } else {
        collapse(text.nfkc().flat_map(char::to_lowercase), keep, text.len())
    }
}

/// The runs of `chars` that `keep` accepts, one space between runs.
fn collapse(chars: impl Iterator<Item = char>, keep: impl Fn(char) -> bool, size: usize) -> Option<String> {
    let mut out = String::with_capacity(size);
    let mut gap = false;
    for c in chars {
        if !keep(c) {
            gap = true;
            continue;
        }
        if gap && !out.is_empty() {
            out.push(' ');
        }
        gap = false;
        out.push(c);
    }
    (!out.is_empty()).then_some(out)
}

/// A name as a matching key: NFKC, lower case, whitespace collapsed and trimmed. The
/// display name stays as the source wrote it.
pub fn name_key(name: &str) -> Option<String> {
    collapse_lower(name, |c| !c.is_whitespace())
}

/// A brand as a matching key before aliases: NFKC, lower case, every run of anything
/// but letters and digits one space (`Sony Corp.` → `sony corp`).
pub fn brand_key(brand: &str) -> Option<String> {
    collapse_lower(brand, char::is_alphanumeric)
}

/// A manufacturer part number as a matching key: NFKC, upper case, letters and digits
/// only (`wh-1000 xm5` → `WH1000XM5`).
pub fn mpn_key(mpn: &str) -> Option<String> {
    let key: String = nfkc(mpn).chars().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
    (!key.is_empty()).then_some(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upc_ean_and_gtin14_of_one_item_are_equal() {
        let upc = gtin14("012345678905");
        assert_eq!(upc.as_deref(), Some("00012345678905"));
        assert_eq!(gtin14("0012345678905"), upc);
        assert_eq!(gtin14("00012345678905"), upc);
        assert_eq!(gtin14("0-12345-67890-5"), upc);
        assert_eq!(gtin14("4006381333931").as_deref(), Some("04006381333931"));
        assert_eq!(gtin14("96385074").as_deref(), Some("00000096385074"));
    }

    #[test]
    fn a_bad_check_digit_or_shape_is_not_an_identifier() {
        assert_eq!(gtin14("4006381333932"), None);
        assert_eq!(gtin14("012345678906"), None);
        assert_eq!(gtin14("12345"), None);
        assert_eq!(gtin14("40063813339ab"), None);
        assert_eq!(gtin14("00000000000000"), None);
        assert_eq!(gtin14(""), None);
    }

    #[test]
    fn names_brands_and_mpns_normalise() {
        assert_eq!(name_key("  Widget\u{a0} PRO\t 2 ").as_deref(), Some("widget pro 2"));
        // NFKC folds the full-width and ligature forms.
        assert_eq!(name_key("Ｗｉｄｇｅｔ ﬁne").as_deref(), Some("widget fine"));
        assert_eq!(name_key("   "), None);
        assert_eq!(brand_key("Sony Corp.").as_deref(), Some("sony corp"));
        assert_eq!(brand_key("Hewlett-Packard").as_deref(), Some("hewlett packard"));
        assert_eq!(mpn_key("wh-1000 xm5").as_deref(), Some("WH1000XM5"));
        assert_eq!(mpn_key(" - "), None);
    }
}
