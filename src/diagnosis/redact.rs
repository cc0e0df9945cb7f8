//! Redaction of secrets from free text (Fivetran error reasons, API answers) before it is
//! logged, posted to Slack or sent to an LLM. Known secret values are replaced exactly; common
//! credential shapes are replaced by pattern.

use regex::Regex;
use std::sync::LazyLock;

pub const REDACTED: &str = "[redacted]";

struct Pattern {
    re: Regex,
    /// Replacement; `$1` keeps a captured prefix such as `password=`.
    with: &'static str,
}

static PATTERNS: LazyLock<Vec<Pattern>> = LazyLock::new(|| {
    let p = |re: &str, with: &'static str| Pattern {
        re: Regex::new(re).expect("redaction pattern compiles"),
        with,
    };
    vec![
        // user:password@ in URLs and connection strings.
        p(
            r"(?i)\b([a-z][a-z0-9+.\-]*://[^\s:/@]+:)[^\s@/]+@",
            "${1}[redacted]@",
        ),
        // Authorization headers and bearer tokens.
        p(
            r"(?i)\b(bearer|basic)\s+[a-z0-9._~+/=\-]{8,}",
            "$1 [redacted]",
        ),
        // Slack tokens.
        p(
            r"\bxox[abposre]-[A-Za-z0-9\-]{8,}",
            "[redacted-slack-token]",
        ),
        // OpenAI-style keys.
        p(r"\bsk-[A-Za-z0-9_\-]{16,}", "[redacted-api-key]"),
        // AWS access key ids and secret keys given as key=value.
        p(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b", "[redacted-aws-key]"),
        p(
            r#"(?i)\b(aws_secret_access_key|secret_access_key)(\s*[=:]\s*"?)[A-Za-z0-9/+=]{30,}"#,
            "$1$2[redacted]",
        ),
        // password=..., pwd: ..., api_key=..., token=..., secret=... in key/value text.
        p(
            r#"(?i)\b(password|passwd|pwd|api[_-]?key|apikey|access[_-]?token|refresh[_-]?token|client[_-]?secret|secret|token)(\s*[=:]\s*"?)[^\s"',;&}]{3,}"#,
            "$1$2[redacted]",
        ),
    ]
});

static EMAIL: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b[a-z0-9._%+\-]+@[a-z0-9.\-]+\.[a-z]{2,}\b").expect("email pattern compiles")
});

#[derive(Debug, Clone, Default)]
pub struct Redactor {
    /// Exact values never to show (configured secrets), longest first.
    known: Vec<String>,
}

impl Redactor {
    pub fn new<I, S>(known_secrets: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut known: Vec<String> = known_secrets
            .into_iter()
            .map(|s| s.as_ref().to_string())
            // A very short "secret" would blank out ordinary words.
            .filter(|s| s.len() >= 6)
            .collect();
        known.sort_by_key(|s| std::cmp::Reverse(s.len()));
        known.dedup();
        Self { known }
    }

    /// Secrets and credential shapes removed; e-mail addresses kept (they help people act).
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for secret in &self.known {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        for p in PATTERNS.iter() {
            if p.re.is_match(&out) {
                out = p.re.replace_all(&out, p.with).into_owned();
            }
        }
        out
    }

    /// As [`Redactor::redact`], and e-mail addresses replaced by stable placeholders
    /// (`<email-1>`, `<email-2>` in order of first appearance): for text leaving the company,
    /// such as an LLM prompt.
    pub fn redact_strict(&self, text: &str) -> String {
        let out = self.redact(text);
        let mut seen: Vec<String> = Vec::new();
        EMAIL
            .replace_all(&out, |c: &regex::Captures| {
                let email = c[0].to_ascii_lowercase();
                let n = match seen.iter().position(|e| *e == email) {
                    Some(i) => i + 1,
                    None => {
                        seen.push(email);
                        seen.len()
                    }
                };
                format!("<email-{n}>")
            })
            .into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_replaced() {
        let r = Redactor::new(["s3cr3t-value-123"]);
        assert_eq!(
            r.redact("key s3cr3t-value-123 leaked"),
            "key [redacted] leaked"
        );
    }

    #[test]
    fn credential_shapes_are_replaced() {
        let r = Redactor::default();
        let cases = [
            (
                "postgres://fivetran:hunter2pass@db.internal:5432/prod",
                "hunter2pass",
            ),
            (
                "Authorization: Bearer abcdefghijklmnop123",
                "abcdefghijklmnop123",
            ),
            ("token xoxb-1234567890-abcdefghij", "xoxb-1234567890"),
            ("using sk-proj-abcdefghijklmnopqrstuv", "sk-proj-abcdefghij"),
            ("AKIAIOSFODNN7EXAMPLE was used", "AKIAIOSFODNN7EXAMPLE"),
            (
                "jdbc:mysql://h/db?user=x&password=Tr0ub4dor&ssl=1",
                "Tr0ub4dor",
            ),
            ("api_key: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ];
        for (text, secret) in cases {
            let out = r.redact(text);
            assert!(!out.contains(secret), "{text} -> {out}");
            assert!(out.contains("redacted"), "{text} -> {out}");
        }
    }

    #[test]
    fn ordinary_error_text_is_untouched() {
        let r = Redactor::new(["abc"]);
        let msg =
            "java.lang.RuntimeException: The innodb_buffer_pool_size for your database is: 384 MB";
        assert_eq!(r.redact(msg), msg);
        assert_eq!(
            r.redact("password authentication failed for user \"fivetran\""),
            "password authentication failed for user \"fivetran\""
        );
    }

    #[test]
    fn emails_get_stable_placeholders_in_strict_mode() {
        let r = Redactor::default();
        let out = r.redact_strict("a@x.com then B@X.com then a@x.com");
        assert_eq!(out, "<email-1> then <email-2> then <email-1>");
        assert_eq!(r.redact("a@x.com"), "a@x.com");
    }
}
