//! Live collection through the official AWS SDK for Rust, over accounts x regions.
//!
//! The caller's identity (`sts:GetCallerIdentity`; failure is a credential error, exit 2) and,
//! for `--org`, the organization's accounts are asked at once. Then every account to scan
//! ([`accounts`]: the caller's, a list, or every ACTIVE account of the organization, optionally
//! one shard of them; an organization's as soon as their page of the listing is in) gets its
//! own credentials (the caller's for its own account, an assumed role for the others) and starts
//! all its regions ([`apprunner`]) as soon as they are ready, without waiting for the other
//! accounts. Each KMS key a service names is read once per scan, as soon as it is first seen and
//! the credentials it is read with are ready, with a client in the key's own account and region
//! ([`kms`]).
//!
//! Every API call goes through [`Limits`]: a global cap on calls in flight and a cap per
//! service x account x region, so that one account's API rate is never exceeded however many
//! accounts run at once; calls that others wait on are served first. Retries back off
//! exponentially with full jitter from 10 ms (standard mode), in a retry partition per
//! account x region; `--adaptive-retries` adds the SDK's client-side rate limiter.
//!
//! Endpoints, credentials and retries come from the SDK's own configuration chain
//! (`AWS_ENDPOINT_URL`, `AWS_ENDPOINT_URL_APPRUNNER`, profiles), so tests point the binary at
//! emulators without any code path of their own. Every failure after the caller's identity is
//! known becomes a [`CollectionError`] in the inventory: data in the report, never an early
//! return, never a silent pass.

pub mod accounts;
pub mod apprunner;
pub mod kms;
pub mod limits;

use super::progress::Progress;
use crate::inventory::{CollectionError, Inventory, Scope, SourceInfo};
use accounts::{AccountChoice, Shard};
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_apprunner::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::{
    AfterDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse, Metadata};
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
pub use limits::{Limits, Priority};
use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
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
            check_region(region, "--regions")?;
            regions.insert(region.to_string());
        }
        if regions.is_empty() {
            return Err("--regions is empty: give region names, e.g. --regions us-east-1,eu-west-1, or --regions all".into());
        }
        Ok(RegionChoice::List(regions.into_iter().collect()))
    }
}

/// `region`, named by `source`, is one that offers App Runner.
fn check_region(region: &str, source: &str) -> Result<(), String> {
    if APPRUNNER_REGIONS.contains(&region) {
        Ok(())
    } else {
        Err(format!(
            "unknown region '{region}' (App Runner is offered in {}): fix {source}",
            APPRUNNER_REGIONS.join(", ")
        ))
    }
}

/// Options of a live scan.
#[derive(Debug, Clone)]
pub struct AwsOptions {
    pub profile: Option<String>,
    pub regions: RegionChoice,
    pub accounts: AccountChoice,
    /// Role assumed in every scanned account but the caller's.
    pub role_name: String,
    pub external_id: Option<String>,
    pub role_session_name: String,
    pub shard: Option<Shard>,
    /// Attempts per API call, the first included.
    pub max_attempts: u32,
    /// The SDK's adaptive retry mode (client-side rate limiting once throttled) instead of the
    /// standard one (exponential backoff with jitter).
    pub adaptive_retries: bool,
    /// Calls in flight at once, over the whole scan.
    pub concurrency: usize,
    /// Calls in flight at once within one account x region.
    pub scope_concurrency: usize,
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
    #[error(
        "cannot reach AWS ({0}): check the network, the proxy settings (HTTPS_PROXY, NO_PROXY), the trusted certificates (SSL_CERT_FILE, for a proxy that re-signs TLS) and any endpoint override (AWS_ENDPOINT_URL), then run again"
    )]
    Unreachable(String),
    #[error(
        "the answer was not AWS's ({0}): check the proxy settings (HTTPS_PROXY, NO_PROXY) and any endpoint override (AWS_ENDPOINT_URL), then run again"
    )]
    NotAws(String),
    #[error(
        "cannot list the organization's accounts ({0}): run with credentials of the management account or a delegated administrator, or name accounts with --accounts"
    )]
    Organization(String),
    #[error("{0}")]
    Endpoint(String),
}

/// Checks the endpoint overrides of the environment the scan's calls use (`AWS_ENDPOINT_URL`,
/// `AWS_ENDPOINT_URL_APPRUNNER`, `_KMS`, `_STS`, `_ORGANIZATIONS`; unless
/// `AWS_IGNORE_CONFIGURED_ENDPOINT_URLS` is true): one that is not an
/// `http(s)://host[:port][/path]` URL would fail every call with a dump of the request, taken
/// for a credentials problem.
fn check_endpoint_overrides() -> Result<(), SetupError> {
    let ignored = std::env::var("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")
        .is_ok_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if ignored {
        return Ok(());
    }
    for name in [
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_APPRUNNER",
        "AWS_ENDPOINT_URL_KMS",
        "AWS_ENDPOINT_URL_STS",
        "AWS_ENDPOINT_URL_ORGANIZATIONS",
    ] {
        let Some(value) = std::env::var_os(name) else {
            continue;
        };
        let value = value.to_string_lossy();
        if let Err(why) = endpoint_url_problem(&value) {
            return Err(SetupError::Endpoint(format!(
                "{name} '{value}' is not an endpoint URL ({why}): set it to http(s)://host[:port], or unset it"
            )));
        }
    }
    Ok(())
}

/// Why `url` is not an `http(s)://host[:port][/path]` URL.
fn endpoint_url_problem(url: &str) -> Result<(), &'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("it contains spaces or control characters");
    }
    let scheme_end = url
        .find("://")
        .ok_or("it must start with http:// or https://")?;
    if !["http", "https"]
        .iter()
        .any(|s| url[..scheme_end].eq_ignore_ascii_case(s))
    {
        return Err("it must start with http:// or https://");
    }
    let rest = &url[scheme_end + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // User information, if any, comes before the host.
    let authority = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6
                .split_once(']')
                .ok_or("an IPv6 address needs its closing ]")?;
            (host, after.strip_prefix(':'))
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    if host.is_empty() {
        return Err("it names no host");
    }
    if port.is_some_and(|p| !p.is_empty() && p.parse::<u16>().is_err()) {
        return Err("its port is not a number from 0 to 65535");
    }
    Ok(())
}

/// What an SDK error says, for a [`CollectionError`] or a [`SetupError`].
struct Described<'a> {
    code: String,
    message: String,
    /// The answer, when it is not AWS's (see [`foreign_answer`]).
    pub foreign: Option<&'a HttpResponse>,
}

/// Code and message of an SDK error, classified once for every caller.
///
/// An answer that is not AWS's (see [`foreign_answer`]) is a `MalformedResponse` described by
/// its HTTP status and content type, the two things that tell what answered.
fn describe_error<E>(err: &SdkError<E, HttpResponse>) -> Described<'_>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    // Not AWS's answer, or refused by `RefuseEmptyAnswers` (in AWS's format, but not what AWS
    // answers): described by what answered.
    let not_aws = foreign_answer(err).map(|raw| {
        let what = if is_empty(raw) {
            "with an empty body"
        } else if raw.status().is_success() {
            "that is not the operation's result"
        } else {
            "with no AWS error code"
        };
        (raw, what)
    });
    let refused = || match err {
        SdkError::ResponseError(response) => sources(err)
            .find_map(|e| e.downcast_ref::<Refused>())
            .map(|refused| (response.raw(), refused.0.as_str())),
        _ => None,
    };
    if let Some((raw, what)) = not_aws.or_else(refused) {
        return Described {
            code: "MalformedResponse".into(),
            message: format!(
                "an HTTP {} answer ({}) {what}",
                raw.status().as_u16(),
                content_type(raw).unwrap_or("no content type")
            ),
            foreign: Some(raw),
        };
    }
    let (code, message) = aws_error(err);
    Described {
        code,
        message,
        foreign: None,
    }
}

/// Code and message of an SDK error that is AWS's answer, or no answer at all.
fn aws_error<E>(err: &SdkError<E, HttpResponse>) -> (String, String)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(e) => match e.err().code() {
            Some(code) => (
                code.to_string(),
                e.err()
                    .message()
                    .map(str::to_string)
                    .unwrap_or_else(|| e.err().to_string()),
            ),
            // AWS's format, but the SDK could not read it: the parser says why.
            None => ("MalformedResponse".into(), error_chain(err)),
        },
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

/// `err` and the errors under it, outermost first.
pub(crate) fn sources<'a>(
    err: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(err), |e| e.source())
}

/// The setup error of `operation`, failed before anything was scanned, by its cause: the
/// network (only if `network_may_fail`: see [`is_unreachable`]), an answer that is not AWS's (a
/// proxy's block page, a web server behind a wrong endpoint override: AWS's own refusals, of
/// bad credentials say, always carry an AWS error code), or else `otherwise`.
pub(crate) fn setup_failure<E>(
    operation: &str,
    err: &SdkError<E, HttpResponse>,
    network_may_fail: bool,
    otherwise: fn(String) -> SetupError,
) -> SetupError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let described = describe_error(err);
    let detail = format!(
        "{operation} failed: {}: {}",
        described.code, described.message
    );
    if network_may_fail && is_unreachable(err) {
        SetupError::Unreachable(detail)
    } else if described.foreign.is_some() {
        SetupError::NotAws(detail)
    } else {
        otherwise(detail)
    }
}

/// The answer of a failed call, when it is not AWS's: the SDK could not read it as the
/// operation's result or as an AWS error (no AWS error code in it), and it is empty or not in an
/// AWS protocol's format, JSON or XML (an HTML page, say). An answer in AWS's format that the
/// SDK could not read stays a malformed AWS answer, described by the parser. (moto labels its
/// JSON `text/html`, so a success answer's content type alone proves nothing.)
fn foreign_answer<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> Option<&HttpResponse> {
    let raw = match err {
        SdkError::ServiceError(e) if e.err().code().is_none() => e.raw(),
        SdkError::ResponseError(e) => e.raw(),
        _ => return None,
    };
    let content_type = content_type(raw).unwrap_or_default().to_ascii_lowercase();
    let aws_format = !content_type.contains("html")
        && (content_type.contains("json") || content_type.contains("xml"));
    (!aws_format || is_empty(raw)).then_some(raw)
}

fn content_type(response: &HttpResponse) -> Option<&str> {
    response.headers().get("content-type")
}

/// Whether an answer's body is known to be empty.
fn is_empty(response: &HttpResponse) -> bool {
    response.headers().get("content-length") == Some("0")
        || response.body().bytes().is_some_and(<[u8]>::is_empty)
}

/// Refuses a success answer with an empty body, which no AWS API gives to the calls of a scan:
/// the SDK would read it as an empty result (a region without services, an organization without
/// accounts) and the scan would pass what it never read. Refused, it is a `MalformedResponse`.
/// So is an App Runner listing whose answer lacks its list (`{}` from a proxy, say), which the
/// SDK reads as an empty one: AWS always includes it, empty or not.
#[derive(Debug)]
pub(crate) struct RefuseEmptyAnswers;

impl Intercept for RefuseEmptyAnswers {
    fn name(&self) -> &'static str {
        "RefuseEmptyAnswers"
    }

    /// After deserialization, when the body has been read whatever its framing (an empty
    /// chunked body has no `Content-Length: 0` to tell it).
    fn read_after_deserialization(
        &self,
        context: &AfterDeserializationInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let response = context.response();
        if context.output_or_error().is_err() {
            return Ok(());
        }
        if is_empty(response) {
            return Err("a success answer with an empty body".into());
        }
        let operation = cfg.load::<Metadata>().map(Metadata::name);
        if let Some((_, list)) = LISTS.iter().find(|(op, _)| Some(*op) == operation)
            && let Some(body) = response.body().bytes()
            && !body.windows(list.len() + 2).any(|w| {
                w[0] == b'"' && w[list.len() + 1] == b'"' && &w[1..=list.len()] == list.as_bytes()
            })
        {
            return Err(Box::new(Refused(format!("without its {list} list"))));
        }
        Ok(())
    }
}

/// Why [`RefuseEmptyAnswers`] refused an answer, for [`describe_error`].
#[derive(Debug, thiserror::Error)]
#[error("a success answer {0}")]
struct Refused(String);

/// The list each listing operation of a scan always answers with: members the API model marks
/// required. (Organizations' `ListAccounts.Accounts` is optional in its model, so it is not
/// required here.)
const LISTS: &[(&str, &str)] = &[
    ("ListServices", "ServiceSummaryList"),
    ("DescribeCustomDomains", "CustomDomains"),
];

/// Whether a failed call could not reach its endpoint (connection refused or reset, DNS, TLS,
/// proxy, timeout) rather than being refused by AWS. A credential provider's failure, even its
/// own failed connection (to instance metadata, say), comes as a dispatch failure too, but
/// wrapping a `CredentialsError`: that one is not counted. A timeout counts, although the time
/// may have gone to a slow credential provider; callers that can tell (see [`Signed`]) do.
pub(crate) fn is_unreachable<E, R>(err: &SdkError<E, R>) -> bool
where
    E: std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match err {
        SdkError::TimeoutError(_) => true,
        SdkError::DispatchFailure(d) if !d.is_user() => {
            let err: &(dyn std::error::Error + 'static) = err;
            !sources(err).any(|e| e.is::<aws_credential_types::provider::error::CredentialsError>())
        }
        _ => false,
    }
}

/// Notes that a request got as far as being signed, so that its credentials were resolved.
#[derive(Debug, Clone, Default)]
struct Signed(Arc<AtomicBool>);

impl Signed {
    fn happened(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for Signed {
    fn name(&self) -> &'static str {
        "Signed"
    }

    fn read_after_signing(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The messages of an error and its sources on one line, without repeats or Debug dumps.
pub(crate) fn error_chain(err: &dyn std::error::Error) -> String {
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

pub(crate) fn collection_error<E>(
    account: &str,
    region: &str,
    resource: &str,
    operation: &str,
    err: &SdkError<E, HttpResponse>,
) -> CollectionError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let Described {
        code,
        mut message,
        foreign,
    } = describe_error(err);
    // A server error may be AWS's own front failing; anything else that is not AWS's answer
    // comes from what stands in AWS's place.
    if foreign.is_some_and(|raw| !raw.status().is_server_error()) {
        message.push_str(
            ": a proxy or an endpoint override (AWS_ENDPOINT_URL) may be answering instead of AWS",
        );
    }
    CollectionError {
        account_id: account.into(),
        region: region.into(),
        resource: resource.into(),
        operation: operation.into(),
        code,
        message,
    }
}

/// One HTTP client (rustls with aws-lc, proxy settings from the environment, as the SDK's
/// default) for every SDK client of the scan. Without it, each of the hundreds of clients of an
/// organization scan builds its own: its own trust store parsing and its own connection pool.
///
/// Connections come from the SDK's partition-aware pool (`aws_smithy_http_client::pool`), not
/// hyper-util's legacy client: that one hands an HTTP/1 connection back to its pool only from a
/// task spawned after the answer, so a call that follows an answer at once (the next step of a
/// chain) never found it and opened another. The SDK's pool offers a connection back as soon as
/// its answer is complete; with [`limits::Limits::run`] letting that happen before each call,
/// the org_scan benchmark's scan opens about 470-650 connections instead of 700-910, for
/// 425-500 calls in flight at the peak, and needs 2-11% less CPU (four batches of 20 interleaved
/// runs each).
///
/// Plain `http://` endpoints (emulators, local test stacks) get a pool without TLS when no
/// proxy is set in the environment; the TLS connector, trust store included, is made at the
/// first connection to an `https://` endpoint, which against AWS is the first call. Measured on
/// the org_scan benchmark (whose endpoints are `http://`): the first call left 6 ms after the
/// process start instead of 12 ms (the trust store is the `SSL_CERT_FILE` bundle and the 290
/// files of `SSL_CERT_DIR`; 20 ms and more when they had gone cold).
///
/// `None` if a pool cannot be built (only an inconsistent pool configuration can fail, and this
/// one is fixed): the SDK's own default client then serves, which works, with more connections.
fn shared_http_client() -> Option<SharedHttpClient> {
    use aws_smithy_http_client::{pool, proxy::ProxyConfig, tls};
    // With a proxy in the environment (which could itself need TLS), every call goes through
    // the TLS pool, which serves `http://` too.
    let proxied = [
        "HTTP_PROXY",
        "http_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "ALL_PROXY",
        "all_proxy",
    ]
    .iter()
    .any(|name| std::env::var_os(name).is_some_and(|v| !v.is_empty()));
    let client =
        |pool: pool::ConnectionPool| pool::Client::new(&pool).ok().map(SharedHttpClient::new);
    let plain = if proxied {
        None
    } else {
        Some(client(pool::ConnectionPool::builder().build_http().ok()?)?)
    };
    let tls = pool::ConnectionPool::builder()
        .proxy_config(ProxyConfig::from_env())
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_https()
        .ok()?;
    Some(SharedHttpClient::new(ConnectorsOnDemand {
        tls: client(tls)?,
        plain,
        by_scheme: Default::default(),
    }))
}

/// The shared client without its eager check. The SDK's HTTPS clients check themselves on every
/// `Client::from_conf`: its legacy client built a whole TLS connector (trust store included)
/// each time, a tenth of an organization scan's CPU (measured with perf on the org_scan
/// benchmark); its pool builds its TLS connectors there, once. Here nothing is built before the
/// first call that needs it, and connectors are made once per set of timeouts.
#[derive(Debug)]
struct ConnectorsOnDemand {
    tls: SharedHttpClient,
    /// For `http://` endpoints; `None` when a proxy is configured (which may need TLS).
    plain: Option<SharedHttpClient>,
    /// The connectors that choose between the two, by connect and read timeouts.
    by_scheme: std::sync::RwLock<ByTimeouts>,
}

type ByTimeouts =
    std::collections::HashMap<(Option<Duration>, Option<Duration>), SharedHttpConnector>;

impl HttpClient for ConnectorsOnDemand {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        let Some(plain) = &self.plain else {
            return self.tls.http_connector(settings, components);
        };
        // One per set of timeouts, as the SDK's own cache (this is asked on every attempt).
        let key = (settings.connect_timeout(), settings.read_timeout());
        if let Some(connector) = self.by_scheme.read().expect("never poisoned").get(&key) {
            return connector.clone();
        }
        let (tls, settings, components) = (self.tls.clone(), settings.clone(), components.clone());
        self.by_scheme
            .write()
            .expect("never poisoned")
            .entry(key)
            .or_insert_with(|| {
                SharedHttpConnector::new(ByScheme::new(
                    plain.http_connector(&settings, &components),
                    move || tls.http_connector(&settings, &components),
                ))
            })
            .clone()
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.tls.connector_metadata()
    }
}

/// Sends `http://` requests without TLS and the others (AWS's `https://`) through the TLS
/// connector, made at the first of them.
struct ByScheme {
    plain: SharedHttpConnector,
    tls: std::sync::OnceLock<SharedHttpConnector>,
    make_tls: Box<dyn Fn() -> SharedHttpConnector + Send + Sync>,
}

impl ByScheme {
    fn new(
        plain: SharedHttpConnector,
        make_tls: impl Fn() -> SharedHttpConnector + Send + Sync + 'static,
    ) -> Self {
        ByScheme {
            plain,
            tls: std::sync::OnceLock::new(),
            make_tls: Box::new(make_tls),
        }
    }
}

impl std::fmt::Debug for ByScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ByScheme")
            .field("plain", &self.plain)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl HttpConnector for ByScheme {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        if request.uri().starts_with("http://") {
            self.plain.call(request)
        } else {
            self.tls.get_or_init(&self.make_tls).call(request)
        }
    }
}

/// Loads the SDK configuration: default chain, optional profile, retries, timeouts, one shared
/// HTTP client.
pub async fn sdk_config(opts: &AwsOptions) -> SdkConfig {
    // Standard mode by default: measured on the org_scan benchmark (10% of calls throttled at
    // random), the adaptive mode's client-side rate limiter slowed a 744-service scan from about
    // 1 s to 30-110 s, because one throttle cuts the send rate of every call that shares its
    // retry partition. Each account x region has its own partition either way.
    //
    // The first backoff is short (full jitter below 10 ms, then 20, 40... up to 10 s): a
    // sporadic throttle costs little, which matters because a scan is a chain of calls and a
    // late retry delays everything after it (org_scan benchmark: from 50 ms, the two or three
    // calls per run throttled three times in a row ended the scan about 0.3 s late). Sustained
    // throttling is still met gently: a call keeps its account x region permit while it backs
    // off, so a throttled account's rate falls by itself; the backoff doubles up to 10 s over
    // the default 12 attempts (about 10 s of patience on average, 20 s at most, more than the
    // 3 s that 8 attempts from 50 ms gave); and the retry quota of each partition is bounded.
    let retry = if opts.adaptive_retries {
        RetryConfig::adaptive()
    } else {
        RetryConfig::standard()
    };
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            retry
                .with_max_attempts(opts.max_attempts.max(1))
                .with_initial_backoff(Duration::from_millis(10))
                .with_max_backoff(Duration::from_secs(10)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(Duration::from_secs(5))
                .operation_attempt_timeout(Duration::from_secs(30))
                .operation_timeout(Duration::from_secs(180))
                .build(),
        );
    let client = shared_http_client();
    debug_assert!(
        client.is_some(),
        "the connection pools' fixed configuration builds"
    );
    if let Some(client) = client {
        loader = loader.http_client(client);
    }
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

/// Checks that the AWS config files parse and that the profile named by `--profile` (or else
/// `AWS_PROFILE`) exists, so that a typo is a clear error rather than a scan with other
/// credentials, or a misleading "no region configured".
async fn check_profile(profile: Option<&str>) -> Result<(), SetupError> {
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
    let (profile, named_by) = match profile {
        Some(profile) => (profile.to_string(), "--profile"),
        None => match std::env::var("AWS_PROFILE") {
            Ok(profile) if !profile.is_empty() => (profile, "AWS_PROFILE"),
            _ => return Ok(()),
        },
    };
    if set.get_profile(&profile).is_none() {
        return Err(SetupError::Profile(format!(
            "AWS profile '{profile}' ({named_by}) not found in the AWS config or credentials file: check the name (`aws configure list-profiles`)"
        )));
    }
    Ok(())
}

/// The caller's account and partition, from `sts:GetCallerIdentity`.
async fn caller_identity(config: &SdkConfig, region: &str) -> Result<(String, String), SetupError> {
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(config)
            .region(Region::new(region.to_string()))
            .build(),
    );
    let signed = Signed::default();
    let identity = sts
        .get_caller_identity()
        .customize()
        .interceptor(signed.clone())
        .send()
        .await
        .map_err(|e| {
            // Only a request that was signed (so had credentials) can fail on the network's
            // account: a credential provider that is slow or cannot connect stays a
            // credentials problem.
            setup_failure(
                "sts:GetCallerIdentity",
                &e,
                signed.happened(),
                SetupError::Credentials,
            )
        })?;
    let account = identity
        .account()
        .ok_or_else(|| SetupError::Credentials("sts:GetCallerIdentity returned no account".into()))?
        .to_string();
    let partition = identity
        .arn()
        .and_then(crate::inventory::Arn::parse)
        .map_or("aws", |a| a.partition)
        .to_string();
    Ok((account, partition))
}

/// Collects the inventory of the chosen accounts over the chosen regions.
pub async fn collect(
    opts: &AwsOptions,
    progress: &Progress,
) -> Result<(Inventory, Leftovers), SetupError> {
    check_endpoint_overrides()?;
    check_profile(opts.profile.as_deref()).await?;
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
            check_region(
                &region,
                "AWS_REGION (or the profile's region), or pass --regions",
            )
            .map_err(SetupError::Region)?;
            vec![region]
        }
    };
    let home_region = config
        .region()
        .map(|r| r.to_string())
        .unwrap_or_else(|| regions[0].clone());
    // The caller's identity and the organization's accounts do not depend on each other: ask
    // both at once (one call fewer on the critical path). The identity decides first, so bad
    // credentials are reported as such, not as an Organizations failure.
    let (found_tx, mut found) = tokio::sync::mpsc::unbounded_channel();
    let listing = async {
        match &opts.accounts {
            AccountChoice::Organization => {
                Some(accounts::organization_accounts(&config, &home_region, found_tx).await)
            }
            _ => None,
        }
    };
    let identity = caller_identity(&config, &home_region);
    tokio::pin!(identity, listing);
    let mut listed = None;
    let identity = loop {
        tokio::select! {
            identity = &mut identity => break identity,
            done = &mut listing, if listed.is_none() => listed = Some(done),
        }
    };
    // Bad credentials end the scan at once, the listing (if still running) abandoned.
    let (caller, partition) = identity?;

    let mut inventory = Inventory::new(SourceInfo {
        collector: "aws".into(),
        collected_at: Some(now_rfc3339()),
        caller_account: Some(caller.clone()),
        tool_version: Some(env!("CARGO_PKG_VERSION").into()),
    });

    // Every account at once: each gets its credentials (the caller's own, or an assumed role)
    // and starts its regions as soon as they are ready, without waiting for the other accounts,
    // and an organization's accounts as soon as their page of the listing is in.
    let limits = Limits::new(opts.concurrency, opts.scope_concurrency);
    let keys = Arc::new(kms::KeyReader::new(limits.clone()));
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel();
    let mut account_tasks = JoinSet::new();
    let role = Arc::new(RoleOptions {
        name: opts.role_name.clone(),
        external_id: opts.external_id.clone(),
        session_name: opts.role_session_name.clone(),
    });
    let mut started = BTreeSet::new();
    let mut start = |account: String| {
        if opts
            .shard
            .as_ref()
            .is_some_and(|shard| !shard.contains(&account))
            || !started.insert(account.clone())
        {
            return;
        }
        keys.add(&account);
        let job = AccountJob {
            account,
            regions: regions.clone(),
            base: config.clone(),
            caller: caller.clone(),
            partition: partition.clone(),
            role: role.clone(),
            home_region: home_region.clone(),
            limits: limits.clone(),
            keys: keys.clone(),
        };
        account_tasks.spawn(job.run(done_tx.clone()));
    };
    match &opts.accounts {
        AccountChoice::Organization => {
            // Pages already listed, then the rest as they come.
            loop {
                tokio::select! {
                    Some(page) = found.recv() => page.into_iter().for_each(&mut start),
                    done = &mut listing, if listed.is_none() => listed = Some(done),
                    else => break,
                }
            }
            if let Some(Some(Err(e))) = listed {
                // The accounts already started are abandoned with the scan.
                return Err(e);
            }
        }
        AccountChoice::List(list) => list.iter().cloned().for_each(&mut start),
        AccountChoice::Caller => start(caller.clone()),
    }
    keys.listed();
    progress.start(started.len() * regions.len());
    drop(done_tx);
    while let Some(event) = done.recv().await {
        match event {
            Done::Scope(part) => {
                progress.scope_done(part.services.len(), part.errors.len());
                inventory.scopes.push(part.scope);
                inventory.services.extend(part.services);
                inventory.errors.extend(part.errors);
            }
            Done::AccountFailed(account, error) => {
                for region in &regions {
                    inventory.scopes.push(Scope {
                        account_id: account.clone(),
                        region: region.clone(),
                        complete: false,
                    });
                    progress.scope_done(0, 0);
                }
                progress.errors(1);
                inventory.errors.push(error);
            }
        }
    }
    // Every sender is gone: each task has finished (a panic, which would lose its scopes, is
    // surfaced here rather than ignored).
    while let Some(joined) = account_tasks.join_next().await {
        joined.expect("account tasks do not panic");
    }
    let (read, key_errors) = keys.finish().await;
    progress.errors(key_errors.len());
    inventory.keys = read;
    inventory.errors.extend(key_errors);
    inventory.normalize();
    Ok((
        inventory,
        Leftovers {
            _config: config.clone(),
            _keys: keys,
        },
    ))
}

/// What a finished scan still holds: the SDK configuration, whose HTTP client pools every
/// connection the scan opened, and the key reader's clients. Dropping it closes them all; a
/// process that exits right after the report can leak it instead. Dropped as the scan ended,
/// the pool closed hundreds of connections on the runtime's threads while the rules were
/// evaluated (perf on the org_scan benchmark: sockets closed and SDK clients freed beside the
/// evaluation, which took 15 ms against 6 ms for the same inventory loaded from a file).
pub struct Leftovers {
    _config: SdkConfig,
    _keys: Arc<kms::KeyReader>,
}

/// What an account task reports, as it happens.
enum Done {
    /// One account x region was collected.
    Scope(apprunner::ScopePart),
    /// The account's role could not be assumed: none of its regions was collected.
    AccountFailed(String, CollectionError),
}

/// The role assumed in each account but the caller's.
pub struct RoleOptions {
    name: String,
    external_id: Option<String>,
    session_name: String,
}

/// One account of the scan: its credentials, then all its regions at once.
struct AccountJob {
    account: String,
    regions: Vec<String>,
    base: SdkConfig,
    caller: String,
    partition: String,
    role: Arc<RoleOptions>,
    home_region: String,
    limits: Limits,
    keys: Arc<kms::KeyReader>,
}

impl AccountJob {
    async fn run(self, done: tokio::sync::mpsc::UnboundedSender<Done>) {
        let config = accounts::account_config(
            &self.base,
            &self.caller,
            &self.account,
            &self.partition,
            &self.role,
            &self.home_region,
            &self.limits,
        )
        .await;
        let config = match config {
            Ok(config) => config,
            Err(error) => {
                self.keys.failed(&self.account);
                // The receiver lives until every task has finished.
                let _ = done.send(Done::AccountFailed(self.account, error));
                return;
            }
        };
        self.keys.ready(&self.account, config.clone());
        let mut scopes = JoinSet::new();
        for region in self.regions {
            let scope = apprunner::ScopeJob {
                account: self.account.clone(),
                region,
                config: config.clone(),
                limits: self.limits.clone(),
                keys: self.keys.clone(),
            };
            scopes.spawn(async move { scope.run().await });
        }
        while let Some(joined) = scopes.join_next().await {
            let part = joined.expect("scope tasks do not panic");
            let _ = done.send(Done::Scope(part));
        }
    }
}

fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(std::time::SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_smithy_runtime_api::http::{Response, StatusCode};

    #[test]
    fn endpoint_overrides_must_be_http_urls() {
        for good in [
            "http://127.0.0.1:9",
            "https://apprunner.us-east-1.amazonaws.com",
            "http://[::1]:5000/x",
            "http://localhost",
            "HTTP://LOCALHOST:4566",
            "http://user@127.0.0.1:9",
            "http://host:",
        ] {
            assert_eq!(endpoint_url_problem(good), Ok(()), "{good}");
        }
        for (bad, why) in [
            ("notaurl", "http:// or https://"),
            ("ftp://127.0.0.1:9", "http:// or https://"),
            ("http://[::1", "closing ]"),
            ("http://127.0.0.1:99999", "port"),
            ("http://:80", "no host"),
            ("http://a b", "spaces"),
        ] {
            assert!(
                endpoint_url_problem(bad).unwrap_err().contains(why),
                "{bad}"
            );
        }
    }
    use aws_smithy_types::body::SdkBody;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A connector that notes the requests it is given.
    #[derive(Debug)]
    struct Noting(&'static str, Arc<Mutex<Vec<String>>>);

    impl HttpConnector for Noting {
        fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
            self.1
                .lock()
                .unwrap()
                .push(format!("{} {}", self.0, request.uri()));
            HttpConnectorFuture::ready(Ok(Response::new(
                StatusCode::try_from(200).unwrap(),
                SdkBody::empty(),
            )))
        }
    }

    fn request(uri: &str) -> HttpRequest {
        let mut request = HttpRequest::new(SdkBody::empty());
        request.set_uri(uri).unwrap();
        request
    }

    /// `http://` goes without TLS and never makes the TLS connector (whose making reads the
    /// trust store); anything else goes through the TLS connector, made once, at the first.
    #[tokio::test(flavor = "current_thread")]
    async fn plain_http_never_makes_the_tls_connector() {
        let noted = Arc::new(Mutex::new(Vec::new()));
        let made = Arc::new(AtomicUsize::new(0));
        let connector = {
            let (noted, made) = (noted.clone(), made.clone());
            ByScheme::new(
                SharedHttpConnector::new(Noting("plain", noted.clone())),
                move || {
                    made.fetch_add(1, Ordering::SeqCst);
                    SharedHttpConnector::new(Noting("tls", noted.clone()))
                },
            )
        };
        for uri in ["http://127.0.0.1:4566/", "http://localhost/x"] {
            connector.call(request(uri)).await.unwrap();
        }
        assert_eq!(
            made.load(Ordering::SeqCst),
            0,
            "no TLS connector for http://"
        );
        for uri in [
            "https://apprunner.us-east-1.amazonaws.com/",
            "https://kms.eu-west-1.amazonaws.com/",
        ] {
            connector.call(request(uri)).await.unwrap();
        }
        assert_eq!(
            made.load(Ordering::SeqCst),
            1,
            "the TLS connector is made once"
        );
        assert_eq!(
            *noted.lock().unwrap(),
            [
                "plain http://127.0.0.1:4566/",
                "plain http://localhost/x",
                "tls https://apprunner.us-east-1.amazonaws.com/",
                "tls https://kms.eu-west-1.amazonaws.com/",
            ]
        );
    }
}
