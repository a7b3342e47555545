//! ISO 4217 currency codes. Amounts are `rust_decimal::Decimal` everywhere; this module
//! makes sure the code next to an amount is a real, active currency.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Active ISO 4217 codes (List One), fund and precious-metal codes included, test and
/// no-currency codes (`XTS`, `XXX`) excluded. `ANG` and `XCG` are both kept during the
/// Caribbean guilder transition.
const ISO_4217: &[&str] = &[
    "AED", "AFN", "ALL", "AMD", "ANG", "AOA", "ARS", "AUD", "AWG", "AZN", "BAM", "BBD", "BDT", "BGN", "BHD", "BIF",
    "BMD", "BND", "BOB", "BOV", "BRL", "BSD", "BTN", "BWP", "BYN", "BZD", "CAD", "CDF", "CHE", "CHF", "CHW", "CLF",
    "CLP", "CNY", "COP", "COU", "CRC", "CUP", "CVE", "CZK", "DJF", "DKK", "DOP", "DZD", "EGP", "ERN", "ETB", "EUR",
    "FJD", "FKP", "GBP", "GEL", "GHS", "GIP", "GMD", "GNF", "GTQ", "GYD", "HKD", "HNL", "HTG", "HUF", "IDR", "ILS",
    "INR", "IQD", "IRR", "ISK", "JMD", "JOD", "JPY", "KES", "KGS", "KHR", "KMF", "KPW", "KRW", "KWD", "KYD", "KZT",
    "LAK", "LBP", "LKR", "LRD", "LSL", "LYD", "MAD", "MDL", "MGA", "MKD", "MMK", "MNT", "MOP", "MRU", "MUR", "MVR",
    "MWK", "MXN", "MXV", "MYR", "MZN", "NAD", "NGN", "NIO", "NOK", "NPR", "NZD", "OMR", "PAB", "PEN", "PGK", "PHP",
    "PKR", "PLN", "PYG", "QAR", "RON", "RSD", "RUB", "RWF", "SAR", "SBD", "SCR", "SDG", "SEK", "SGD", "SHP", "SLE",
    "SOS", "SRD", "SSP", "STN", "SVC", "SYP", "SZL", "THB", "TJS", "TMT", "TND", "TOP", "TRY", "TTD", "TWD", "TZS",
    "UAH", "UGX", "USD", "USN", "UYI", "UYU", "UYW", "UZS", "VED", "VES", "VND", "VUV", "WST", "XAF", "XAG", "XAU",
    "XBA", "XBB", "XBC", "XBD", "XCD", "XCG", "XDR", "XOF", "XPD", "XPF", "XPT", "XSU", "XUA", "YER", "ZAR", "ZMW",
    "ZWG",
];

/// True when `code` is exactly an active ISO 4217 code (three upper-case letters).
pub fn is_iso4217(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) && ISO_4217.binary_search(&code).is_ok()
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
        let code = text.trim().to_ascii_uppercase();
        match ISO_4217.binary_search(&code.as_str()) {
            Ok(i) => {
                let b = ISO_4217[i].as_bytes();
                Ok(Currency([b[0], b[1], b[2]]))
            }
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
