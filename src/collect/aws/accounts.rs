//! Which accounts a scan covers, and the credentials for each.
//!
//! - The caller's own account (default), named accounts (`--accounts`), or every ACTIVE account
//!   of the organization (`--org`, Organizations `ListAccounts`, all pages; suspended and closing
//!   accounts are never touched).
//! - `--shard K/N` keeps the accounts whose hash falls in slice K of N, so N jobs of any scheduler
//!   split one organization, each account in exactly one shard, whatever order the API lists them.
//! - The caller's account is scanned with the caller's credentials; every other account through
//!   `sts:AssumeRole` of `arn:<partition>:iam::<account>:role/<role name>`. The role is assumed
//!   once up front (a failure is a collection error for that account, and the scan goes on) and
//!   the credentials are cached and refreshed before they expire, so long scans keep working.

use super::limits::{Gate, Limits, Priority};
use super::{RefuseEmptyAnswers, RoleOptions, SetupError, error_chain, setup_failure};
use crate::inventory::CollectionError;
use aws_config::identity::IdentityCache;
use aws_config::sts::AssumeRoleProvider;
use aws_config::{Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::{
    ProvideCredentials, SharedCredentialsProvider, error::CredentialsError, future,
};
use sha2::{Digest, Sha256};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// Which accounts to scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountChoice {
    /// The caller's own account.
    Caller,
    /// These accounts (`--accounts`).
    List(Vec<String>),
    /// Every ACTIVE account of the caller's organization (`--org`).
    Organization,
}

impl AccountChoice {
    /// Parses `--accounts`: comma-separated 12-digit account IDs.
    pub fn parse_list(text: &str) -> Result<Self, String> {
        let mut accounts: Vec<String> = Vec::new();
        for id in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            if id.len() != 12 || !id.bytes().all(|b| b.is_ascii_digit()) {
                return Err(format!(
                    "invalid account ID '{id}' in --accounts: an AWS account ID is 12 digits"
                ));
            }
            if !accounts.iter().any(|a| a == id) {
                accounts.push(id.to_string());
            }
        }
        if accounts.is_empty() {
            return Err(
                "--accounts is empty: give 12-digit account IDs separated by commas".into(),
            );
        }
        accounts.sort();
        Ok(AccountChoice::List(accounts))
    }
}

/// One slice of the accounts: `--shard K/N`, K from 1 to N.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// Parses `K/N`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad =
            || format!("invalid --shard '{text}': write K/N with 1 <= K <= N, e.g. --shard 2/8");
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if count == 0 || index == 0 || index > count {
            return Err(bad());
        }
        Ok(Shard { index, count })
    }

    /// Whether `account` belongs to this shard: the first 8 bytes of its SHA-256, modulo N.
    /// Stable across runs and independent of the listing order or of accounts added elsewhere.
    pub fn contains(&self, account: &str) -> bool {
        let digest = Sha256::digest(account.as_bytes());
        let mut head = [0u8; 8];
        head.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(head) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Every ACTIVE account of the organization, sent to `found` a page at a time (so that the
/// accounts of the first page are scanned while the next is listed). `Status` is being retired
/// in favour of `State`: an account is scanned only when neither says anything but ACTIVE.
pub async fn organization_accounts(
    config: &SdkConfig,
    region: &str,
    found: tokio::sync::mpsc::UnboundedSender<Vec<String>>,
) -> Result<(), SetupError> {
    let client = aws_sdk_organizations::Client::from_conf(
        aws_sdk_organizations::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .interceptor(RefuseEmptyAnswers)
            .build(),
    );
    // 20 is the largest page the API gives: fewest calls in the chain.
    let mut pages = client
        .list_accounts()
        .max_results(20)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| {
            setup_failure(
                "organizations:ListAccounts",
                &e,
                true,
                SetupError::Organization,
            )
        })?;
        let active = page
            .accounts()
            .iter()
            .filter(|account| {
                let status_ok = account.status().is_none_or(|s| s.as_str() == "ACTIVE");
                let state_ok = account.state().is_none_or(|s| s.as_str() == "ACTIVE");
                status_ok && state_ok
            })
            .filter_map(|account| account.id().map(str::to_string))
            .collect();
        // The receiver only goes away when the scan is abandoned.
        let _ = found.send(active);
    }
    Ok(())
}

/// How long before they expire assumed-role credentials are replaced.
const REFRESH_BEFORE_EXPIRY_SECS: u64 = 300;

/// Credentials from an assumed role, fetched once and reused while they have more than five
/// minutes left. The account's SDK identity cache sits on top, with a buffer of five minutes
/// (jittered by the SDK down to half of that): it asks again 2.5 to 5 minutes before they
/// expire, which this layer then always answers with a new `AssumeRole`, leaving minutes for its
/// retries. This layer exists so that the up-front check of each account's role is the same
/// `AssumeRole` call the scan then uses.
///
/// Every `AssumeRole` waits for a permit of the caller's STS gate: all of them come from the
/// caller's account, and `--accounts` with a thousand accounts would otherwise send a thousand
/// at once. The first one of an account also takes a scan-wide permit (before the STS one),
/// like any other call; a refresh does not, because it runs inside calls that already hold
/// one: if all of them were held by calls waiting for the refresh, it would wait forever.
#[derive(Debug)]
struct CachedRole {
    inner: AssumeRoleProvider,
    cache: tokio::sync::Mutex<Option<Credentials>>,
    gate: Arc<Gate>,
    limits: Limits,
}

impl CachedRole {
    async fn get(&self, first: bool) -> Result<Credentials, CredentialsError> {
        let mut cache = self.cache.lock().await;
        if let Some(creds) = cache.as_ref() {
            let fresh = creds.expiry().is_none_or(|t| {
                t > SystemTime::now() + Duration::from_secs(REFRESH_BEFORE_EXPIRY_SECS)
            });
            if fresh {
                return Ok(creds.clone());
            }
        }
        // The scan-wide permit first: a renewal waits for an STS permit while holding a
        // scan-wide one (its call's), so a first AssumeRole that held an STS permit while
        // waiting for a scan-wide one could wait on it forever. Whoever holds an STS permit now
        // only ever waits for STS.
        let _global = match first {
            true => Some(self.limits.global_permit(Priority::Chain).await),
            false => None,
        };
        let _sts = self.gate.acquire(Priority::Chain).await;
        let creds = self.inner.provide_credentials().await?;
        *cache = Some(creds.clone());
        Ok(creds)
    }
}

#[derive(Debug, Clone)]
struct SharedRole(Arc<CachedRole>);

impl ProvideCredentials for SharedRole {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(self.0.get(false))
    }
}

/// The SDK configuration for one account: the caller's own, or one whose credentials come from
/// the assumed role. A role that cannot be assumed is a collection error for the account.
pub async fn account_config(
    base: &SdkConfig,
    caller: &str,
    account: &str,
    partition: &str,
    role: &RoleOptions,
    sts_region: &str,
    limits: &Limits,
) -> Result<SdkConfig, CollectionError> {
    if account == caller {
        return Ok(base.clone());
    }
    let role_arn = format!("arn:{partition}:iam::{account}:role/{}", role.name);
    let mut builder = AssumeRoleProvider::builder(&role_arn)
        .configure(base)
        .region(Region::new(sts_region.to_string()))
        .session_name(&role.session_name);
    if let Some(id) = &role.external_id {
        builder = builder.external_id(id);
    }
    let role = SharedRole(Arc::new(CachedRole {
        inner: builder.build().await,
        cache: tokio::sync::Mutex::new(None),
        gate: limits.role_gate(caller, sts_region),
        limits: limits.clone(),
    }));
    if let Err(e) = role.0.get(true).await {
        let message = error_chain(&e);
        let code = assume_role_code(&e).unwrap_or_else(|| "AssumeRoleFailed".into());
        return Err(CollectionError {
            account_id: account.into(),
            region: "global".into(),
            resource: role_arn,
            operation: "sts:AssumeRole".into(),
            code,
            message: format!("{message}; the account was not scanned"),
        });
    }
    Ok(base
        .to_builder()
        .credentials_provider(SharedCredentialsProvider::new(role))
        .identity_cache(
            IdentityCache::lazy()
                .buffer_time(Duration::from_secs(REFRESH_BEFORE_EXPIRY_SECS))
                .build(),
        )
        .build())
}

/// STS's error code of a failed `AssumeRole`, from the SDK error the credentials provider wraps.
fn assume_role_code(e: &CredentialsError) -> Option<String> {
    use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
    use aws_sdk_sts::operation::assume_role::AssumeRoleError;
    type StsError = SdkError<AssumeRoleError, aws_smithy_runtime_api::http::Response>;
    super::sources(e).find_map(|e| {
        let sdk = e.downcast_ref::<StsError>()?;
        match sdk {
            SdkError::ServiceError(service) => service.err().code().map(str::to_string),
            SdkError::TimeoutError(_) => Some("Timeout".into()),
            SdkError::DispatchFailure(_) => Some("EndpointUnreachable".into()),
            _ => None,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_partition_the_accounts() {
        let accounts: Vec<String> = (0..200)
            .map(|i| format!("{:012}", 100_000_000_000u64 + i * 7919))
            .collect();
        for n in [1u32, 2, 3, 7] {
            let mut seen = std::collections::BTreeMap::new();
            for k in 1..=n {
                let shard = Shard { index: k, count: n };
                for a in accounts.iter().filter(|a| shard.contains(a)) {
                    assert!(seen.insert(a.clone(), k).is_none(), "{a} in two shards");
                }
            }
            assert_eq!(
                seen.len(),
                accounts.len(),
                "every account in a shard (n={n})"
            );
        }
    }

    #[test]
    fn parses_shards_and_account_lists() {
        assert_eq!(Shard::parse("2/8").unwrap(), Shard { index: 2, count: 8 });
        for bad in ["0/3", "4/3", "1/0", "x/2", "3"] {
            assert!(Shard::parse(bad).unwrap_err().contains("--shard"), "{bad}");
        }
        assert_eq!(
            AccountChoice::parse_list("222222222222, 111111111111,222222222222").unwrap(),
            AccountChoice::List(vec!["111111111111".into(), "222222222222".into()])
        );
        assert!(
            AccountChoice::parse_list("12345")
                .unwrap_err()
                .contains("12 digits")
        );
    }
}
