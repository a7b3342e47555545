//! ISO 4217 currency codes. Amounts are `rust_decimal::Decimal` everywhere; this module
//! makes sure the code next to an amount is a real, active currency.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Active ISO 4217 codes (List One), fund and precious-metal codes included, test and
/// no-currency codes (`XTS`, `XXX`) excluded. `ANG` and `XCG` are both kept during the
/// Caribbean guilder transition.
const ISO_4217: &[[u8; 3]] = &[
    *b"AED", *b"AFN", *b"ALL", *b"AMD", *b"ANG", *b"AOA", *b"ARS", *b"AUD", *b"AWG", *b"AZN", *b"BAM", *b"BBD",
    *b"BDT", *b"BGN", *b"BHD", *b"BIF", *b"BMD", *b"BND", *b"BOB", *b"BOV", *b"BRL", *b"BSD", *b"BTN", *b"BWP",
    *b"BYN", *b"BZD", *b"CAD", *b"CDF", *b"CHE", *b"CHF", *b"CHW", *b"CLF", *b"CLP", *b"CNY", *b"COP", *b"COU",
    *b"CRC", *b"CUP", *b"CVE", *b"CZK", *b"DJF", *b"DKK", *b"DOP", *b"DZD", *b"EGP", *b"ERN", *b"ETB", *b"EUR",
    *b"FJD", *b"FKP", *b"GBP", *b"GEL", *b"GHS", *b"GIP", *b"GMD", *b"GNF", *b"GTQ", *b"GYD", *b"HKD", *b"HNL",
    *b"HTG", *b"HUF", *b"IDR", *b"ILS", *b"INR", *b"IQD", *b"IRR", *b"ISK", *b"JMD", *b"JOD", *b"JPY", *b"KES",
    *b"KGS", *b"KHR", *b"KMF", *b"KPW", *b"KRW", *b"KWD", *b"KYD", *b"KZT", *b"LAK", *b"LBP", *b"LKR", *b"LRD",
    *b"LSL", *b"LYD", *b"MAD", *b"MDL", *b"MGA", *b"MKD", *b"MMK", *b"MNT", *b"MOP", *b"MRU", *b"MUR", *b"MVR",
    *b"MWK", *b"MXN", *b"MXV", *b"MYR", *b"MZN", *b"NAD", *b"NGN", *b"NIO", *b"NOK", *b"NPR", *b"NZD", *b"OMR",
    *b"PAB", *b"PEN", *b"PGK", *b"PHP", *b"PKR", *b"PLN", *b"PYG", *b"QAR", *b"RON", *b"RSD", *b"RUB", *b"RWF",
    *b"SAR", *b"SBD", *b"SCR", *b"SDG", *b"SEK", *b"SGD", *b"SHP", *b"SLE", *b"SOS", *b"SRD", *b"SSP", *b"STN",
    *b"SVC", *b"SYP", *b"SZL", *b"THB", *b"TJS", *b"TMT", *b"TND", *b"TOP", *b"TRY", *b"TTD", *b"TWD", *b"TZS",
    *b"UAH", *b"UGX", *b"USD", *b"USN", *b"UYI", *b"UYU", *b"UYW", *b"UZS", *b"VED", *b"VES", *b"VND", *b"VUV",
    *b"WST", *b"XAF", *b"XAG", *b"XAU", *b"XBA", *b"XBB", *b"XBC", *b"XBD", *b"XCD", *b"XCG", *b"XDR", *b"XOF",
    *b"XPD", *b"XPF", *b"XPT", *b"XSU", *b"XUA", *b"YER", *b"ZAR", *b"ZMW", *b"ZWG",
];

/// True when `code` is exactly an active ISO 4217 code (three upper-case letters).
pub fn is_iso4217(code: &str) -> bool {
    <[u8; 3]>::try_from(code.as_bytes()).is_ok_and(|code| ISO_4217.binary_search(&code).is_ok())
}

/// An active ISO 4217 currency code, always three upper-case letters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Currency([u8; 3]);

/// Why a text is not a currency we accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an active ISO 4217 currency code")]
pub struct CurrencyError(pub String);

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");

    /// The code as text, e.g. `"USD"`.
    pub fn as_str(&self) -> &str {
        // The bytes come from ISO_4217, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }
}

impl FromStr for Currency {
    type Err = CurrencyError;

    /// Accepts the code in any case, surrounded by white space (`" usd"` is USD).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let code = match text.trim().as_bytes() {
            [a, b, c] => [a.to_ascii_uppercase(), b.to_ascii_uppercase(), c.to_ascii_uppercase()],
            _ => return Err(CurrencyError(text.to_owned())),
        };
        match ISO_4217.binary_search(&code) {
            Ok(_) => Ok(Currency(code)),
            Err(_) => Err(CurrencyError(text.to_owned())),
        }
    }
}

impl TryFrom<String> for Currency {
    type Error = CurrencyError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        value.parse()
    }
}

impl From<Currency> for String {
    fn from(c: Currency) -> String {
        c.as_str().to_owned()
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_list_is_sorted_for_binary_search() {
        assert!(ISO_4217.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn parses_codes_case_insensitively() {
        assert_eq!(" usd ".parse::<Currency>(), Ok(Currency::USD));
        assert_eq!("EUR".parse::<Currency>().map(|c| c.to_string()), Ok("EUR".into()));
        assert_eq!("gbp".parse::<Currency>().map(|c| c.to_string()), Ok("GBP".into()));
    }

    #[test]
    fn rejects_unknown_codes() {
        assert!(ISO_4217.len() >= 150);
        assert!(is_iso4217("XAF") && is_iso4217("ZWG") && !is_iso4217("eur") && !is_iso4217("XTS"));
        for bad in ["", "US", "USDX", "XXX", "ABC", "€"] {
            assert!(bad.parse::<Currency>().is_err(), "{bad}");
        }
    }

    #[test]
    fn serializes_as_plain_code() {
        let json = serde_json::to_string(&Currency::EUR).unwrap();
        assert_eq!(json, "\"EUR\"");
        assert!(serde_json::from_str::<Currency>("\"ZZZ\"").is_err());
    }
}
