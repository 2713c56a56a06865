//! The inventory: one normalized, versioned model of everything a scan read.
//!
//! Every collector (live AWS today, saved files, infrastructure-as-code templates later) produces
//! an [`Inventory`]; the rules and reporters read nothing else, so they never know where the data
//! came from. The inventory is also evidence for auditors and the input of offline re-scans
//! (`--save-inventory` / `--from-inventory`), so it is serde-serializable, ordered
//! deterministically and versioned by [`SCHEMA_VERSION`].
//!
//! It never holds the value of an environment variable: see [`env`] for the masked form and the
//! facts derived from a value at collection time.

pub mod env;

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::Path;

pub use env::EnvVar;

/// Version of the inventory file format. Bumped on any incompatible change; readers refuse other
/// versions with a clear message instead of guessing.
pub const SCHEMA_VERSION: u32 = 1;

/// Everything one scan collected.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inventory {
    /// Always [`SCHEMA_VERSION`] when written by this build.
    pub schema_version: u32,
    /// Where the data came from and when: the run header of every report.
    pub source: SourceInfo,
    /// Every account x region pair the scan attempted, read or not.
    pub scopes: Vec<Scope>,
    /// App Runner services (status other than `DELETED`).
    pub services: Vec<Service>,
    /// KMS keys named by services, by key ARN; each key is read once per scan.
    pub keys: BTreeMap<String, Key>,
    /// Everything that could not be read. Never a pass, never a finding.
    pub errors: Vec<CollectionError>,
}

/// Provenance of an inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceInfo {
    /// `aws` for a live scan, `file` for hand-written or generated inventories.
    pub collector: String,
    /// RFC 3339 time the collection started, when known.
    pub collected_at: Option<String>,
    /// The account whose credentials ran the scan, when known.
    pub caller_account: Option<String>,
    /// Version of apprunner-audit that collected it.
    pub tool_version: Option<String>,
}

/// One account x region pair of the scan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    pub account_id: String,
    pub region: String,
    /// False when listing the region's services failed (its services are unknown).
    pub complete: bool,
}

/// One App Runner service, normalized.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub arn: String,
    pub name: String,
    pub id: String,
    pub account_id: String,
    pub region: String,
    /// `RUNNING`, `PAUSED`, `CREATE_FAILED`, `DELETE_FAILED`, `OPERATION_IN_PROGRESS`.
    pub status: String,
    /// Bare host name of the default domain.
    pub url: Option<String>,
    /// `EncryptionConfiguration.KmsKey`; `None` means the AWS managed key.
    pub kms_key_arn: Option<String>,
    pub source: Source,
    /// Plain runtime environment variables, masked. `None` when they could not be read (for
    /// example `ConfigurationSource = REPOSITORY`: they live in the repository's `apprunner.yaml`).
    pub environment: Option<Vec<EnvVar>>,
    /// Names of `RuntimeEnvironmentSecrets` and the ARN each points to (never a secret value).
    pub secrets: Vec<SecretRef>,
    /// Custom domains; `None` when `DescribeCustomDomains` failed.
    pub custom_domains: Option<Vec<CustomDomain>>,
    pub network: Network,
    pub observability: Observability,
}

/// Where a service's code comes from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// `code` (a source code repository) or `image` (a container image).
    pub kind: String,
    /// `CodeRepository.RepositoryUrl`, for code-based services.
    pub repository_url: Option<String>,
    /// `REPOSITORY` or `API`, for code-based services.
    pub configuration_source: Option<String>,
    /// `ImageRepository.ImageIdentifier`, for image-based services.
    pub image_identifier: Option<String>,
    /// `ECR` or `ECR_PUBLIC`, for image-based services.
    pub image_repository_type: Option<String>,
    pub auto_deployments_enabled: Option<bool>,
}

/// A runtime environment secret: the name and the ARN of the Secrets Manager secret or SSM
/// parameter it reads. The ARN is a reference, not the secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SecretRef {
    pub name: String,
    pub value_from: String,
}

/// A custom domain linked to a service.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CustomDomain {
    pub domain_name: String,
    pub status: String,
    pub enable_www_subdomain: Option<bool>,
    pub certificate_validation_records: Vec<ValidationRecord>,
}

/// One DNS record App Runner asks for to validate a custom domain's certificate.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValidationRecord {
    pub name: String,
    pub status: String,
}

/// `NetworkConfiguration`, flattened. `None` fields were absent from the answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub is_publicly_accessible: Option<bool>,
    /// `DEFAULT` or `VPC`.
    pub egress_type: Option<String>,
    pub vpc_connector_arn: Option<String>,
    pub ip_address_type: Option<String>,
}

/// `ObservabilityConfiguration`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Observability {
    /// False also when the configuration is absent.
    pub enabled: bool,
    pub configuration_arn: Option<String>,
}

/// A KMS key as read with `DescribeKey` and `GetKeyRotationStatus`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Key {
    pub arn: String,
    pub account_id: String,
    pub region: String,
    /// False when KMS answered `NotFoundException`: the key does not exist.
    pub exists: bool,
    /// `Enabled`, `Disabled`, `PendingDeletion`, `PendingReplicaDeletion`, `PendingImport`,
    /// `Unavailable`, `Creating`, `Updating`.
    pub state: Option<String>,
    /// `AWS` or `CUSTOMER`.
    pub manager: Option<String>,
    /// `AWS_KMS`, `EXTERNAL`, `AWS_CLOUDHSM`, `EXTERNAL_KEY_STORE`.
    pub origin: Option<String>,
    /// `SYMMETRIC_DEFAULT`, `RSA_2048`, ...
    pub spec: Option<String>,
    pub usage: Option<String>,
    pub custom_key_store_id: Option<String>,
    pub multi_region: Option<bool>,
    /// RFC 3339, only for keys pending deletion.
    pub deletion_date: Option<String>,
    /// RFC 3339, only for imported key material that expires.
    pub valid_to: Option<String>,
    pub rotation: Rotation,
}

impl Key {
    /// A key known by its ARN only: it exists, and none of its facts has been read yet
    /// (rotation `not_applicable` until a rotation status says otherwise).
    pub fn named(arn: &str, account_id: &str, region: &str) -> Key {
        Key {
            arn: arn.into(),
            account_id: account_id.into(),
            region: region.into(),
            exists: true,
            state: None,
            manager: None,
            origin: None,
            spec: None,
            usage: None,
            custom_key_store_id: None,
            multi_region: None,
            deletion_date: None,
            valid_to: None,
            rotation: Rotation {
                status: "not_applicable".into(),
                ..Default::default()
            },
        }
    }
}

/// Automatic rotation of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rotation {
    /// `enabled`, `disabled`, `not_applicable` (the key cannot rotate automatically, or is not in
    /// a state where KMS reports rotation), or `unknown` (the status could not be read: a
    /// collection error says why).
    pub status: String,
    pub period_days: Option<i64>,
    pub next_rotation_date: Option<String>,
}

/// Something the scan could not read. Reported in every format, sets exit status 3.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectionError {
    pub account_id: String,
    pub region: String,
    /// ARN (or name) of what could not be read; for a whole region, `apprunner:<region>`.
    pub resource: String,
    /// The API operation that failed, e.g. `kms:DescribeKey`.
    pub operation: String,
    /// The AWS error code (`AccessDeniedException`, `ThrottlingException`, ...) or a transport
    /// class (`Timeout`, `EndpointUnreachable`, `MalformedResponse`).
    pub code: String,
    pub message: String,
}

/// Why an inventory file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read inventory file {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "inventory file {path} is not a valid apprunner-audit inventory (line {line}, column {column}): {message}"
    )]
    Malformed {
        path: String,
        line: usize,
        column: usize,
        message: String,
    },
    #[error(
        "inventory file {path} has schema_version {found}; this build reads version {SCHEMA_VERSION}: re-collect it with this version"
    )]
    Version { path: String, found: u64 },
    #[error("inventory file {path} is inconsistent: {message}")]
    Inconsistent { path: String, message: String },
}

impl Inventory {
    /// An empty inventory for a collector to fill.
    pub fn new(source: SourceInfo) -> Self {
        Inventory {
            schema_version: SCHEMA_VERSION,
            source,
            ..Default::default()
        }
    }

    /// Puts everything in a canonical order so that the same facts serialize byte-identically.
    pub fn normalize(&mut self) {
        self.scopes.sort();
        self.scopes.dedup();
        self.services.sort_by(|a, b| {
            (&a.account_id, &a.region, &a.name, &a.arn).cmp(&(
                &b.account_id,
                &b.region,
                &b.name,
                &b.arn,
            ))
        });
        for service in &mut self.services {
            if let Some(vars) = &mut service.environment {
                vars.sort_by(|a, b| a.name.cmp(&b.name));
            }
            service.secrets.sort_by(|a, b| a.name.cmp(&b.name));
            if let Some(domains) = &mut service.custom_domains {
                domains.sort_by(|a, b| a.domain_name.cmp(&b.domain_name));
            }
        }
        self.errors.sort();
        self.errors.dedup();
    }

    /// Loads and checks an inventory written by `--save-inventory` (or by hand).
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: shown.clone(),
            source,
        })?;
        Self::from_json(&text, &shown)
    }

    /// Parses an inventory from JSON text; `path` only names it in errors.
    pub fn from_json(text: &str, path: &str) -> Result<Self, LoadError> {
        let malformed = |e: serde_json::Error| LoadError::Malformed {
            path: path.to_string(),
            line: e.line(),
            column: e.column(),
            message: e.to_string(),
        };
        // The whole file is parsed once. Only when that fails is the version looked at, so that
        // a file of another version gets the version message rather than a confusing field error.
        let mut inventory: Inventory = match serde_json::from_str::<Inventory>(text) {
            Ok(inv) if inv.schema_version == SCHEMA_VERSION => inv,
            Ok(inv) => {
                return Err(LoadError::Version {
                    path: path.to_string(),
                    found: u64::from(inv.schema_version),
                });
            }
            Err(full) => {
                #[derive(Deserialize)]
                struct VersionOnly {
                    schema_version: Option<serde_json::Value>,
                }
                let head: VersionOnly = serde_json::from_str(text).map_err(malformed)?;
                return Err(match head.schema_version.as_ref().and_then(|v| v.as_u64()) {
                    Some(found) if found != u64::from(SCHEMA_VERSION) => LoadError::Version {
                        path: path.to_string(),
                        found,
                    },
                    Some(_) => malformed(full),
                    None => LoadError::Malformed {
                        path: path.to_string(),
                        line: 1,
                        column: 1,
                        message: match &head.schema_version {
                            None | Some(serde_json::Value::Null) => {
                                "missing schema_version: this is not an apprunner-audit inventory"
                                    .into()
                            }
                            Some(other) => format!(
                                "schema_version is {other}, not a whole number such as {SCHEMA_VERSION}"
                            ),
                        },
                    },
                });
            }
        };
        inventory.normalize();
        inventory
            .check_consistency()
            .map_err(|message| LoadError::Inconsistent {
                path: path.to_string(),
                message,
            })?;
        Ok(inventory)
    }

    /// What a collector always writes, checked for files written or edited by hand: something
    /// unread must come with the error saying so, every service must lie in a scope the
    /// inventory covers, and the values rules compare must be ones AWS (or the collector)
    /// writes, in AWS's spelling: a `disabled` key state or a rotation status `unknown` without
    /// its error would otherwise pass rules silently.
    pub fn check_consistency(&self) -> Result<(), String> {
        // Looked up for every service and key: a set, not a scan of the errors each time.
        let errors: std::collections::HashSet<&str> =
            self.errors.iter().map(|e| e.resource.as_str()).collect();
        let explained = |resource: &str| errors.contains(resource);
        let covered: std::collections::BTreeSet<(&str, &str)> = self
            .scopes
            .iter()
            .map(|s| (s.account_id.as_str(), s.region.as_str()))
            .collect();
        for service in &self.services {
            if let Some(key) = &service.kms_key_arn
                && !self.keys.contains_key(key)
                && !explained(key)
            {
                return Err(format!(
                    "service {} names KMS key {key}, but the inventory has neither that key nor an error reading it",
                    service.arn
                ));
            }
            if !covered.contains(&(service.account_id.as_str(), service.region.as_str())) {
                return Err(format!(
                    "service {} is in account {} region {}, which the inventory's scopes do not list",
                    service.arn, service.account_id, service.region
                ));
            }
            if service.custom_domains.is_none() && !explained(&service.arn) {
                return Err(format!(
                    "the custom domains of service {} were not read, but no collection error names the service",
                    service.arn
                ));
            }
            one_of("service status", &service.status, SERVICE_STATUSES)?;
            one_of("service source kind", &service.source.kind, SOURCE_KINDS)?;
        }
        for key in self.keys.values() {
            let what = |field: &str| format!("{field} of KMS key {}", key.arn);
            if let Some(state) = &key.state {
                one_of(&what("state"), state, KEY_STATES)?;
            }
            if let Some(manager) = &key.manager {
                one_of(&what("manager"), manager, KEY_MANAGERS)?;
            }
            if let Some(origin) = &key.origin {
                one_of(&what("origin"), origin, KEY_ORIGINS)?;
            }
            one_of(
                &what("rotation status"),
                &key.rotation.status,
                ROTATION_STATUSES,
            )?;
            let unread = key.exists && key.state.is_none();
            if (unread || key.rotation.status == "unknown") && !explained(&key.arn) {
                return Err(format!(
                    "KMS key {} was not fully read (state {}, rotation {}), but no collection error names it",
                    key.arn,
                    key.state.as_deref().unwrap_or("missing"),
                    key.rotation.status
                ));
            }
        }
        for scope in self.scopes.iter().filter(|s| !s.complete) {
            let explained = self.errors.iter().any(|e| {
                e.account_id == scope.account_id
                    && (e.region == scope.region || e.region == "global")
            });
            if !explained {
                return Err(format!(
                    "account {} region {} is marked incomplete, but no collection error says why",
                    scope.account_id, scope.region
                ));
            }
        }
        Ok(())
    }

    /// The inventory as pretty JSON with a trailing newline.
    pub fn to_json(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("inventory serializes");
        text.push('\n');
        text
    }

    /// The key a service uses, if it names one and the key was read.
    pub fn key_of(&self, service: &Service) -> Option<&Key> {
        service
            .kms_key_arn
            .as_ref()
            .and_then(|arn| self.keys.get(arn))
    }
}

/// App Runner's `ServiceStatus` values.
const SERVICE_STATUSES: &[&str] = &[
    "CREATE_FAILED",
    "RUNNING",
    "DELETED",
    "DELETE_FAILED",
    "PAUSED",
    "OPERATION_IN_PROGRESS",
];
/// [`Source::kind`]: `unknown` when the answer had no source configuration.
const SOURCE_KINDS: &[&str] = &["code", "image", "unknown"];
/// KMS's `KeyState` values.
const KEY_STATES: &[&str] = &[
    "Creating",
    "Enabled",
    "Disabled",
    "PendingDeletion",
    "PendingImport",
    "PendingReplicaDeletion",
    "Unavailable",
    "Updating",
];
/// KMS's `KeyManager` values.
const KEY_MANAGERS: &[&str] = &["AWS", "CUSTOMER"];
/// KMS's `OriginType` values.
const KEY_ORIGINS: &[&str] = &["AWS_KMS", "EXTERNAL", "AWS_CLOUDHSM", "EXTERNAL_KEY_STORE"];
/// [`Rotation::status`].
const ROTATION_STATUSES: &[&str] = &["enabled", "disabled", "not_applicable", "unknown"];

/// `Ok` if `value` is one of `allowed`, spelled as they are.
fn one_of(what: &str, value: &str, allowed: &[&str]) -> Result<(), String> {
    if allowed.contains(&value) {
        return Ok(());
    }
    Err(format!(
        "the {what} is '{value}', which is not one of {} (values are case-sensitive)",
        allowed.join(", ")
    ))
}

/// Parts of an ARN, `arn:partition:service:region:account:resource`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arn<'a> {
    pub partition: &'a str,
    pub service: &'a str,
    pub region: &'a str,
    pub account: &'a str,
    pub resource: &'a str,
}

impl<'a> Arn<'a> {
    /// Splits an ARN; `None` when it is not one.
    pub fn parse(text: &'a str) -> Option<Self> {
        let mut parts = text.splitn(6, ':');
        if parts.next()? != "arn" {
            return None;
        }
        let arn = Arn {
            partition: parts.next()?,
            service: parts.next()?,
            region: parts.next()?,
            account: parts.next()?,
            resource: parts.next()?,
        };
        (!arn.partition.is_empty() && !arn.service.is_empty()).then_some(arn)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arn_parts() {
        let arn = Arn::parse("arn:aws:kms:eu-west-1:111122223333:key/abcd").unwrap();
        assert_eq!(arn.region, "eu-west-1");
        assert_eq!(arn.account, "111122223333");
        assert_eq!(arn.resource, "key/abcd");
        assert!(Arn::parse("alias/foo").is_none());
        assert!(Arn::parse("arn::kms").is_none());
    }

    #[test]
    fn refuses_other_versions_and_garbage() {
        let err = Inventory::from_json(r#"{"schema_version": 99}"#, "x.json").unwrap_err();
        assert!(matches!(err, LoadError::Version { found: 99, .. }), "{err}");
        let err = Inventory::from_json("{not json", "x.json").unwrap_err();
        assert!(matches!(err, LoadError::Malformed { line: 1, .. }), "{err}");
        let err = Inventory::from_json(r#"{"services": []}"#, "x.json").unwrap_err();
        assert!(err.to_string().contains("missing schema_version"), "{err}");
    }

    #[test]
    fn refuses_an_unexplained_missing_key_or_incomplete_scope() {
        let demo = include_str!("../../fixtures/demo-inventory.json");
        let mut inv = Inventory::from_json(demo, "demo").unwrap();
        inv.keys.clear();
        let err = Inventory::from_json(&inv.to_json(), "x.json").unwrap_err();
        assert!(matches!(err, LoadError::Inconsistent { .. }), "{err}");
        assert!(
            err.to_string().contains("neither that key nor an error"),
            "{err}"
        );

        let mut inv = Inventory::from_json(demo, "demo").unwrap();
        inv.errors.clear();
        let err = Inventory::from_json(&inv.to_json(), "x.json").unwrap_err();
        assert!(err.to_string().contains("marked incomplete"), "{err}");
    }

    #[test]
    fn round_trips() {
        let mut inv = Inventory::new(SourceInfo {
            collector: "file".into(),
            ..Default::default()
        });
        inv.scopes.push(Scope {
            account_id: "1".into(),
            region: "us-east-1".into(),
            complete: true,
        });
        let text = inv.to_json();
        assert_eq!(Inventory::from_json(&text, "t").unwrap(), inv);
    }
}
