//! Minimal robots.txt evaluation (RFC 9309 subset).
//!
//! Groups start with one or more `User-agent` lines. A crawler uses the group(s)
//! whose agent value (its product token, version suffix ignored) occurs
//! case-insensitively in the crawler's token — the longest such agent wins — and
//! falls back to `*`. Among matching `Allow`/`Disallow` rules the longest pattern wins;
//! on a tie `Allow` wins. Patterns support `*` (any run of characters) and a trailing
//! `$` (end anchor). `/robots.txt` is always allowed; no matching rule means allowed.
//! Only the first 500 KiB are read. Percent-encoding is compared literally.

use std::time::Duration;

/// Maximum robots.txt size evaluated (as Google does).
pub const MAX_ROBOTS_BYTES: usize = 500 * 1024;

#[derive(Debug, Clone, PartialEq)]
struct Rule {
    allow: bool,
    pattern: String,
}

#[derive(Debug, Clone, PartialEq, Default)]
struct Group {
    agents: Vec<String>,
    rules: Vec<Rule>,
    crawl_delay: Option<f64>,
}

/// A parsed robots.txt.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Robots {
    groups: Vec<Group>,
}

impl Robots {
    /// Parse robots.txt text. Never fails: unknown or malformed lines are ignored.
    pub fn parse(text: &str) -> Robots {
        let mut end = text.len().min(MAX_ROBOTS_BYTES);
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        let text = text[..end].trim_start_matches('\u{feff}');
        let mut robots = Robots::default();
        let mut cur: Option<Group> = None;
        let mut last_was_agent = false;
        for raw in text.lines() {
            let line = raw.split('#').next().unwrap_or("").trim();
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            let key = key.trim().to_ascii_lowercase();
            let value = value.trim();
            match key.as_str() {
                "user-agent" | "useragent" | "user agent" => {
                    if !last_was_agent {
                        if let Some(g) = cur.take() {
                            robots.groups.push(g);
                        }
                        cur = Some(Group::default());
                    }
                    if let Some(g) = cur.as_mut() {
                        let token = value.split('/').next().unwrap_or("").trim().to_lowercase();
                        if !token.is_empty() {
                            g.agents.push(token);
                        }
                    }
                    last_was_agent = true;
                }
                "allow" | "disallow" => {
                    last_was_agent = false;
                    if let Some(g) = cur.as_mut() {
                        if !value.is_empty() {
                            g.rules.push(Rule { allow: key == "allow", pattern: value.to_string() });
                        }
                    }
                }
                "crawl-delay" => {
                    last_was_agent = false;
                    if let (Some(g), Ok(v)) = (cur.as_mut(), value.parse::<f64>()) {
                        if v.is_finite() && v >= 0.0 && g.crawl_delay.is_none() {
                            g.crawl_delay = Some(v);
                        }
                    }
                }
                _ => {}
            }
        }
        if let Some(g) = cur {
            robots.groups.push(g);
        }
        robots
    }

    /// The groups of our product token (matched case-insensitively and exactly, as
    /// RFC 9309 asks), else the `*` groups.
    fn groups_for(&self, user_agent_token: &str) -> Vec<&Group> {
        let token = user_agent_token.trim().to_lowercase();
        let specific: Vec<&Group> = self.groups.iter().filter(|g| g.agents.contains(&token)).collect();
        if !specific.is_empty() {
            return specific;
        }
        self.groups.iter().filter(|g| g.agents.iter().any(|a| a == "*")).collect()
    }

    /// Whether `user_agent_token` may fetch `path` (path plus optional query, e.g. `/a?b=1`).
    pub fn is_allowed(&self, user_agent_token: &str, path: &str) -> bool {
        let path = if path.is_empty() { "/" } else { path };
        if path == "/robots.txt" {
            return true;
        }
        let mut best: Option<(usize, bool)> = None;
        for g in self.groups_for(user_agent_token) {
            for r in &g.rules {
                if pattern_matches(&r.pattern, path) {
                    let len = r.pattern.chars().count();
                    let better = match best {
                        None => true,
                        Some((bl, ba)) => len > bl || (len == bl && r.allow && !ba),
                    };
                    if better {
                        best = Some((len, r.allow));
                    }
                }
            }
        }
        best.map(|(_, allow)| allow).unwrap_or(true)
    }

    /// `Crawl-delay` of the group that applies to `user_agent_token`, if any.
    pub fn crawl_delay(&self, user_agent_token: &str) -> Option<Duration> {
        self.groups_for(user_agent_token)
            .iter()
            .find_map(|g| g.crawl_delay)
            .and_then(|s| Duration::try_from_secs_f64(s).ok())
    }
}

/// Match a robots pattern (`*` wildcard, trailing `$` anchor) against a path.
/// Without `$` the pattern only needs to match a prefix of the path.
fn pattern_matches(pattern: &str, path: &str) -> bool {
    let (pat, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p, true),
        None => (pattern, false),
    };
    let mut p: Vec<char> = pat.chars().collect();
    if !anchored {
        p.push('*');
    }
    let s: Vec<char> = path.chars().collect();
    // Iterative wildcard matching with single-star backtracking: O(|p|·|s|) worst case.
    let (mut pi, mut si) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, si));
            pi += 1;
        } else if pi < p.len() && p[pi] == s[si] {
            pi += 1;
            si += 1;
        } else if let Some((sp, ss)) = star {
            pi = sp + 1;
            si = ss + 1;
            star = Some((sp, ss + 1));
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TXT: &str = "\u{feff}# example
User-agent: *
Disallow: /cart
Disallow: /search?
Allow: /search?q=shoes
Disallow: /*.pdf$
Disallow: /private/*/secret
Crawl-delay: 2.5

User-agent: PPMTBot
User-agent: otherbot
Disallow: /
Allow: /products/
Allow: /p$
Crawl-delay: 10

user-agent: ppmtbot-news
disallow: /products/news

Sitemap: https://shop.example.com/sitemap.xml
";

    #[test]
    fn wildcard_group_rules() {
        let r = Robots::parse(TXT);
        let ua = "SomeCrawler";
        let cases = [
            ("/", true),
            ("/cart", false),
            ("/cart/items", false),
            ("/carton", false),
            ("/search?q=shoes&page=2", true),
            ("/search?q=hats", false),
            ("/search", true),
            ("/docs/manual.pdf", false),
            ("/docs/manual.pdf?x=1", true),
            ("/private/a/b/secret/x", false),
            ("/private/secret", true),
            ("/robots.txt", true),
            ("", true),
        ];
        for (path, want) in cases {
            assert_eq!(r.is_allowed(ua, path), want, "{path}");
        }
        assert_eq!(r.crawl_delay(ua), Some(Duration::from_millis(2500)));
    }

    #[test]
    fn the_product_token_matches_its_group_exactly_and_case_insensitively() {
        let r = Robots::parse(TXT);
        for ua in ["PPMTBot", "ppmtbot"] {
            assert!(!r.is_allowed(ua, "/cart"), "{ua}");
            assert!(!r.is_allowed(ua, "/about"), "{ua}");
            assert!(r.is_allowed(ua, "/products/123"), "{ua}");
            assert!(r.is_allowed(ua, "/p"), "{ua}");
            assert!(!r.is_allowed(ua, "/p/2"), "{ua}");
            assert!(r.is_allowed(ua, "/robots.txt"), "{ua}");
            assert_eq!(r.crawl_delay(ua), Some(Duration::from_secs(10)), "{ua}");
        }
        // ppmtbot-news has only its own group; a token merely containing "ppmtbot" is not ours.
        assert!(!r.is_allowed("PPMTBot-News", "/products/news/1"));
        assert!(r.is_allowed("PPMTBot-News", "/about"));
        assert_eq!(r.crawl_delay("PPMTBot-News"), None);
        assert_eq!(r.crawl_delay("XPPMTBotX"), Some(Duration::from_millis(2500)), "falls back to *");
    }

    #[test]
    fn longest_match_and_tie_goes_to_allow() {
        let r = Robots::parse(
            "User-agent: *\nDisallow: /a\nAllow: /a\nDisallow: /b/\nAllow: /b/c\nAllow: /d\nDisallow: /d/e",
        );
        assert!(r.is_allowed("x", "/a/1"));
        assert!(!r.is_allowed("x", "/b/x"));
        assert!(r.is_allowed("x", "/b/c/1"));
        assert!(r.is_allowed("x", "/d/x"));
        assert!(!r.is_allowed("x", "/d/e/f"));
    }

    #[test]
    fn empty_and_odd_files() {
        assert!(Robots::parse("").is_allowed("bot", "/x"));
        let r = Robots::parse("Disallow: /orphan\nUser-agent: *\nDisallow:\n");
        assert!(r.is_allowed("bot", "/orphan"), "rules before any user-agent are ignored");
        let r = Robots::parse("User-agent: googlebot\nDisallow: /\n");
        assert!(r.is_allowed("ppmtbot", "/x"), "no group for us and no * group");
        assert!(!r.is_allowed("Googlebot", "/x"));
        let r = Robots::parse("User-agent: *\nCrawl-delay: -1\nCrawl-delay: abc\nDisallow: /*$\n");
        assert_eq!(r.crawl_delay("bot"), None);
        assert!(!r.is_allowed("bot", "/anything"));
        let r = Robots::parse("User-agent: *\nDisallow: /fish*.php\n");
        assert!(!r.is_allowed("bot", "/fish.php"));
        assert!(!r.is_allowed("bot", "/fishheads/catfish.php?parameters"));
        assert!(r.is_allowed("bot", "/Fish.PHP"));
    }

    #[test]
    fn pattern_matching_table() {
        let cases = [
            ("/", "/anything", true),
            ("/fish", "/fish.html", true),
            ("/fish", "/Fish", false),
            ("/fish$", "/fish", true),
            ("/fish$", "/fish/", false),
            ("/*.php$", "/a/b.php", true),
            ("/*.php$", "/a/b.php5", false),
            ("*", "/x", true),
            ("/a*b*c", "/aXbYc", true),
            ("/a*b*c", "/aXcYb", false),
            ("/a$b", "/a$b/c", true),
        ];
        for (p, s, want) in cases {
            assert_eq!(pattern_matches(p, s), want, "{p} vs {s}");
        }
        // Pathological pattern terminates quickly.
        let long = "a".repeat(5000);
        assert!(!pattern_matches(&format!("/{}b", "*a".repeat(50)), &format!("/{long}")));
    }
}
