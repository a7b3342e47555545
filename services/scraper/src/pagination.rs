//! JSON API pagination: which URL comes after a page. Pure; the fetch loop in
//! [`crate::fetch`] guards against loops and runaway sources.

use serde::Deserialize;
use url::Url;

/// How a JSON API pages its results.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "style", rename_all = "snake_case", deny_unknown_fields)]
pub enum Pagination {
    /// `?page=1`, `?page=2`, ... until a page has no items.
    PageNumber {
        #[serde(default = "default_page_param")]
        param: String,
        #[serde(default = "default_first_page")]
        start: u64,
    },
    /// `?offset=0&limit=50`, `?offset=50&limit=50`, ... until a short page.
    Offset {
        #[serde(default = "default_offset_param")]
        param: String,
        #[serde(default = "default_limit_param")]
        limit_param: String,
        limit: u64,
    },
    /// `?cursor=<value of cursor_pointer in the last page>` until it is null or empty.
    Cursor {
        #[serde(default = "default_cursor_param")]
        param: String,
        cursor_pointer: String,
    },
    /// The next page's URL (absolute or relative) is at `next_pointer` in the body.
    NextUrl { next_pointer: String },
    /// RFC 8288 `Link: <...>; rel="next"` response header.
    LinkHeader {},
}

fn default_page_param() -> String {
    "page".into()
}
const fn default_first_page() -> u64 {
    1
}
fn default_offset_param() -> String {
    "offset".into()
}
fn default_limit_param() -> String {
    "limit".into()
}
fn default_cursor_param() -> String {
    "cursor".into()
}

/// What the paginator may look at in a fetched page.
pub struct PageView<'a> {
    pub url: &'a Url,
    pub body: &'a serde_json::Value,
    pub link_header: Option<&'a str>,
    /// Items found on the page.
    pub items: usize,
}

fn with_param(url: &Url, name: &str, value: &str) -> Url {
    let kept: Vec<(String, String)> =
        url.query_pairs().filter(|(k, _)| k != name).map(|(k, v)| (k.into_owned(), v.into_owned())).collect();
    let mut next = url.clone();
    {
        let mut query = next.query_pairs_mut();
        query.clear();
        for (k, v) in &kept {
            query.append_pair(k, v);
        }
        query.append_pair(name, value);
    }
    next
}

/// The `rel="next"` target of an RFC 8288 `Link` header, resolved against `base`.
pub fn link_next(header: &str, base: &Url) -> Option<Url> {
    header.split(',').find_map(|part| {
        let (target, params) = part.trim().split_once(';')?;
        let target = target.trim().strip_prefix('<')?.strip_suffix('>')?;
        let is_next = params.split(';').any(|p| {
            let Some((k, v)) = p.trim().split_once('=') else {
                return false;
            };
            k.trim().eq_ignore_ascii_case("rel")
                && v.trim().trim_matches('"').split_whitespace().any(|r| r.eq_ignore_ascii_case("next"))
        });
        if is_next {
            base.join(target).ok()
        } else {
            None
        }
    })
}

impl Pagination {
    /// The first page's URL.
    pub fn first_url(&self, base: &Url) -> Url {
        match self {
            Pagination::PageNumber { param, start } => with_param(base, param, &start.to_string()),
            Pagination::Offset { param, limit_param, limit } => {
                with_param(&with_param(base, param, "0"), limit_param, &limit.to_string())
            }
            Pagination::Cursor { .. } | Pagination::NextUrl { .. } | Pagination::LinkHeader {} => base.clone(),
        }
    }

    /// The URL after page `index` (0-based), or `None` when it was the last. An error
    /// says why the page cannot be followed.
    pub fn next_url(&self, index: u64, page: &PageView<'_>) -> Result<Option<Url>, String> {
        match self {
            Pagination::PageNumber { param, start } => {
                Ok((page.items > 0).then(|| with_param(page.url, param, &(start + index + 1).to_string())))
            }
            Pagination::Offset { param, limit, .. } => Ok((page.items as u64 >= *limit && page.items > 0)
                .then(|| with_param(page.url, param, &((index + 1) * limit).to_string()))),
            Pagination::Cursor { param, cursor_pointer } => match page.body.pointer(cursor_pointer) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => Ok(Some(with_param(page.url, param, s))),
                Some(serde_json::Value::Number(n)) => Ok(Some(with_param(page.url, param, &n.to_string()))),
                Some(other) => Err(format!("cursor at {cursor_pointer} is not a string or number: {other}")),
            },
            Pagination::NextUrl { next_pointer } => match page.body.pointer(next_pointer) {
                None | Some(serde_json::Value::Null) => Ok(None),
                Some(serde_json::Value::String(s)) if s.is_empty() => Ok(None),
                Some(serde_json::Value::String(s)) => {
                    page.url.join(s).map(Some).map_err(|e| format!("next URL `{s}` at {next_pointer}: {e}"))
                }
                Some(other) => Err(format!("next URL at {next_pointer} is not a string: {other}")),
            },
            Pagination::LinkHeader {} => Ok(page.link_header.and_then(|h| link_next(h, page.url))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    fn next(
        p: &Pagination,
        index: u64,
        at: &str,
        body: serde_json::Value,
        link: Option<&str>,
        items: usize,
    ) -> Option<String> {
        let u = url(at);
        p.next_url(index, &PageView { url: &u, body: &body, link_header: link, items }).unwrap().map(|u| u.to_string())
    }

    #[test]
    fn page_numbers_stop_on_an_empty_page() {
        let p = Pagination::PageNumber { param: "page".into(), start: 1 };
        assert_eq!(p.first_url(&url("http://h/api?q=x")).as_str(), "http://h/api?q=x&page=1");
        assert_eq!(
            next(&p, 0, "http://h/api?q=x&page=1", json!({}), None, 3).as_deref(),
            Some("http://h/api?q=x&page=2")
        );
        assert_eq!(next(&p, 1, "http://h/api?q=x&page=2", json!({}), None, 0), None);
    }

    #[test]
    fn offsets_stop_on_a_short_page() {
        let p = Pagination::Offset { param: "offset".into(), limit_param: "limit".into(), limit: 2 };
        assert_eq!(p.first_url(&url("http://h/a")).as_str(), "http://h/a?offset=0&limit=2");
        assert_eq!(
            next(&p, 0, "http://h/a?offset=0&limit=2", json!({}), None, 2).as_deref(),
            Some("http://h/a?limit=2&offset=2")
        );
        assert_eq!(next(&p, 1, "http://h/a?limit=2&offset=2", json!({}), None, 1), None);
    }

    #[test]
    fn cursors_and_next_urls_come_from_the_body() {
        let c = Pagination::Cursor { param: "cursor".into(), cursor_pointer: "/meta/next".into() };
        assert_eq!(
            next(&c, 0, "http://h/a", json!({"meta": {"next": "abc"}}), None, 1).as_deref(),
            Some("http://h/a?cursor=abc")
        );
        assert_eq!(next(&c, 0, "http://h/a", json!({"meta": {"next": null}}), None, 1), None);
        let n = Pagination::NextUrl { next_pointer: "/links/next".into() };
        assert_eq!(
            next(&n, 0, "http://h/a/b?p=1", json!({"links": {"next": "b?p=2"}}), None, 1).as_deref(),
            Some("http://h/a/b?p=2")
        );
        assert_eq!(next(&n, 0, "http://h/a", json!({}), None, 1), None);
    }

    #[test]
    fn link_headers_follow_rel_next_only() {
        let base = url("http://h/items?page=1");
        let h = r#"<http://h/items?page=1>; rel="prev", </items?page=2>; rel="next last""#;
        assert_eq!(link_next(h, &base).map(|u| u.to_string()).as_deref(), Some("http://h/items?page=2"));
        assert_eq!(link_next(r#"<http://h/x>; rel="last""#, &base), None);
        assert_eq!(link_next("garbage", &base), None);
    }

    #[test]
    fn styles_deserialize_from_toml() {
        let p: Pagination = toml::from_str("style = \"offset\"\nlimit = 50").unwrap();
        assert!(matches!(p, Pagination::Offset { limit: 50, .. }));
        assert!(toml::from_str::<Pagination>("style = \"cursor\"").is_err());
        assert!(toml::from_str::<Pagination>("style = \"link_header\"\nbogus = 1").is_err());
    }
}
