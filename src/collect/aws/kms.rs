//! KMS keys: each key a service names is read once per scan, however many services (in however
//! many accounts) share it, starting as soon as the first service naming it is described.
//!
//! A key is read with a client in the key's own region (parsed from its ARN), with the credentials
//! of the key's own account when that account is part of the scan (its assumed role can read its
//! keys), else with those of the account whose service named it (cross-account keys are readable
//! by ARN when the key policy allows). `DescribeKey` comes first; `GetKeyRotationStatus` only for
//! keys that can rotate automatically (enabled, symmetric, origin `AWS_KMS`).

use super::{Limits, Priority, RefuseEmptyAnswers, collection_error};
use crate::inventory::{Arn, CollectionError, Key, Rotation};
use aws_config::{Region, SdkConfig};
use aws_sdk_kms::error::ProvideErrorMetadata;
use aws_smithy_runtime::client::retries::RetryPartition;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;
use tokio::task::JoinSet;

type KeyResult = (Option<Key>, Vec<CollectionError>);

/// The credentials of one scanned account, as far as they are known yet.
#[derive(Clone)]
enum Credentials {
    /// Its role is still being assumed.
    Pending,
    Ready(Box<SdkConfig>),
    /// Its role could not be assumed (a collection error of its own).
    Failed,
}

type Clients = Arc<Mutex<HashMap<(String, String), aws_sdk_kms::Client>>>;

/// The scanned accounts as they are listed (an organization's arrive a page at a time), and
/// whether the list is complete (its receivers are also woken when an account is added).
#[derive(Default)]
struct Scanned {
    accounts: Mutex<HashMap<String, watch::Sender<Credentials>>>,
    complete: watch::Sender<bool>,
}

impl Scanned {
    fn accounts(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<Credentials>>> {
        self.accounts
            .lock()
            .expect("account list lock is never poisoned")
    }

    /// The credentials slot of `account` if it is scanned; `None` once the list is complete
    /// without it. A key of an account not listed yet waits for the rest of the list rather than
    /// being read with other credentials too early.
    async fn slot(&self, account: &str) -> Option<watch::Receiver<Credentials>> {
        let mut complete = self.complete.subscribe();
        loop {
            if let Some(slot) = self.accounts().get(account) {
                return Some(slot.subscribe());
            }
            if *complete.borrow_and_update() {
                return None;
            }
            if complete.changed().await.is_err() {
                return None;
            }
        }
    }
}

/// Reads keys once each, in the background, within the scan's limits.
pub struct KeyReader {
    /// Credentials of every account being scanned, published as each account's role is assumed:
    /// accounts start scanning one by one, and a key read waits only for the account it needs.
    scanned: Arc<Scanned>,
    limits: Limits,
    clients: Clients,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    requested: HashSet<String>,
    tasks: JoinSet<KeyResult>,
    errors: Vec<CollectionError>,
}

impl KeyReader {
    /// A reader for a scan whose accounts are then named with [`Self::add`] (and
    /// [`Self::listed`] once they all are), their credentials given with [`Self::ready`] or
    /// [`Self::failed`].
    pub fn new(limits: Limits) -> Self {
        KeyReader {
            scanned: Arc::default(),
            limits,
            clients: Clients::default(),
            state: Mutex::new(State::default()),
        }
    }

    /// `account` is scanned; its credentials are pending.
    pub fn add(&self, account: &str) {
        self.scanned
            .accounts()
            .entry(account.to_string())
            .or_insert_with(|| watch::channel(Credentials::Pending).0);
        // Wakes the key reads waiting for an account to be listed, to look again.
        self.scanned.complete.send_modify(|_| ());
    }

    /// Every scanned account has been added.
    pub fn listed(&self) {
        self.scanned.complete.send_replace(true);
    }

    /// The credentials of `account` are ready.
    pub fn ready(&self, account: &str, config: SdkConfig) {
        if let Some(slot) = self.scanned.accounts().get(account) {
            slot.send_replace(Credentials::Ready(Box::new(config)));
        }
    }

    /// `account` cannot be read with its own credentials.
    pub fn failed(&self, account: &str) {
        if let Some(slot) = self.scanned.accounts().get(account) {
            slot.send_replace(Credentials::Failed);
        }
    }

    /// Starts reading `arn` unless it was already requested. `requester` is the account whose
    /// service names the key. Must be called from within the Tokio runtime.
    pub fn request(&self, arn: &str, requester: &str) {
        let mut state = self
            .state
            .lock()
            .expect("key reader lock is never poisoned");
        if !state.requested.insert(arn.to_string()) {
            return;
        }
        let Some(parsed) = Arn::parse(arn).filter(|a| a.service == "kms" && !a.region.is_empty())
        else {
            state.errors.push(CollectionError {
                account_id: requester.into(),
                region: String::new(),
                resource: arn.into(),
                operation: "kms:DescribeKey".into(),
                code: "MalformedArn".into(),
                message: "EncryptionConfiguration.KmsKey is not a KMS key ARN".into(),
            });
            return;
        };
        let (key_account, region) = (parsed.account.to_string(), parsed.region.to_string());
        let (requester, limits, clients, scanned) = (
            requester.to_string(),
            self.limits.clone(),
            self.clients.clone(),
            self.scanned.clone(),
        );
        let arn = arn.to_string();
        state.tasks.spawn(async move {
            // The key's own account, once its role is assumed, else the requester's.
            let mut reader = None;
            for account in [&key_account, &requester] {
                if let Some(mut slot) = scanned.slot(account).await
                    && let Ok(creds) = slot.wait_for(|c| !matches!(c, Credentials::Pending)).await
                    && let Credentials::Ready(config) = &*creds
                {
                    reader = Some((account.clone(), SdkConfig::clone(config)));
                    break;
                }
            }
            let Some((reader, config)) = reader else {
                // Unreachable in practice (a requester is scanning, so its credentials are
                // ready), but never a silent skip.
                return (
                    None,
                    vec![CollectionError {
                        account_id: requester,
                        region,
                        resource: arn,
                        operation: "kms:DescribeKey".into(),
                        code: "NoCredentials".into(),
                        message: "no credentials of the key's or the service's account".into(),
                    }],
                );
            };
            let client = clients
                .lock()
                .expect("key client lock is never poisoned")
                .entry((reader.clone(), region.clone()))
                .or_insert_with(|| {
                    aws_sdk_kms::Client::from_conf(
                        aws_sdk_kms::config::Builder::from(&config)
                            .region(Region::new(region.clone()))
                            .retry_partition(RetryPartition::new(format!("kms:{reader}:{region}")))
                            .interceptor(RefuseEmptyAnswers)
                            .build(),
                    )
                })
                .clone();
            read_key(&client, &limits, &arn, &key_account, &region).await
        });
    }

    /// Waits for every key read and returns the keys by ARN and the errors.
    pub async fn finish(&self) -> (BTreeMap<String, Key>, Vec<CollectionError>) {
        let (mut tasks, mut errors) = {
            let mut state = self
                .state
                .lock()
                .expect("key reader lock is never poisoned");
            (
                std::mem::take(&mut state.tasks),
                std::mem::take(&mut state.errors),
            )
        };
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
}

fn kms_date(d: Option<&aws_smithy_types::DateTime>) -> Option<String> {
    d.and_then(|d| d.fmt(aws_smithy_types::date_time::Format::DateTime).ok())
}

/// `DescribeKey`, then `GetKeyRotationStatus` for keys that can rotate automatically.
async fn read_key(
    client: &aws_sdk_kms::Client,
    limits: &Limits,
    arn: &str,
    account: &str,
    region: &str,
) -> KeyResult {
    let scope = limits.scope("kms", account, region);
    let malformed = |message: &str| -> KeyResult {
        (
            None,
            vec![CollectionError {
                account_id: account.into(),
                region: region.into(),
                resource: arn.into(),
                operation: "kms:DescribeKey".into(),
                code: "MalformedResponse".into(),
                message: message.into(),
            }],
        )
    };
    let mut key = Key::named(arn, account, region);
    let described = limits
        .run(&scope, Priority::Chain, || {
            client.describe_key().key_id(arn).send()
        })
        .await;
    let meta = match described {
        Ok(out) => match out.key_metadata() {
            Some(m) => m.clone(),
            None => return malformed("the answer has no KeyMetadata"),
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
    // Without these the rules cannot classify the key: an error, never a silent pass.
    if meta.key_state().is_none()
        || meta.key_manager().is_none()
        || meta.origin().is_none()
        || meta.key_spec().is_none()
    {
        return malformed("KeyMetadata lacks KeyState, KeyManager, Origin or KeySpec");
    }
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
    let rotation = limits
        .run(&scope, Priority::Chain, || {
            client.get_key_rotation_status().key_id(arn).send()
        })
        .await;
    match rotation {
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
        // The key was classified as rotatable, so any failure here, UnsupportedOperationException
        // included, leaves its rotation unknown: an error, never "not applicable".
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

#[cfg(test)]
mod tests {
    use super::*;

    fn reader() -> KeyReader {
        KeyReader::new(Limits::new(4, 2))
    }

    /// Whether the credentials slot of `account` is found, once the lookup ends.
    fn lookup(reader: &KeyReader, account: &str) -> tokio::task::JoinHandle<bool> {
        let (scanned, account) = (reader.scanned.clone(), account.to_string());
        tokio::spawn(async move { scanned.slot(&account).await.is_some() })
    }

    #[tokio::test]
    async fn a_key_account_not_listed_yet_waits_for_the_listing() {
        let reader = reader();
        reader.add("111111111111");
        assert!(lookup(&reader, "111111111111").await.unwrap());

        // On a later page: found once added, not before.
        let later = lookup(&reader, "222222222222");
        let never = lookup(&reader, "333333333333");
        tokio::task::yield_now().await;
        assert!(!later.is_finished() && !never.is_finished());
        reader.add("222222222222");
        assert!(later.await.unwrap());
        assert!(!never.is_finished());

        // Not scanned at all: known only once the listing is complete.
        reader.listed();
        assert!(!never.await.unwrap());
        assert!(!lookup(&reader, "444444444444").await.unwrap());
    }
}
