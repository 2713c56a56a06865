//! The single finding type every rule produces and every renderer reads.
//!
//! A [`Finding`] is built only through [`Finding::new`], which computes the stable fingerprint, so
//! no renderer can meet a finding without one.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Severity of a finding, ordered from least to most severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const ALL: [Severity; 4] = [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        }
    }

    /// SARIF `level`: critical and high are `error`, medium `warning`, low `note`.
    pub fn sarif_level(self) -> &'static str {
        match self {
            Severity::Critical | Severity::High => "error",
            Severity::Medium => "warning",
            Severity::Low => "note",
        }
    }

    /// GitHub code scanning `security-severity` score.
    pub fn security_severity(self) -> &'static str {
        match self {
            Severity::Critical => "9.5",
            Severity::High => "8.0",
            Severity::Medium => "5.5",
            Severity::Low => "3.0",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Severity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "low" => Ok(Severity::Low),
            "medium" => Ok(Severity::Medium),
            "high" => Ok(Severity::High),
            "critical" => Ok(Severity::Critical),
            other => Err(format!(
                "unknown severity '{other}' (expected critical, high, medium or low)"
            )),
        }
    }
}

/// One violation of one rule by one resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Finding {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    pub account_id: String,
    pub region: String,
    pub resource_arn: String,
    pub resource_name: String,
    /// What tells two findings of one rule on one resource apart (a domain or variable name).
    pub discriminator: Option<String>,
    pub message: String,
    /// Facts for machines (`keyArn`, `keyState`, `domainName`, ...), sorted by name.
    pub properties: BTreeMap<String, serde_json::Value>,
    /// Stable hash of rule ID, resource ARN and discriminator.
    pub fingerprint: String,
}

/// Where a finding is and what it says; the rule engine fills it in.
pub struct FindingParts {
    pub rule_id: String,
    pub rule_name: String,
    pub severity: Severity,
    pub account_id: String,
    pub region: String,
    pub resource_arn: String,
    pub resource_name: String,
    pub discriminator: Option<String>,
    pub message: String,
    pub properties: BTreeMap<String, serde_json::Value>,
}

impl Finding {
    pub fn new(parts: FindingParts) -> Self {
        let fingerprint = fingerprint(
            &parts.rule_id,
            &parts.resource_arn,
            parts.discriminator.as_deref(),
        );
        Finding {
            rule_id: parts.rule_id,
            rule_name: parts.rule_name,
            severity: parts.severity,
            account_id: parts.account_id,
            region: parts.region,
            resource_arn: parts.resource_arn,
            resource_name: parts.resource_name,
            discriminator: parts.discriminator,
            message: parts.message,
            properties: parts.properties,
            fingerprint,
        }
    }

    /// The report order: most severe first, then account, region, service, rule, discriminator.
    pub fn sort_key(&self) -> impl Ord + '_ {
        (
            std::cmp::Reverse(self.severity),
            &self.account_id,
            &self.region,
            &self.resource_name,
            &self.resource_arn,
            &self.rule_id,
            &self.discriminator,
        )
    }
}

/// Hex SHA-256 of `rule \0 arn \0 discriminator`, first 32 digits.
pub fn fingerprint(rule_id: &str, arn: &str, discriminator: Option<&str>) -> String {
    let mut h = Sha256::new();
    h.update(rule_id.as_bytes());
    h.update([0]);
    h.update(arn.as_bytes());
    h.update([0]);
    h.update(discriminator.unwrap_or("").as_bytes());
    hex(&h.finalize()[..16])
}

/// Lower-case hex of `bytes` (one string, not one per byte: a finding's fingerprint was 6% of
/// evaluation when each digit pair was formatted on its own).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 0xf)] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_is_two_lower_case_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff, 0x10]), "000fa5ff10");
        assert_eq!(hex(&[]), "");
    }

    #[test]
    fn severity_order_and_parse() {
        assert!(Severity::Critical > Severity::High && Severity::Medium > Severity::Low);
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>().unwrap(), s);
        }
        assert!("severe".parse::<Severity>().is_err());
    }

    #[test]
    fn fingerprint_depends_on_each_part() {
        let base = fingerprint("AR011", "arn:x", Some("a.example.com"));
        assert_eq!(base, fingerprint("AR011", "arn:x", Some("a.example.com")));
        assert_ne!(base, fingerprint("AR011", "arn:x", Some("b.example.com")));
        assert_ne!(base, fingerprint("AR012", "arn:x", Some("a.example.com")));
        assert_ne!(base, fingerprint("AR011", "arn:y", Some("a.example.com")));
        assert_eq!(base.len(), 32);
    }
}
