//! Runtime environment variables, masked at collection time.
//!
//! A plain environment variable may hold a secret, and the inventory must never hold a secret's
//! value (it is saved, shared with auditors, re-scanned). So a value is reduced, as soon as it is
//! read, to a masked form (length and a short SHA-256 prefix, enough to notice a change between
//! scans) plus the facts the rules need:
//!
//! - `credential_patterns`: names of the credential detectors the value matched (below);
//! - `is_arn`: the value is an ARN (a reference to a secret, not a secret);
//! - `http_hosts`: host names of the plain `http://` URLs in the value (user info, port, path and
//!   query dropped), for the plaintext-endpoint rule to judge.
//!
//! The policy (which names look secret, which hosts are loopback) stays in the rule files; only
//! the recognition of a credential inside a value happens here, because it needs the value.

use regex::Regex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::LazyLock;

/// A plain runtime environment variable, without its value.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: String,
    /// Length of the value in characters.
    pub value_length: usize,
    /// First 8 hex digits of the SHA-256 of the value: tells whether it changed, reveals nothing
    /// usable about a real secret.
    pub value_sha256_prefix: String,
    pub is_arn: bool,
    /// Detectors (see [`DETECTORS`]) whose pattern the value matches, sorted.
    pub credential_patterns: Vec<String>,
    /// Hosts of `http://` URLs in the value, lower-case, sorted, unique.
    pub http_hosts: Vec<String>,
}

/// A named credential pattern.
pub struct Detector {
    pub name: &'static str,
    pub description: &'static str,
    pattern: &'static str,
}

/// The credential patterns recognized in values (RULES.md, AR020).
pub const DETECTORS: &[Detector] = &[
    Detector {
        name: "aws-access-key-id",
        description: "AWS access key id (AKIA/ASIA followed by 16 upper-case letters or digits)",
        pattern: r"(?:^|[^A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?:$|[^A-Z0-9])",
    },
    Detector {
        name: "private-key",
        description: "PEM private key header (-----BEGIN ... PRIVATE KEY-----)",
        pattern: r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----",
    },
    Detector {
        name: "github-token",
        description: "GitHub token (ghp_ or github_pat_)",
        pattern: r"\b(?:ghp_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})",
    },
    Detector {
        name: "slack-token",
        description: "Slack token (xoxa-, xoxb-, xoxp-, xoxr-, xoxs-)",
        pattern: r"\bxox[abprs]-[A-Za-z0-9-]{8,}",
    },
    Detector {
        name: "url-credentials",
        description: "password in a URL (scheme://user:password@host), e.g. a database URL",
        pattern: r"(?i)\b[a-z][a-z0-9+.-]*://[^\s/@:]+:[^\s]+@",
    },
    Detector {
        name: "jwt",
        description: "JSON Web Token (three base64url parts, the first starting eyJ)",
        pattern: r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*",
    },
];

static COMPILED: LazyLock<Vec<(&'static str, Regex)>> = LazyLock::new(|| {
    DETECTORS
        .iter()
        .map(|d| {
            (
                d.name,
                Regex::new(d.pattern).expect("detector patterns are valid"),
            )
        })
        .collect()
});

/// A plain `http://` URL up to the next white space or quote.
static HTTP_URL: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\bhttp://([^\s\x22'<>]+)").expect("valid regex"));

/// What `http_hosts` holds for a URL with user information: the host cannot be told apart from
/// the password reliably (`http://u:p@ss#1@host`), and storing either could leak the password.
pub const REDACTED_HOST: &str = "<host of a URL with credentials>";

impl EnvVar {
    /// Reduces a variable to its masked form. The value is dropped when this returns.
    pub fn from_plain(name: &str, value: &str) -> Self {
        let digest = Sha256::digest(value.as_bytes());
        let prefix = crate::finding::hex(&digest[..4]);
        let mut credential_patterns: Vec<String> = COMPILED
            .iter()
            .filter(|(_, re)| re.is_match(value))
            .map(|(name, _)| (*name).to_string())
            .collect();
        credential_patterns.sort();
        let mut http_hosts: Vec<String> = HTTP_URL
            .captures_iter(value)
            .filter_map(|c| c.get(1).map(|m| host_of_url_rest(m.as_str())))
            .filter(|h| !h.is_empty())
            .collect();
        http_hosts.sort();
        http_hosts.dedup();
        EnvVar {
            name: name.to_string(),
            value_length: value.chars().count(),
            value_sha256_prefix: prefix,
            is_arn: crate::inventory::Arn::parse(value.trim()).is_some(),
            credential_patterns,
            http_hosts,
        }
    }
}

/// A URL with any user information (`user:token@`) removed, so that credentials embedded in a
/// repository URL are never stored. Everything up to the last `@` goes: a password may itself
/// hold `@`, `/` or `#`, and removing too much never leaks anything.
pub fn sanitize_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    match rest.rsplit_once('@') {
        Some((_, after)) => format!("{scheme}://{after}"),
        None => url.to_string(),
    }
}

/// The host of what follows `http://`, lower-case, IPv6 brackets removed; [`REDACTED_HOST`]
/// when the URL carries user information.
fn host_of_url_rest(rest: &str) -> String {
    if rest.contains('@') {
        return REDACTED_HOST.to_string();
    }
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let host = if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.split(':').next().unwrap_or(authority)
    };
    host.to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_each_credential_pattern() {
        let cases = [
            ("AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
            ("key=ASIAY34FZKBOKMUTVV7A;", "aws-access-key-id"),
            ("x_AKIAIOSFODNN7EXAMPLE", "aws-access-key-id"),
            ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "private-key"),
            ("-----BEGIN PRIVATE KEY-----", "private-key"),
            ("ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789", "github-token"),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijkl",
                "github-token",
            ),
            ("xoxb-123456789012-abcdefABCDEF", "slack-token"),
            (
                "postgres://app:s3cr3t@db.internal:5432/app",
                "url-credentials",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "jwt",
            ),
        ];
        for (value, detector) in cases {
            let var = EnvVar::from_plain("X", value);
            assert_eq!(
                var.credential_patterns,
                vec![detector.to_string()],
                "{value}"
            );
        }
    }

    #[test]
    fn ordinary_values_match_nothing() {
        for value in [
            "debug",
            "AKIA-not-a-key",
            "https://example.com",
            "8080",
            "ghp_short",
            "",
        ] {
            assert!(
                EnvVar::from_plain("X", value)
                    .credential_patterns
                    .is_empty(),
                "{value}"
            );
        }
    }

    #[test]
    fn masks_the_value() {
        let var = EnvVar::from_plain("DB_PASSWORD", "hunter2-very-secret");
        let json = serde_json::to_string(&var).unwrap();
        assert!(!json.contains("hunter2"));
        assert_eq!(var.value_length, 19);
        assert_eq!(var.value_sha256_prefix.len(), 8);
    }

    #[test]
    fn sanitizes_urls() {
        assert_eq!(
            sanitize_url("https://u:tok@github.com/o/r"),
            "https://github.com/o/r"
        );
        assert_eq!(
            sanitize_url("https://u:p@ss/w@github.com/r"),
            "https://github.com/r"
        );
        assert_eq!(sanitize_url("git@github.com:o/r"), "git@github.com:o/r");
        assert_eq!(
            sanitize_url("https://github.com/o/r"),
            "https://github.com/o/r"
        );
    }

    /// A password holding `@` and `#` must not end up as a "host".
    #[test]
    fn urls_with_credentials_store_no_part_of_them() {
        for value in [
            "http://user:P@ssw0rd#1@db.example.com/x",
            "http://user:pw@localhost:8080",
            "see http://a:b@c",
        ] {
            let var = EnvVar::from_plain("X", value);
            assert_eq!(var.http_hosts, vec![REDACTED_HOST.to_string()], "{value}");
            let json = serde_json::to_string(&var).unwrap();
            for part in ["ssw0rd", "P@", "pw", ":b"] {
                assert!(!json.contains(part), "{value}: {json}");
            }
        }
    }

    #[test]
    fn recognizes_arns() {
        assert!(EnvVar::from_plain("X", "arn:aws:secretsmanager:us-east-1:1:secret:db").is_arn);
        assert!(!EnvVar::from_plain("X", "not-an-arn").is_arn);
    }

    #[test]
    fn extracts_http_hosts_without_credentials() {
        let var = EnvVar::from_plain(
            "X",
            "http://API.Example.com:8080/p?q=1 https://secure.example.com http://[::1]:80/ http://127.0.0.1 http://user:pw@x.example.com",
        );
        assert_eq!(
            var.http_hosts,
            vec!["127.0.0.1", "::1", REDACTED_HOST, "api.example.com"]
        );
        let json = serde_json::to_string(&var).unwrap();
        assert!(!json.contains("pw"));
    }
}
