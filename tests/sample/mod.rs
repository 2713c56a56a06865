//! Builders of inventory values for rule tests and the demo fixture.
//!
//! Values go through the product's own masking (`EnvVar::from_plain`), so tests see exactly the
//! facts a live scan would store.
#![allow(dead_code)]

use apprunner_audit::inventory::{
    CollectionError, CustomDomain, EnvVar, Inventory, Key, Network, Observability, Rotation, Scope,
    SecretRef, Service, Source, SourceInfo, ValidationRecord,
};
use std::collections::BTreeSet;

/// A 32-hex-digit service ID derived from the name, so fixtures are stable.
fn service_id(name: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in name.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    format!("{h:016x}{:016x}", h.rotate_left(17) ^ 0x9e3779b97f4a7c15)
}

pub struct ServiceBuilder(Service);

/// An image-based, running, private, observable service in a VPC, with no key, no variables and
/// no custom domains: clean for every rule except AR001.
pub fn service(account: &str, region: &str, name: &str) -> ServiceBuilder {
    let id = service_id(name);
    ServiceBuilder(Service {
        arn: format!("arn:aws:apprunner:{region}:{account}:service/{name}/{id}"),
        name: name.into(),
        id: id.clone(),
        account_id: account.into(),
        region: region.into(),
        status: "RUNNING".into(),
        url: Some(format!("{}.{region}.awsapprunner.com", &id[..10])),
        kms_key_arn: None,
        source: Source {
            kind: "image".into(),
            image_identifier: Some(format!(
                "{account}.dkr.ecr.{region}.amazonaws.com/{name}:latest"
            )),
            image_repository_type: Some("ECR".into()),
            auto_deployments_enabled: Some(true),
            ..Default::default()
        },
        environment: Some(vec![]),
        secrets: vec![],
        custom_domains: Some(vec![]),
        network: Network {
            is_publicly_accessible: Some(false),
            egress_type: Some("VPC".into()),
            vpc_connector_arn: Some(format!(
                "arn:aws:apprunner:{region}:{account}:vpcconnector/main/1/0123456789abcdef"
            )),
            ip_address_type: Some("IPV4".into()),
        },
        observability: Observability {
            enabled: true,
            configuration_arn: Some(format!(
                "arn:aws:apprunner:{region}:{account}:observabilityconfiguration/xray/1/0123456789abcdef"
            )),
        },
    })
}

impl ServiceBuilder {
    pub fn key(mut self, arn: &str) -> Self {
        self.0.kms_key_arn = Some(arn.into());
        self
    }
    pub fn code(mut self, url: &str, configuration_source: &str) -> Self {
        self.0.source = Source {
            kind: "code".into(),
            repository_url: Some(url.into()),
            configuration_source: Some(configuration_source.into()),
            auto_deployments_enabled: Some(true),
            ..Default::default()
        };
        if configuration_source == "REPOSITORY" {
            self.0.environment = None;
        }
        self
    }
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.0
            .environment
            .get_or_insert_with(Vec::new)
            .push(EnvVar::from_plain(name, value));
        self
    }
    pub fn secret(mut self, name: &str, arn: &str) -> Self {
        self.0.secrets.push(SecretRef {
            name: name.into(),
            value_from: arn.into(),
        });
        self
    }
    pub fn domain(mut self, name: &str, status: &str, records: &[&str]) -> Self {
        self.0
            .custom_domains
            .get_or_insert_with(Vec::new)
            .push(CustomDomain {
                domain_name: name.into(),
                status: status.into(),
                enable_www_subdomain: Some(false),
                certificate_validation_records: records
                    .iter()
                    .enumerate()
                    .map(|(i, s)| ValidationRecord {
                        name: format!("_{i}abc.{name}."),
                        status: (*s).into(),
                    })
                    .collect(),
            });
        self
    }
    pub fn domains_unknown(mut self) -> Self {
        self.0.custom_domains = None;
        self
    }
    pub fn public(mut self, public: Option<bool>) -> Self {
        self.0.network.is_publicly_accessible = public;
        self
    }
    pub fn egress(mut self, egress: Option<&str>) -> Self {
        self.0.network.egress_type = egress.map(str::to_string);
        if egress != Some("VPC") {
            self.0.network.vpc_connector_arn = None;
        }
        self
    }
    pub fn observability(mut self, enabled: bool) -> Self {
        self.0.observability = Observability {
            enabled,
            configuration_arn: None,
        };
        self
    }
    pub fn status(mut self, status: &str) -> Self {
        self.0.status = status.into();
        self
    }
    pub fn build(self) -> Service {
        self.0
    }
}

pub struct KeyBuilder(Key);

/// A customer managed, enabled, symmetric AWS_KMS key rotating every 365 days: clean.
pub fn key(account: &str, region: &str, uuid: &str) -> KeyBuilder {
    KeyBuilder(Key {
        arn: format!("arn:aws:kms:{region}:{account}:key/{uuid}"),
        account_id: account.into(),
        region: region.into(),
        exists: true,
        state: Some("Enabled".into()),
        manager: Some("CUSTOMER".into()),
        origin: Some("AWS_KMS".into()),
        spec: Some("SYMMETRIC_DEFAULT".into()),
        usage: Some("ENCRYPT_DECRYPT".into()),
        custom_key_store_id: None,
        multi_region: Some(false),
        deletion_date: None,
        valid_to: None,
        rotation: Rotation {
            status: "enabled".into(),
            period_days: Some(365),
            next_rotation_date: Some("2027-03-01T00:00:00Z".into()),
        },
    })
}

impl KeyBuilder {
    pub fn arn(&self) -> String {
        self.0.arn.clone()
    }
    pub fn aws_managed(mut self) -> Self {
        self.0.manager = Some("AWS".into());
        self
    }
    pub fn state(mut self, state: &str) -> Self {
        self.0.state = Some(state.into());
        if state != "Enabled" {
            self.0.rotation = Rotation {
                status: "not_applicable".into(),
                ..Default::default()
            };
        }
        self
    }
    pub fn pending_deletion(self, date: &str) -> Self {
        let mut b = self.state("PendingDeletion");
        b.0.deletion_date = Some(date.into());
        b
    }
    pub fn origin(mut self, origin: &str) -> Self {
        self.0.origin = Some(origin.into());
        if origin != "AWS_KMS" {
            self.0.rotation = Rotation {
                status: "not_applicable".into(),
                ..Default::default()
            };
        }
        if origin == "AWS_CLOUDHSM" || origin == "EXTERNAL_KEY_STORE" {
            self.0.custom_key_store_id = Some("cks-1234567890abcdef0".into());
        }
        self
    }
    pub fn valid_to(mut self, date: &str) -> Self {
        self.0.valid_to = Some(date.into());
        self
    }
    pub fn spec(mut self, spec: &str) -> Self {
        self.0.spec = Some(spec.into());
        self
    }
    pub fn rotation(mut self, status: &str, period: Option<i64>) -> Self {
        self.0.rotation = Rotation {
            status: status.into(),
            period_days: period,
            next_rotation_date: None,
        };
        self
    }
    pub fn missing(mut self) -> Self {
        self.0 = Key {
            exists: false,
            ..Key::named(&self.0.arn, &self.0.account_id, &self.0.region)
        };
        self
    }
    pub fn build(self) -> Key {
        self.0
    }
}

/// An inventory of `services` and `keys`, with a scope for every account and region they use.
pub fn inventory(
    services: Vec<Service>,
    keys: Vec<Key>,
    errors: Vec<CollectionError>,
) -> Inventory {
    let mut inv = Inventory::new(SourceInfo {
        collector: "file".into(),
        collected_at: Some("2026-11-27T09:00:00Z".into()),
        caller_account: None,
        tool_version: None,
    });
    let scopes: BTreeSet<(String, String)> = services
        .iter()
        .map(|s| (s.account_id.clone(), s.region.clone()))
        .chain(
            errors
                .iter()
                .map(|e| (e.account_id.clone(), e.region.clone())),
        )
        .collect();
    inv.scopes = scopes
        .into_iter()
        .map(|(account_id, region)| {
            let complete = !errors.iter().any(|e| {
                e.account_id == account_id
                    && e.region == region
                    && e.operation == "apprunner:ListServices"
            });
            Scope {
                account_id,
                region,
                complete,
            }
        })
        .collect();
    inv.services = services;
    inv.keys = keys.into_iter().map(|k| (k.arn.clone(), k)).collect();
    inv.errors = errors;
    inv.normalize();
    inv
}
