//! The keys products are matched by across sources, computed once in the loader so that
//! PostgreSQL and Redshift compare the same text (neither dialect can NFKC-normalise
//! portably). The matching itself is SQL (`sql/transform/040_match_offers.sql` to
//! `048_save_matches.sql`);
//! brand aliases and category rules are data in the warehouse, not code.

use unicode_normalization::UnicodeNormalization;

/// A GTIN (UPC-A, EAN-8, EAN-13 or GTIN-14) as the 14-digit GTIN-14 it stands for, so
/// that the same item written as a UPC and as an EAN compares equal. Spaces and hyphens
/// are ignored. A wrong length, a bad check digit or all zeros is not an identifier.
pub fn gtin14(text: &str) -> Option<String> {
    let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '\u{a0}')).collect();
    if !matches!(digits.len(), 8 | 12 | 13 | 14) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{digits:0>14}");
    if padded.bytes().all(|b| b == b'0') {
        return None;
    }
    let values: Vec<u32> = padded.bytes().map(|b| u32::from(b - b'0')).collect();
    // GS1 mod 10: from the right, excluding the check digit, weights 3, 1, 3, ...
    let sum: u32 = values[..13].iter().rev().enumerate().map(|(i, d)| if i % 2 == 0 { d * 3 } else { *d }).sum();
    let check = (10 - sum % 10) % 10;
    (check == values[13]).then_some(padded)
}

fn nfkc_lower(text: &str) -> String {
    text.nfkc().flat_map(char::to_lowercase).collect()
}

fn collapse(text: &str, keep: impl Fn(char) -> bool) -> Option<String> {
    let mut out = String::with_capacity(text.len());
    for word in text.split(|c: char| !keep(c)).filter(|w| !w.is_empty()) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    (!out.is_empty()).then_some(out)
}

/// A name as a matching key: NFKC, lower case, whitespace collapsed and trimmed. The
/// display name stays as the source wrote it.
pub fn name_key(name: &str) -> Option<String> {
    collapse(&nfkc_lower(name), |c| !c.is_whitespace())
}

/// A brand as a matching key before aliases: NFKC, lower case, every run of anything
/// but letters and digits one space (`Sony Corp.` → `sony corp`).
pub fn brand_key(brand: &str) -> Option<String> {
    collapse(&nfkc_lower(brand), char::is_alphanumeric)
}

/// A manufacturer part number as a matching key: NFKC, upper case, letters and digits
/// only (`wh-1000 xm5` → `WH1000XM5`).
pub fn mpn_key(mpn: &str) -> Option<String> {
    let key: String = mpn.nfkc().filter(|c| c.is_alphanumeric()).flat_map(char::to_uppercase).collect();
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
