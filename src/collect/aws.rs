//! Live collection through the official AWS SDK for Rust.
//!
//! For each region (concurrently): list every App Runner service (all pages), describe each
//! (skipping `DELETED`), read its custom domains (all pages). Then read each KMS key the services
//! name, once per scan however many services share it, with a client in the key's own region
//! (parsed from its ARN): `DescribeKey`, then `GetKeyRotationStatus` where rotation applies.
//!
//! Endpoints, credentials and retries come from the SDK's own configuration chain
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_APPRUNNER`, profiles), so tests point the binary at
//! emulators without any code path of their own. Every failure after the caller's identity is
//! known becomes a [`CollectionError`] in the inventory: data in the report, never an early
//! return, never a silent pass.

use crate::inventory::env::sanitize_url;
use crate::inventory::{
    Arn, CollectionError, CustomDomain, EnvVar, Inventory, Key, Network, Observability, Rotation,
    Scope, SecretRef, Service, Source, SourceInfo, ValidationRecord,
};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_apprunner::error::{ProvideErrorMetadata, SdkError};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Regions that offer App Runner (AWS-NOTES.md).
pub const APPRUNNER_REGIONS: &[&str] = &[
    "ap-northeast-1",
    "ap-south-1",
    "ap-southeast-1",
    "ap-southeast-2",
    "eu-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "us-east-1",
    "us-east-2",
    "us-west-2",
];

/// Which regions to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegionChoice {
    /// The region of the SDK configuration (profile, `AWS_REGION`).
    Configured,
    /// Every region that offers App Runner.
    All,
    /// These regions.
    List(Vec<String>),
}

impl RegionChoice {
    /// Parses `--regions`: `all` or a comma-separated list of App Runner regions.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.trim() == "all" {
            return Ok(RegionChoice::All);
        }
        let mut regions = BTreeSet::new();
        for region in text.split(',').map(str::trim).filter(|r| !r.is_empty()) {
            check_region(region)?;
            regions.insert(region.to_string());
        }
        if regions.is_empty() {
            return Err("--regions is empty: give region names, e.g. --regions us-east-1,eu-west-1, or --regions all".into());
        }
        Ok(RegionChoice::List(regions.into_iter().collect()))
    }
}

fn check_region(region: &str) -> Result<(), String> {
    if APPRUNNER_REGIONS.contains(&region) {
        Ok(())
    } else {
        Err(format!(
            "unknown region '{region}' (App Runner is offered in {}): fix --regions or AWS_REGION",
            APPRUNNER_REGIONS.join(", ")
        ))
    }
}

/// Options of a live scan.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub regions: RegionChoice,
    /// Attempts per API call, the first included (adaptive retry mode).
    pub max_attempts: u32,
    /// Calls in flight at once within one region.
    pub concurrency: usize,
}

/// Failures that stop a scan before anything was collected (exit status 2).
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("{0}")]
    Region(String),
    #[error("{0}")]
    Profile(String),
    #[error(
        "no usable AWS credentials ({0}): configure credentials (environment variables, `aws configure`, `aws sso login`) or pass --profile NAME"
    )]
    Credentials(String),
}

/// Code and message of an SDK error, for a [`CollectionError`].
fn describe_error<E, R>(err: &SdkError<E, R>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::ServiceError(e) => (
            e.err().code().unwrap_or("UnknownError").to_string(),
            e.err()
                .message()
                .map(str::to_string)
                .unwrap_or_else(|| e.err().to_string()),
        ),
        SdkError::TimeoutError(_) => ("Timeout".into(), "the call timed out".into()),
        SdkError::DispatchFailure(d) => {
            let code = if d.is_timeout() {
                "Timeout"
            } else if d.is_io() {
                "EndpointUnreachable"
            } else {
                "DispatchFailure"
            };
            (code.into(), error_chain(err))
        }
        SdkError::ResponseError(_) => ("MalformedResponse".into(), error_chain(err)),
        _ => ("RequestFailed".into(), error_chain(err)),
    }
}

/// The messages of an error and its sources on one line, without repeats or Debug dumps.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next: Option<&dyn std::error::Error> = Some(err);
    while let Some(e) = next {
        let text = e
            .to_string()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if !text.is_empty() && !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        next = e.source();
    }
    parts.join(": ")
}

/// Checks that an explicitly named profile exists, so that a typo is a clear error rather than a
/// scan with other credentials.
async fn check_profile(profile: &str) -> Result<(), SetupError> {
    use aws_types::os_shim_internal::{Env, Fs};
    // The replacement named by the deprecation lives in aws-runtime, which the profile loader's
    // signature does not take yet.
    #[allow(deprecated)]
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    let set = aws_config::profile::load(&Fs::real(), &Env::real(), &files, None)
        .await
        .map_err(|e| {
            SetupError::Profile(format!(
                "cannot read the AWS config files: {}",
                error_chain(&e)
            ))
        })?;
    if set.get_profile(profile).is_none() {
        return Err(SetupError::Profile(format!(
            "AWS profile '{profile}' not found in the AWS config or credentials file: check the name (`aws configure list-profiles`)"
        )));
    }
    Ok(())
}

fn collection_error<E, R>(
    account: &str,
    region: &str,
    resource: &str,
    operation: &str,
    err: &SdkError<E, R>,
) -> CollectionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let (code, message) = describe_error(err);
    CollectionError {
        account_id: account.into(),
        region: region.into(),
        resource: resource.into(),
        operation: operation.into(),
        code,
        message,
    }
}

/// Loads the SDK configuration: default chain, optional profile, adaptive retries, timeouts.
pub async fn sdk_config(opts: &AwsOptions) -> SdkConfig {
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::adaptive()
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(200)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(120))
                .build(),
        );
    if let Some(profile) = &opts.profile {
        // An explicit profile supplies the credentials, as with the AWS CLI: environment
        // credentials must not silently win over it, and a missing profile is an error.
        loader = loader.profile_name(profile).credentials_provider(
            aws_config::profile::ProfileFileCredentialsProvider::builder()
                .profile_name(profile)
                .build(),
        );
    }
    loader.load().await
}

/// Collects the inventory of the caller's account over the chosen regions.
pub async fn collect(opts: &AwsOptions) -> Result<Inventory, SetupError> {
    if let Some(profile) = &opts.profile {
        check_profile(profile).await?;
    }
    let config = sdk_config(opts).await;
    let regions: Vec<String> = match &opts.regions {
        RegionChoice::All => APPRUNNER_REGIONS.iter().map(|r| r.to_string()).collect(),
        RegionChoice::List(list) => list.clone(),
        RegionChoice::Configured => {
            let region = config.region().map(|r| r.to_string()).ok_or_else(|| {
                SetupError::Region(
                    "no region configured: pass --regions us-east-1,... (or --regions all), or set AWS_REGION or the profile's region".into(),
                )
            })?;
            check_region(&region).map_err(SetupError::Region)?;
            vec![region]
        }
    };

    let sts_region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| regions[0].clone());
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&config)
            .region(Region::new(sts_region))
            .build(),
    );
    let identity = sts.get_caller_identity().send().await.map_err(|e| {
        let (code, message) = describe_error(&e);
        SetupError::Credentials(format!("sts:GetCallerIdentity failed: {code}: {message}"))
    })?;
    let account = identity
        .account()
        .ok_or_else(|| SetupError::Credentials("sts:GetCallerIdentity returned no account".into()))?
        .to_string();

    let mut inventory = Inventory::new(SourceInfo {
        collector: "aws".into(),
        collected_at: Some(now_rfc3339()),
        caller_account: Some(account.clone()),
        tool_version: Some(env!("CARGO_PKG_VERSION").into()),
    });

    let mut tasks = JoinSet::new();
    for region in regions {
        let config = config.clone();
        let account = account.clone();
        let concurrency = opts.concurrency.max(1);
        tasks.spawn(async move { collect_region(&config, &account, &region, concurrency).await });
    }
    while let Some(joined) = tasks.join_next().await {
        let part = joined.expect("region collection tasks do not panic");
        inventory.scopes.push(part.scope);
        inventory.services.extend(part.services);
        inventory.errors.extend(part.errors);
    }

    let key_arns: BTreeSet<String> = inventory
        .services
        .iter()
        .filter_map(|s| s.kms_key_arn.clone())
        .collect();
    let (keys, errors) = collect_keys(&config, &account, key_arns, opts.concurrency.max(1)).await;
    inventory.keys = keys;
    inventory.errors.extend(errors);
    inventory.normalize();
    Ok(inventory)
}

fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

/// What one region gave.
struct RegionPart {
    scope: Scope,
    services: Vec<Service>,
    errors: Vec<CollectionError>,
}

async fn collect_region(
    config: &SdkConfig,
    account: &str,
    region: &str,
    concurrency: usize,
) -> RegionPart {
    let client = aws_sdk_apprunner::Client::from_conf(
        aws_sdk_apprunner::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .build(),
    );
    let mut errors = Vec::new();
    let mut complete = true;
    let mut arns = Vec::new();
    let mut pages = client.list_services().into_paginator().send();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                for summary in page.service_summary_list() {
                    let deleted = summary.status().is_some_and(|s| s.as_str() == "DELETED");
                    match summary.service_arn() {
                        Some(arn) if !deleted => arns.push(arn.to_string()),
                        Some(_) => {}
                        None => errors.push(CollectionError {
                            account_id: account.into(),
                            region: region.into(),
                            resource: format!(
                                "apprunner:{region}:{}",
                                summary.service_name().unwrap_or("?")
                            ),
                            operation: "apprunner:ListServices".into(),
                            code: "MalformedResponse".into(),
                            message: "a service summary has no ServiceArn".into(),
                        }),
                    }
                }
            }
            Err(e) => {
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
        }
    }

    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    for arn in arns {
        let client = client.clone();
        let limit = limit.clone();
        let account = account.to_string();
        let region = region.to_string();
        tasks.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            describe_one(&client, &account, &region, &arn).await
        });
    }
    let mut services = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let (service, errs) = joined.expect("describe tasks do not panic");
        services.extend(service);
        errors.extend(errs);
    }
    RegionPart {
        scope: Scope {
            account_id: account.into(),
            region: region.into(),
            complete,
        },
        services,
        errors,
    }
}

/// Describes one service and reads its custom domains.
async fn describe_one(
    client: &aws_sdk_apprunner::Client,
    account: &str,
    region: &str,
    arn: &str,
) -> (Option<Service>, Vec<CollectionError>) {
    // The service's own account, from its ARN (the caller's, for a live scan of one account).
    let owner = Arn::parse(arn).map_or(account, |a| a.account).to_string();
    let described = match client.describe_service().service_arn(arn).send().await {
        Ok(out) => out,
        Err(e) => {
            return (
                None,
                vec![collection_error(
                    &owner,
                    region,
                    arn,
                    "apprunner:DescribeService",
                    &e,
                )],
            );
        }
    };
    let Some(raw) = described.service() else {
        return (
            None,
            vec![CollectionError {
                account_id: owner,
                region: region.into(),
                resource: arn.into(),
                operation: "apprunner:DescribeService".into(),
                code: "MalformedResponse".into(),
                message: "the answer has no Service".into(),
            }],
        );
    };
    if raw.status().as_str() == "DELETED" {
        return (None, vec![]);
    }
    let mut service = normalize_service(raw, &owner, region);
    let mut errors = Vec::new();

    let mut domains = Vec::new();
    let mut pages = client
        .describe_custom_domains()
        .service_arn(arn)
        .into_paginator()
        .send();
    let mut domains_ok = true;
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => domains.extend(page.custom_domains().iter().map(normalize_domain)),
            Err(e) => {
                domains_ok = false;
                errors.push(collection_error(
                    &owner,
                    region,
                    arn,
                    "apprunner:DescribeCustomDomains",
                    &e,
                ));
                break;
            }
        }
    }
    service.custom_domains = domains_ok.then_some(domains);
    (Some(service), errors)
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

/// Reads every key once, concurrently, each with a client in its own region.
async fn collect_keys(
    config: &SdkConfig,
    caller: &str,
    arns: BTreeSet<String>,
    concurrency: usize,
) -> (BTreeMap<String, Key>, Vec<CollectionError>) {
    let mut clients: BTreeMap<String, aws_sdk_kms::Client> = BTreeMap::new();
    let limit = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut errors = Vec::new();
    for arn in arns {
        let Some(parsed) = Arn::parse(&arn).filter(|a| a.service == "kms" && !a.region.is_empty())
        else {
            errors.push(CollectionError {
                account_id: caller.into(),
                region: String::new(),
                resource: arn.clone(),
                operation: "kms:DescribeKey".into(),
                code: "MalformedArn".into(),
                message: "EncryptionConfiguration.KmsKey is not a KMS key ARN".into(),
            });
            continue;
        };
        let (region, account) = (parsed.region.to_string(), parsed.account.to_string());
        let client = clients
            .entry(region.clone())
            .or_insert_with(|| {
                aws_sdk_kms::Client::from_conf(
                    aws_sdk_kms::config::Builder::from(config)
                        .region(Region::new(region.clone()))
                        .build(),
                )
            })
            .clone();
        let limit = limit.clone();
        tasks.spawn(async move {
            let _permit = limit
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            read_key(&client, &arn, &account, &region).await
        });
    }
    let mut keys = BTreeMap::new();
    while let Some(joined) = tasks.join_next().await {
        let (key, errs) = joined.expect("key tasks do not panic");
        if let Some(key) = key {
            keys.insert(key.arn.clone(), key);
        }
        errors.extend(errs);
    }
    (keys, errors)
}

fn kms_date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// `DescribeKey`, then `GetKeyRotationStatus` for keys that can rotate automatically.
async fn read_key(
    client: &aws_sdk_kms::Client,
    arn: &str,
    account: &str,
    region: &str,
) -> (Option<Key>, Vec<CollectionError>) {
    let mut key = Key {
        arn: arn.into(),
        account_id: account.into(),
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
    };
    let meta = match client.describe_key().key_id(arn).send().await {
        Ok(out) => match out.key_metadata() {
            Some(m) => m.clone(),
            None => {
                return (
                    None,
                    vec![CollectionError {
                        account_id: account.into(),
                        region: region.into(),
                        resource: arn.into(),
                        operation: "kms:DescribeKey".into(),
                        code: "MalformedResponse".into(),
                        message: "the answer has no KeyMetadata".into(),
                    }],
                );
            }
        },
        Err(e) if e.code() == Some("NotFoundException") => {
            key.exists = false;
            return (Some(key), vec![]);
        }
        Err(e) => {
            return (
                None,
                vec![collection_error(
                    account,
                    region,
                    arn,
                    "kms:DescribeKey",
                    &e,
                )],
            );
        }
    };
    key.state = meta.key_state().map(|s| s.as_str().to_string());
    key.manager = meta.key_manager().map(|s| s.as_str().to_string());
    key.origin = meta.origin().map(|s| s.as_str().to_string());
    key.spec = meta.key_spec().map(|s| s.as_str().to_string());
    key.usage = meta.key_usage().map(|s| s.as_str().to_string());
    key.custom_key_store_id = meta.custom_key_store_id().map(str::to_string);
    key.multi_region = meta.multi_region();
    key.deletion_date = kms_date(meta.deletion_date());
    key.valid_to = kms_date(meta.valid_to());

    // Automatic rotation exists only for enabled symmetric encryption keys of origin AWS_KMS;
    // asking about others fails or answers a meaningless false (RULES.md).
    let rotatable = key.state.as_deref() == Some("Enabled")
        && key.origin.as_deref() == Some("AWS_KMS")
        && key.spec.as_deref() == Some("SYMMETRIC_DEFAULT");
    if !rotatable {
        return (Some(key), vec![]);
    }
    match client.get_key_rotation_status().key_id(arn).send().await {
        Ok(out) => {
            key.rotation = Rotation {
                status: if out.key_rotation_enabled() {
                    "enabled".into()
                } else {
                    "disabled".into()
                },
                period_days: out.rotation_period_in_days().map(i64::from),
                next_rotation_date: kms_date(out.next_rotation_date()),
            };
            (Some(key), vec![])
        }
        Err(e) if e.code() == Some("UnsupportedOperationException") => (Some(key), vec![]),
        Err(e) => {
            key.rotation.status = "unknown".into();
            (
                Some(key),
                vec![collection_error(
                    account,
                    region,
                    arn,
                    "kms:GetKeyRotationStatus",
                    &e,
                )],
            )
        }
    }
}
