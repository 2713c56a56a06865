//! One account x region of App Runner: every service (all pages of `ListServices`), each
//! described (`DELETED` skipped), its custom domains (all pages of `DescribeCustomDomains`), and
//! the KMS key it names handed to the [`KeyReader`] as soon as it is seen.
//!
//! Every call runs within the scan's [`Limits`]. A failure is a [`CollectionError`] for what could
//! not be read; what could be read is kept.

use super::kms::KeyReader;
use super::limits::Gate;
use super::{Limits, Priority, RefuseEmptyAnswers, collection_error};
use crate::inventory::env::sanitize_url;
use crate::inventory::{
    Arn, CollectionError, CustomDomain, EnvVar, Network, Observability, Scope, SecretRef, Service,
    Source, ValidationRecord,
};
use aws_config::{Region, SdkConfig};
use aws_smithy_runtime::client::retries::RetryPartition;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinSet;

/// The work of one account x region.
pub struct ScopeJob {
    pub account: String,
    pub region: String,
    pub config: SdkConfig,
    pub limits: Limits,
    pub keys: Arc<KeyReader>,
}

/// What one account x region gave.
pub struct ScopePart {
    pub scope: Scope,
    pub services: Vec<Service>,
    pub errors: Vec<CollectionError>,
}

impl ScopeJob {
    pub async fn run(self) -> ScopePart {
        // A retry partition of its own: throttling (and the adaptive rate limiter's reaction
        // to it) in one account and region must not slow down the others.
        let client = aws_sdk_apprunner::Client::from_conf(
            aws_sdk_apprunner::config::Builder::from(&self.config)
                .region(Region::new(self.region.clone()))
                .retry_partition(RetryPartition::new(format!(
                    "apprunner:{}:{}",
                    self.account, self.region
                )))
                .interceptor(RefuseEmptyAnswers)
                .build(),
        );
        let scope = self.limits.scope("apprunner", &self.account, &self.region);
        let (account, region) = (self.account.as_str(), self.region.as_str());
        let mut errors = Vec::new();
        let mut complete = true;
        let mut describing = JoinSet::new();
        // Services are described while further pages are listed.
        let mut pages = client
            .list_services()
            .max_results(20)
            .into_paginator()
            .send();
        loop {
            let page = match self
                .limits
                .run(&scope, Priority::Chain, || pages.next())
                .await
            {
                None => break,
                Some(Ok(page)) => page,
                Some(Err(e)) => {
                    complete = false;
                    errors.push(collection_error(
                        account,
                        region,
                        &format!("apprunner:{region}"),
                        "apprunner:ListServices",
                        &e,
                    ));
                    break;
                }
            };
            for summary in page.service_summary_list() {
                if summary.status().is_some_and(|s| s.as_str() == "DELETED") {
                    continue;
                }
                let Some(arn) = summary.service_arn() else {
                    errors.push(CollectionError {
                        account_id: account.into(),
                        region: region.into(),
                        resource: format!(
                            "apprunner:{region}:{}",
                            summary.service_name().unwrap_or("?")
                        ),
                        operation: "apprunner:ListServices".into(),
                        code: "MalformedResponse".into(),
                        message: "a service summary has no ServiceArn".into(),
                    });
                    continue;
                };
                let job = Describe {
                    client: client.clone(),
                    limits: self.limits.clone(),
                    scope: scope.clone(),
                    keys: self.keys.clone(),
                    account: account.to_string(),
                    region: region.to_string(),
                    arn: arn.to_string(),
                };
                describing.spawn(job.run());
            }
        }
        let mut services = Vec::new();
        while let Some(joined) = describing.join_next().await {
            let (service, errs) = joined.expect("describe tasks do not panic");
            services.extend(service);
            errors.extend(errs);
        }
        ScopePart {
            scope: Scope {
                account_id: self.account,
                region: self.region,
                complete,
            },
            services,
            errors,
        }
    }
}

/// Describing one service and reading its custom domains.
struct Describe {
    client: aws_sdk_apprunner::Client,
    limits: Limits,
    scope: Arc<Gate>,
    keys: Arc<KeyReader>,
    account: String,
    region: String,
    arn: String,
}

impl Describe {
    /// `DescribeService`, then the pages of `DescribeCustomDomains`. The domains wait for the
    /// description although they need only the ARN: run side by side, domain pages took the
    /// account's concurrency permits while waiting for a global one, and held up the
    /// descriptions (and so the key reads) that the scan's longest chain goes through. A service
    /// that is gone or cannot be described costs no domain calls.
    async fn run(self) -> (Option<Service>, Vec<CollectionError>) {
        // The service's own account, from its ARN.
        let owner = Arn::parse(&self.arn)
            .map_or(self.account.as_str(), |a| a.account)
            .to_string();
        match self.describe(&owner).await {
            Ok(Some(mut service)) => match self.domains(&owner).await {
                Ok(domains) => {
                    service.custom_domains = Some(domains);
                    (Some(service), vec![])
                }
                Err(e) => (Some(service), vec![e]),
            },
            // Deleted between the listing and the description: nothing to audit.
            Ok(None) => (None, vec![]),
            Err(e) => (None, vec![e]),
        }
    }

    /// The service, normalized; its key is handed to the key reader at once.
    async fn describe(&self, owner: &str) -> Result<Option<Service>, CollectionError> {
        let (region, arn) = (self.region.as_str(), self.arn.as_str());
        let call = || self.client.describe_service().service_arn(arn).send();
        let described = self
            .limits
            .run(&self.scope, Priority::Chain, call)
            .await
            .map_err(|e| collection_error(owner, region, arn, "apprunner:DescribeService", &e))?;
        let Some(raw) = described.service() else {
            return Err(CollectionError {
                account_id: owner.into(),
                region: region.into(),
                resource: arn.into(),
                operation: "apprunner:DescribeService".into(),
                code: "MalformedResponse".into(),
                message: "the answer has no Service".into(),
            });
        };
        if raw.status().as_str() == "DELETED" {
            return Ok(None);
        }
        let service = normalize_service(raw, owner, region);
        if let Some(key) = &service.kms_key_arn {
            self.keys.request(key, &self.account);
        }
        Ok(Some(service))
    }

    /// Every page of the service's custom domains.
    async fn domains(&self, owner: &str) -> Result<Vec<CustomDomain>, CollectionError> {
        let (region, arn) = (self.region.as_str(), self.arn.as_str());
        let mut domains = Vec::new();
        let mut pages = self
            .client
            .describe_custom_domains()
            .service_arn(arn)
            .into_paginator()
            .send();
        while let Some(page) = self
            .limits
            .run(&self.scope, Priority::Bulk, || pages.next())
            .await
        {
            let page = page.map_err(|e| {
                collection_error(owner, region, arn, "apprunner:DescribeCustomDomains", &e)
            })?;
            domains.extend(page.custom_domains().iter().map(normalize_domain));
        }
        Ok(domains)
    }
}

fn env_vars(map: Option<&HashMap<String, String>>) -> Vec<EnvVar> {
    map.map(|m| m.iter().map(|(k, v)| EnvVar::from_plain(k, v)).collect())
        .unwrap_or_default()
}

fn secret_refs(map: Option<&HashMap<String, String>>) -> Vec<SecretRef> {
    map.map(|m| {
        m.iter()
            .map(|(k, v)| SecretRef {
                name: k.clone(),
                value_from: v.clone(),
            })
            .collect()
    })
    .unwrap_or_default()
}

/// Turns the SDK's `Service` into the inventory's, masking every variable value.
pub fn normalize_service(
    raw: &aws_sdk_apprunner::types::Service,
    account: &str,
    region: &str,
) -> Service {
    let mut source = Source::default();
    let mut environment = Some(Vec::new());
    let mut secrets = Vec::new();
    if let Some(sc) = raw.source_configuration() {
        source.auto_deployments_enabled = sc.auto_deployments_enabled();
        if let Some(code) = sc.code_repository() {
            source.kind = "code".into();
            source.repository_url = Some(sanitize_url(code.repository_url()));
            match code.code_configuration() {
                Some(cc) => {
                    let from = cc.configuration_source().as_str().to_string();
                    if from == "REPOSITORY" {
                        environment = None;
                    } else if let Some(values) = cc.code_configuration_values() {
                        environment = Some(env_vars(values.runtime_environment_variables()));
                        secrets = secret_refs(values.runtime_environment_secrets());
                    }
                    source.configuration_source = Some(from);
                }
                None => environment = None,
            }
        } else if let Some(image) = sc.image_repository() {
            source.kind = "image".into();
            source.image_identifier = Some(image.image_identifier().to_string());
            source.image_repository_type = Some(image.image_repository_type().as_str().to_string());
            if let Some(ic) = image.image_configuration() {
                environment = Some(env_vars(ic.runtime_environment_variables()));
                secrets = secret_refs(ic.runtime_environment_secrets());
            }
        }
    }
    if source.kind.is_empty() {
        source.kind = "unknown".into();
        environment = None;
    }
    let network = raw
        .network_configuration()
        .map(|n| Network {
            is_publicly_accessible: n
                .ingress_configuration()
                .map(|i| i.is_publicly_accessible()),
            egress_type: n
                .egress_configuration()
                .and_then(|e| e.egress_type())
                .map(|t| t.as_str().to_string()),
            vpc_connector_arn: n
                .egress_configuration()
                .and_then(|e| e.vpc_connector_arn())
                .map(str::to_string),
            ip_address_type: n.ip_address_type().map(|t| t.as_str().to_string()),
        })
        .unwrap_or_default();
    let observability = raw
        .observability_configuration()
        .map(|o| Observability {
            enabled: o.observability_enabled(),
            configuration_arn: o.observability_configuration_arn().map(str::to_string),
        })
        .unwrap_or_default();
    Service {
        arn: raw.service_arn().to_string(),
        name: raw.service_name().to_string(),
        id: raw.service_id().to_string(),
        account_id: account.to_string(),
        region: region.to_string(),
        status: raw.status().as_str().to_string(),
        url: raw.service_url().map(str::to_string),
        kms_key_arn: raw
            .encryption_configuration()
            .map(|e| e.kms_key().to_string()),
        source,
        environment,
        secrets,
        custom_domains: None,
        network,
        observability,
    }
}

fn normalize_domain(d: &aws_sdk_apprunner::types::CustomDomain) -> CustomDomain {
    CustomDomain {
        domain_name: d.domain_name().to_string(),
        status: d.status().as_str().to_string(),
        enable_www_subdomain: Some(d.enable_www_subdomain()),
        certificate_validation_records: d
            .certificate_validation_records()
            .iter()
            .map(|r| ValidationRecord {
                name: r.name().unwrap_or_default().to_string(),
                status: r
                    .status()
                    .map(|s| s.as_str().to_string())
                    .unwrap_or_else(|| "UNKNOWN".into()),
            })
            .collect(),
    }
}
