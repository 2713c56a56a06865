//! An App Runner API emulator for the tests (moto has no App Runner), optionally also a counting,
//! delaying and fault-injecting proxy in front of moto for KMS, STS and Organizations.
//!
//! A loopback HTTP/1.1 server (127.0.0.1:0, a single-threaded tokio runtime of its own with a
//! task per connection, at most [`Scenario::workers`] requests answered at once, shut down on
//! Drop) speaking App Runner's awsJson1_0 protocol: `POST /`, `X-Amz-Target: AppRunner.<Operation>`, JSON bodies,
//! `Content-Type: application/x-amz-json-1.0` answers, epoch-second timestamps.
//!
//! The region of a request is read from the SigV4 credential scope of its `Authorization` header
//! (`Credential=AKID/date/REGION/apprunner/aws4_request`); unsigned requests get 403
//! `MissingAuthenticationTokenException`, and a scope naming another service gets 403
//! `InvalidSignatureException` (signatures themselves are not checked).
//!
//! Operations: `ListServices` (the request's region only, pages of
//! `min(MaxResults or 20, scenario.page_size)`), `DescribeService`, `DescribeCustomDomains`
//! (pages of `MaxResults`, default 5). Anything else: 400 `UnknownOperationException`.
//! Out-of-range `MaxResults` and foreign `NextToken`s: 400 `InvalidRequestException`.
//! Every request is recorded as a [`Call`], faulted or not.
//!
//! **Accounts.** Without an account resolver every caller sees every service (the original
//! behaviour). With one ([`Scenario::accounts_from_moto`], [`Scenario::account_of_key`]) the
//! access key id of the credential scope is mapped to an account: the fixed map first, else moto's
//! STS `GetCallerIdentity` asked with that access key id (moto does not check signatures), once
//! per key (successful answers are cached). App Runner operations then only see services whose
//! ARN names the caller's account (others are not listed, and are `ResourceNotFoundException` to
//! `DescribeService`/`DescribeCustomDomains`); a key that cannot be resolved is 403
//! `UnrecognizedClientException`. The account is recorded in [`Call::account`] ("" if unknown) and
//! can be targeted by [`Fault::account`].
//!
//! **Forwarding.** With [`Scenario::forward_to`] (a moto endpoint), a request whose
//! `X-Amz-Target` is not `AppRunner.*` (KMS `TrentService.*`, Organizations
//! `AWSOrganizationsV20161128.*`) or whose body is form-encoded (STS awsQuery, operation in the
//! `Action` field) is forwarded verbatim to moto (method, path and query, headers except the
//! hop-by-hop ones and Host, body) over a kept-alive HTTP/1.1 connection of a pool, and
//! moto's status, headers and body are returned. Forwarded calls are recorded too (in completion
//! order rather than arrival order), with moto's error code as [`Call::fault`] when it answered
//! one; the scenario latency applies to them, and faults can target them (by
//! [`Fault::service`], [`Fault::operation`], region, account): KMS and Organizations get the
//! JSON error form, STS the awsQuery XML form (`ThrottlingException` becomes STS's `Throttling`).
//!
//! **Random faults.** [`Fault::probability`] makes a matching fault fire on a fraction of the
//! calls, decided by a counter-based RNG (splitmix64) over the scenario [`Scenario::seed`], the
//! request's identity (service, operation, account, region, body) and how many times that
//! identical request was seen: the same requests get the same faults whatever the arrival order,
//! so runs are repeatable even under concurrency, and a retry gets a fresh draw.
#![allow(dead_code)]

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value, json};

/// Fixed timestamps (epoch seconds) used by the builder.
pub const CREATED_AT: i64 = 1_700_000_000;
pub const UPDATED_AT: i64 = 1_710_000_000;

/// Requests answered at once by a scenario that does not say ([`Scenario::workers`]).
pub const DEFAULT_WORKERS: usize = 8;
/// Seed of the random faults of a scenario that does not say ([`Scenario::seed`]).
pub const DEFAULT_SEED: u64 = 0x00a9_9e11_7e55_eed5;

/// What the emulator serves.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Services per region (region name -> services).
    pub regions: BTreeMap<String, Vec<ServiceSpec>>,
    /// Injected errors; the first matching fault with calls left (and, for a probabilistic one,
    /// a winning draw) wins.
    pub faults: Vec<Fault>,
    /// Largest `ListServices` page, whatever `MaxResults` says (default 2, so paging is exercised).
    pub page_size: usize,
    /// Delay of every answer (App Runner and forwarded calls alike), as [`Scenario::latency_model`]
    /// says.
    pub latency: Option<Duration>,
    /// How [`Scenario::latency`] applies.
    pub latency_model: LatencyModel,
    /// How callers' accounts are resolved; `None`: they are not (every caller sees everything).
    pub accounts: Option<AccountResolver>,
    /// moto endpoint that non-App Runner requests are forwarded to; `None`: they are answered
    /// as unknown App Runner operations.
    pub forward_to: Option<String>,
    /// Seed of the probabilistic faults.
    pub seed: u64,
    /// Requests answered at once (each connection has its own thread; a request holds one of
    /// these permits from the end of its reading to its answer, latency sleep included, so this
    /// is how many requests can be in flight at once).
    pub workers: usize,
    /// Lifetime of the credentials of forwarded `AssumeRole` answers: moto's `Expiration` is
    /// replaced with the answer's time plus this. `None`: moto's own (an hour).
    pub credentials_lifetime: Option<Duration>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            regions: BTreeMap::new(),
            faults: Vec::new(),
            page_size: 2,
            latency: None,
            latency_model: LatencyModel::Added,
            accounts: None,
            forward_to: None,
            seed: DEFAULT_SEED,
            workers: DEFAULT_WORKERS,
            credentials_lifetime: None,
        }
    }
}

/// How the scenario's latency delays an answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LatencyModel {
    /// After the emulator's own work (and moto's, for forwarded calls), the whole latency.
    #[default]
    Added,
    /// The latency is the response time: the answer leaves the latency after the request
    /// arrived, the emulator's (and moto's) work included; later only when that work alone takes
    /// longer. This models an API that answers in a fixed time, so that what a benchmark measures
    /// is the client, not how fast moto's Python runs on the same cores.
    ResponseTime,
}

/// Maps access key ids to accounts: the fixed map first, then moto's STS `GetCallerIdentity`.
#[derive(Clone, Debug, Default)]
pub struct AccountResolver {
    /// Fixed access key id -> account.
    pub keys: BTreeMap<String, String>,
    /// moto endpoint asked about the other keys.
    pub moto: Option<String>,
}

impl Scenario {
    pub fn new() -> Self {
        Self::default()
    }

    /// A scenario holding these services, each in the region named by its ARN.
    pub fn with_services(specs: impl IntoIterator<Item = ServiceSpec>) -> Self {
        specs.into_iter().fold(Self::default(), Scenario::service)
    }

    /// Adds a service to the region named by its ARN.
    pub fn service(mut self, spec: impl Into<ServiceSpec>) -> Self {
        let spec = spec.into();
        let region = spec.region();
        self.regions.entry(region).or_default().push(spec);
        self
    }

    /// Adds a service to an explicit region (whatever its ARN says).
    pub fn service_in(mut self, region: &str, spec: impl Into<ServiceSpec>) -> Self {
        self.regions
            .entry(region.to_string())
            .or_default()
            .push(spec.into());
        self
    }

    /// Makes a region known with no services (ListServices answers an empty list anyway).
    pub fn empty_region(mut self, region: &str) -> Self {
        self.regions.entry(region.to_string()).or_default();
        self
    }

    pub fn fault(mut self, fault: Fault) -> Self {
        self.faults.push(fault);
        self
    }

    pub fn page_size(mut self, page_size: usize) -> Self {
        self.page_size = page_size;
        self
    }

    pub fn latency(mut self, latency: Duration) -> Self {
        self.latency = Some(latency);
        self
    }

    pub fn latency_model(mut self, model: LatencyModel) -> Self {
        self.latency_model = model;
        self
    }

    /// Assumed-role credentials expire `lifetime` after they are handed out.
    pub fn credentials_lifetime(mut self, lifetime: Duration) -> Self {
        self.credentials_lifetime = Some(lifetime);
        self
    }

    /// How long a call that arrived `elapsed` ago still waits before its answer, and the time
    /// from its arrival to its answer.
    fn answer_delay(&self, elapsed: Duration) -> (Duration, Duration) {
        let latency = self.latency.unwrap_or_default();
        match self.latency_model {
            LatencyModel::Added => (latency, elapsed + latency),
            LatencyModel::ResponseTime => (latency.saturating_sub(elapsed), elapsed.max(latency)),
        }
    }

    /// Resolves callers' accounts with moto's STS `GetCallerIdentity` (static keys such as
    /// `testing` are 123456789012, AssumeRole keys the role's account), once per access key id.
    /// App Runner calls then only see the services of the caller's account.
    pub fn accounts_from_moto(mut self, endpoint: impl AsRef<str>) -> Self {
        self.accounts.get_or_insert_with(Default::default).moto =
            Some(endpoint.as_ref().trim_end_matches('/').to_string());
        self
    }

    /// Maps one access key id to an account (no moto needed); also turns account resolution on.
    pub fn account_of_key(mut self, access_key_id: &str, account: &str) -> Self {
        self.accounts
            .get_or_insert_with(Default::default)
            .keys
            .insert(access_key_id.to_string(), account.to_string());
        self
    }

    /// Forwards every non-App Runner request (KMS, Organizations, STS) to this moto endpoint.
    pub fn forward_to(mut self, endpoint: impl AsRef<str>) -> Self {
        self.forward_to = Some(endpoint.as_ref().trim_end_matches('/').to_string());
        self
    }

    /// Seed of the probabilistic faults (default [`DEFAULT_SEED`]).
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Requests answered at once (default [`DEFAULT_WORKERS`]); a benchmark with hundreds of
    /// calls in flight under latency needs hundreds.
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }
}

/// One service: its wire `Service` object and its wire `CustomDomain` objects.
#[derive(Clone, Debug)]
pub struct ServiceSpec {
    /// The wire-format `Service` object exactly as DescribeService returns it.
    pub service: Value,
    /// Wire-format `CustomDomain` objects, as DescribeCustomDomains returns them.
    pub custom_domains: Vec<Value>,
}

impl ServiceSpec {
    /// Wraps a hand-written wire `Service` object (must hold `ServiceArn`).
    pub fn from_wire(service: Value) -> Self {
        assert!(
            service["ServiceArn"].is_string(),
            "a wire Service needs a ServiceArn"
        );
        ServiceSpec {
            service,
            custom_domains: Vec::new(),
        }
    }

    pub fn arn(&self) -> String {
        self.service["ServiceArn"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    pub fn name(&self) -> String {
        self.service["ServiceName"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The region field of the ARN.
    pub fn region(&self) -> String {
        self.arn().split(':').nth(3).unwrap_or_default().to_string()
    }

    /// The account field of the ARN.
    pub fn account(&self) -> String {
        self.arn().split(':').nth(4).unwrap_or_default().to_string()
    }

    fn in_account(&self, account: Option<&str>) -> bool {
        account.is_none_or(|a| {
            self.service["ServiceArn"]
                .as_str()
                .and_then(|arn| arn.split(':').nth(4))
                == Some(a)
        })
    }
}

impl From<ServiceBuilder> for ServiceSpec {
    fn from(b: ServiceBuilder) -> Self {
        b.build()
    }
}

/// An injected error. A fault matches a call when every `Some` filter matches.
#[derive(Clone, Debug, Default)]
pub struct Fault {
    /// Operation name, e.g. "DescribeService", "DescribeKey", "AssumeRole".
    pub operation: Option<String>,
    pub region: Option<String>,
    /// Substring of the request's `ServiceArn`, or for a forwarded call of what it names
    /// ([`Call::resource`]: KMS `KeyId`, STS `RoleArn`...); calls without one never match.
    pub arn_contains: Option<String>,
    /// The caller's resolved account (needs an account resolver; unresolved calls never match).
    pub account: Option<String>,
    /// Signing name of the call: "apprunner", "kms", "sts", "organizations". `None`: any.
    pub service: Option<String>,
    /// Fires on this fraction of the matching calls (seeded, see the module docs). `None`: all.
    pub probability: Option<f64>,
    /// Error code, e.g. "AccessDeniedException", "ThrottlingException".
    pub code: String,
    /// None = always; Some(n) = only the first n matching calls (that fired).
    pub times: Option<usize>,
}

impl Fault {
    pub fn new(code: &str) -> Self {
        Fault {
            code: code.to_string(),
            ..Default::default()
        }
    }
    pub fn operation(mut self, operation: &str) -> Self {
        self.operation = Some(operation.to_string());
        self
    }
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.to_string());
        self
    }
    pub fn arn_contains(mut self, part: &str) -> Self {
        self.arn_contains = Some(part.to_string());
        self
    }
    pub fn account(mut self, account: &str) -> Self {
        self.account = Some(account.to_string());
        self
    }
    pub fn service(mut self, service: &str) -> Self {
        self.service = Some(service.to_string());
        self
    }
    /// Fires on about `p` (0.0-1.0) of the matching calls.
    pub fn probability(mut self, p: f64) -> Self {
        assert!((0.0..=1.0).contains(&p), "a probability is within 0..=1");
        self.probability = Some(p);
        self
    }
    pub fn times(mut self, times: usize) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, r: &RequestInfo) -> bool {
        self.service.as_deref().is_none_or(|s| s == r.service)
            && self.operation.as_deref().is_none_or(|o| o == r.operation)
            && self.region.as_deref().is_none_or(|x| x == r.region)
            && self
                .account
                .as_deref()
                .is_none_or(|a| !r.account.is_empty() && a == r.account)
            && self
                .arn_contains
                .as_deref()
                .is_none_or(|part| r.arn.is_some_and(|a| a.contains(part)))
    }
}

/// One request the emulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Signing name of the SigV4 credential scope ("apprunner", "kms", "sts", "organizations");
    /// for an unsigned request, guessed from the target or `Action` ("" if unknown).
    pub service: String,
    /// Operation from `X-Amz-Target` (without the `AppRunner.`, `TrentService.`... prefix; an
    /// unknown target of a non-forwarding emulator is kept whole) or from the `Action` field.
    pub operation: String,
    /// Region of the SigV4 credential scope ("" if unsigned).
    pub region: String,
    /// Access key id of the SigV4 credential scope ("" if unsigned).
    pub access_key_id: String,
    /// The caller's account from the account resolver ("" when unknown or without a resolver).
    pub account: String,
    /// `ServiceArn` of the request body, if any.
    pub service_arn: Option<String>,
    /// What the request names: `ServiceArn`, KMS `KeyId`, STS `RoleArn` or `AccountId`, if any.
    pub resource: Option<String>,
    /// Every field of a form-encoded body (STS's awsQuery: `RoleSessionName`, `ExternalId`...),
    /// decoded; empty for JSON bodies.
    pub form: BTreeMap<String, String>,
    /// 16 hex digits identifying the request (service, operation, account, region, body):
    /// equal for identical requests, e.g. a retry.
    pub request_digest: String,
    /// Error code answered (injected fault, emulator-detected error, or moto's error), if any.
    pub fault: Option<String>,
    /// The error was injected by a [`Fault`].
    pub injected: bool,
    /// The request was forwarded to moto (or would have been, had no fault been injected).
    pub forwarded: bool,
    /// Arrival time, since the emulator started.
    pub at: Duration,
    /// Time from arrival to the answer being ready to send, latency included.
    pub took: Duration,
}

/// What the fault matching sees of a request.
struct RequestInfo<'a> {
    service: &'a str,
    operation: &'a str,
    region: &'a str,
    account: &'a str,
    arn: Option<&'a str>,
    identity: u64,
}

struct State {
    fault_hits: Vec<usize>,
    /// (fault index, request identity) -> matching calls seen, for the probabilistic draws.
    draws: HashMap<(usize, u64), u64>,
    calls: Vec<Call>,
}

/// Lookups built once from the scenario (which never changes while the emulator runs): a linear
/// search by ARN and a fresh serialization of every description were most of the emulator's CPU
/// per call under the org_scan benchmark.
struct Catalog {
    /// Region -> service ARN -> indices in `Scenario::regions[region]`.
    by_arn: HashMap<String, HashMap<String, Vec<usize>>>,
    /// Region -> the `DescribeService` answer body of each service, by index.
    described: HashMap<String, Vec<String>>,
}

impl Catalog {
    fn new(scenario: &Scenario) -> Self {
        let mut by_arn: HashMap<String, HashMap<String, Vec<usize>>> = HashMap::new();
        let mut described = HashMap::new();
        for (region, specs) in &scenario.regions {
            let arns = by_arn.entry(region.clone()).or_default();
            for (i, spec) in specs.iter().enumerate() {
                arns.entry(spec.arn()).or_default().push(i);
            }
            described.insert(
                region.clone(),
                specs
                    .iter()
                    .map(|spec| json!({"Service": spec.service}).to_string())
                    .collect(),
            );
        }
        Catalog { by_arn, described }
    }
}

struct Shared {
    scenario: Scenario,
    catalog: Catalog,
    started: Instant,
    /// Requests that may be answered at once (`Scenario::workers`).
    permits: Arc<tokio::sync::Semaphore>,
    state: Mutex<State>,
    /// Access key id -> resolved account (a per-key lock, so one lookup per key).
    accounts: Mutex<HashMap<String, Arc<Mutex<Option<String>>>>>,
    /// Idle kept-alive connections to the moto that requests are forwarded to.
    moto_connections: Mutex<Vec<TcpStream>>,
}

/// The running emulator; stops on Drop.
pub struct AppRunnerEmulator {
    endpoint: String,
    shared: Arc<Shared>,
    /// Tells the server's thread to stop.
    stop: tokio::sync::watch::Sender<bool>,
    server: Option<JoinHandle<()>>,
}

impl AppRunnerEmulator {
    pub fn start(scenario: Scenario) -> Self {
        assert!(
            scenario.page_size > 0,
            "Scenario::page_size must be at least 1"
        );
        assert!(scenario.workers > 0, "Scenario::workers must be at least 1");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().expect("a local address");
        listener
            .set_nonblocking(true)
            .expect("a non-blocking listener");
        let shared = Arc::new(Shared {
            started: Instant::now(),
            state: Mutex::new(State {
                fault_hits: vec![0; scenario.faults.len()],
                draws: HashMap::new(),
                calls: Vec::new(),
            }),
            permits: Arc::new(tokio::sync::Semaphore::new(scenario.workers)),
            catalog: Catalog::new(&scenario),
            scenario,
            accounts: Mutex::new(HashMap::new()),
            moto_connections: Mutex::new(Vec::new()),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let server = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("apprunner-emulator".into())
                .spawn(move || {
                    let runtime = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .thread_name("apprunner-emulator-blocking")
                        .build()
                        .expect("the emulator's runtime");
                    runtime.block_on(async move {
                        let listener = tokio::net::TcpListener::from_std(listener)
                            .expect("the listener on the emulator's runtime");
                        accept_loop(shared, listener, stopped).await;
                    });
                    // Open connections and requests being answered are dropped with it.
                    runtime.shutdown_timeout(Duration::from_secs(1));
                })
                .expect("spawn the emulator's thread")
        };
        AppRunnerEmulator {
            endpoint: format!("http://{addr}"),
            shared,
            stop,
            server: Some(server),
        }
    }

    /// "http://127.0.0.1:PORT"
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Time since the emulator started: the clock of [`Call::at`].
    pub fn elapsed(&self) -> Duration {
        self.shared.started.elapsed()
    }

    /// Every request received so far, in arrival order (forwarded ones: in completion order).
    pub fn calls(&self) -> Vec<Call> {
        self.shared.state.lock().unwrap().calls.clone()
    }

    /// The calls of one operation (of any service).
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    /// Number of calls by (service, operation), faulted ones included.
    pub fn call_counts(&self) -> BTreeMap<(String, String), usize> {
        let mut counts = BTreeMap::new();
        for c in self.shared.state.lock().unwrap().calls.iter() {
            *counts
                .entry((c.service.clone(), c.operation.clone()))
                .or_insert(0) += 1;
        }
        counts
    }

    /// Number of injected faults answered, by error code.
    pub fn injected_faults(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        for c in self.shared.state.lock().unwrap().calls.iter() {
            if let (true, Some(code)) = (c.injected, &c.fault) {
                *counts.entry(code.clone()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// Number of calls answered with an injected throttling error (`ThrottlingException`,
    /// `Throttling`, `TooManyRequestsException`, `RequestLimitExceeded`...).
    pub fn throttled(&self) -> usize {
        self.shared
            .state
            .lock()
            .unwrap()
            .calls
            .iter()
            .filter(|c| c.injected && c.fault.as_deref().is_some_and(is_throttling))
            .count()
    }

    /// Forgets the recorded calls (fault counters and draws are kept).
    pub fn clear_calls(&self) {
        self.shared.state.lock().unwrap().calls.clear();
    }
}

/// Error codes the AWS SDKs treat as throttling.
pub fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ThrottlingException"
            | "Throttling"
            | "ThrottledException"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "TransactionInProgressException"
            | "RequestLimitExceeded"
            | "BandwidthLimitExceeded"
            | "LimitExceededException"
            | "RequestThrottled"
            | "SlowDown"
            | "PriorRequestNotComplete"
            | "EC2ThrottledException"
    )
}

impl Drop for AppRunnerEmulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
        if let Some(server) = self.server.take() {
            let _ = server.join();
        }
    }
}

// ---- the HTTP/1.1 server ----
//
// tiny_http 0.12 was the transport first, but its connection thread pool could leave a new
// connection queued behind long-lived keep-alive ones. A thread per connection came next; under
// the org_scan benchmark's hundreds of connections its thread starts and wake-ups took as much
// CPU as the scanner itself on 2 cores, and new connections waited to be scheduled. So the
// transport is now a single-threaded tokio runtime of its own: each connection is a task, the
// latency is a timer, and at most `Scenario::workers` requests are being answered at once (a
// permit is held from the end of reading to the end of answering, latency included). Requests
// forwarded to moto, whose client is blocking, run on the runtime's blocking threads.

/// Accepts connections until `stop` changes, then returns (the runtime's drop closes them).
async fn accept_loop(
    shared: Arc<Shared>,
    listener: tokio::net::TcpListener,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    tokio::spawn(serve_connection(shared.clone(), stream));
                }
                // Out of file descriptors, say: wait a little rather than spin.
                Err(_) => tokio::time::sleep(Duration::from_millis(5)).await,
            },
        }
    }
}

/// Serves the requests of one connection, one after the other, until it closes.
async fn serve_connection(shared: Arc<Shared>, stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let _ = stream.set_nodelay(true);
    let (read_half, mut writer) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read_half);
    loop {
        // An idle keep-alive connection is closed after 5 minutes (clients reconnect).
        let read = tokio::time::timeout(
            Duration::from_secs(300),
            read_request(&mut reader, &mut writer),
        );
        let (incoming, keep_alive) = match read.await {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => return,
            Ok(Err(e)) => {
                let body = json!({"__type": "BadRequest", "message": e.to_string()}).to_string();
                let _ = write_response(
                    &mut writer,
                    &HttpResponse::new(400, "application/json", body.into_bytes()),
                    false,
                )
                .await;
                return;
            }
        };
        let Ok(permit) = shared.permits.clone().acquire_owned().await else {
            return;
        };
        let (response, delay) = match &shared.scenario.forward_to {
            Some(endpoint) if incoming.is_foreign() => {
                let (worker, endpoint) = (shared.clone(), endpoint.clone());
                match tokio::task::spawn_blocking(move || {
                    serve_forwarded(&worker, &endpoint, &incoming)
                })
                .await
                {
                    Ok(answer) => answer,
                    Err(_) => return,
                }
            }
            _ => serve_apprunner(&shared, &incoming),
        };
        // The latency: a timer, so that concurrent requests overlap.
        tokio::time::sleep(delay).await;
        drop(permit);
        if write_response(&mut writer, &response, keep_alive)
            .await
            .is_err()
            || !keep_alive
        {
            let _ = writer.shutdown().await;
            return;
        }
    }
}

/// One line without its CRLF; `None` at a clean end of stream.
async fn read_line(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
) -> std::io::Result<Option<String>> {
    use tokio::io::AsyncBufReadExt;
    let mut line = Vec::new();
    if reader.read_until(b'\n', &mut line).await? == 0 {
        return Ok(None);
    }
    Ok(Some(
        String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string(),
    ))
}

/// Reads one request (`None`: the client closed the connection between requests); also says
/// whether the connection stays open after the answer.
async fn read_request(
    reader: &mut tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
) -> std::io::Result<Option<(Incoming, bool)>> {
    use std::io::{Error, ErrorKind};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let bad = |what: String| Error::new(ErrorKind::InvalidData, what);
    let request_line = loop {
        match read_line(reader).await {
            Ok(None) => return Ok(None),
            Ok(Some(line)) if line.is_empty() => continue, // tolerated between requests
            Ok(Some(line)) => break line,
            // A reset idle connection: just close it.
            Err(_) => return Ok(None),
        }
    };
    let mut parts = request_line.split_whitespace();
    let (Some(method), Some(url), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad(format!("bad request line {request_line:?}")));
    };
    let mut headers = Vec::new();
    loop {
        let line = read_line(reader)
            .await?
            .ok_or_else(|| bad("end of stream in the headers".into()))?;
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
    }
    let find = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_ascii_lowercase())
    };
    let connection = find("Connection").unwrap_or_default();
    let keep_alive = if version == "HTTP/1.0" {
        connection.contains("keep-alive")
    } else {
        !connection.contains("close")
    };
    if find("Expect").is_some_and(|e| e.contains("100-continue")) {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
    }
    let mut body = Vec::new();
    let mut read_error = None;
    if find("Transfer-Encoding").is_some_and(|t| t.contains("chunked")) {
        if let Err(e) = read_chunked(reader, &mut body).await {
            read_error = Some(e.to_string());
        }
    } else if let Some(length) = find("Content-Length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| bad(format!("bad Content-Length {length:?}")))?;
        body.resize(length, 0);
        reader.read_exact(&mut body).await?;
    }
    Ok(Some((
        Incoming {
            method: method.to_string(),
            url: url.to_string(),
            headers,
            body,
            read_error,
            arrived: Instant::now(),
        },
        keep_alive,
    )))
}

/// A chunked body, trailers skipped.
async fn read_chunked(
    reader: &mut (impl tokio::io::AsyncBufRead + Unpin),
    body: &mut Vec<u8>,
) -> std::io::Result<()> {
    use std::io::{Error, ErrorKind};
    use tokio::io::AsyncReadExt;
    loop {
        let line = read_line(reader)
            .await?
            .ok_or_else(|| Error::new(ErrorKind::UnexpectedEof, "end of stream in a chunk"))?;
        let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
            .map_err(|_| Error::new(ErrorKind::InvalidData, format!("bad chunk size {line:?}")))?;
        if size == 0 {
            while read_line(reader).await?.is_some_and(|l| !l.is_empty()) {}
            return Ok(());
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..]).await?;
        read_line(reader).await?;
    }
}

/// An answer of the emulator.
struct HttpResponse {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl HttpResponse {
    fn new(status: u16, content_type: &str, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers: vec![("Content-Type".to_string(), content_type.to_string())],
            body,
        }
    }

    fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Status",
    }
}

async fn write_response(
    writer: &mut tokio::net::tcp::OwnedWriteHalf,
    response: &HttpResponse,
    keep_alive: bool,
) -> std::io::Result<()> {
    use tokio::io::AsyncWriteExt;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nServer: apprunner-emulator\r\n",
        response.status,
        reason_phrase(response.status)
    );
    for (name, value) in &response.headers {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!("Content-Length: {}\r\n", response.body.len());
    if !keep_alive {
        head += "Connection: close\r\n";
    }
    head += "\r\n";
    let mut message = head.into_bytes();
    message.extend_from_slice(&response.body);
    writer.write_all(&message).await?;
    writer.flush().await
}

struct Answer {
    status: u16,
    /// The JSON body, serialized.
    body: String,
    error_code: Option<String>,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Self::serialized(body.to_string())
    }
    /// An answer whose body was serialized beforehand.
    fn serialized(body: String) -> Self {
        Answer {
            status: 200,
            body,
            error_code: None,
        }
    }
    fn error(code: &str, message: &str) -> Self {
        Answer {
            status: status_of(code),
            body: json!({"__type": code, "message": message}).to_string(),
            error_code: Some(code.to_string()),
        }
    }
}

fn status_of(code: &str) -> u16 {
    match code {
        "InternalServiceErrorException"
        | "InternalFailure"
        | "InternalServerError"
        | "KMSInternalException"
        | "ServiceException" => 500,
        "ServiceUnavailableException" | "ServiceUnavailable" => 503,
        "ServiceQuotaExceededException" => 402,
        "MissingAuthenticationTokenException"
        | "InvalidSignatureException"
        | "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "AccessDenied" => 403,
        _ => 400,
    }
}

/// (access key id, region, service) of a SigV4 `Authorization` header.
fn credential_scope(authorization: &str) -> Option<(String, String, String)> {
    let rest = &authorization[authorization.find("Credential=")? + "Credential=".len()..];
    let scope = rest.split([',', ' ']).next()?;
    let parts: Vec<&str> = scope.split('/').collect();
    (parts.len() == 5).then(|| {
        (
            parts[0].to_string(),
            parts[2].to_string(),
            parts[3].to_string(),
        )
    })
}

/// FNV-1a over the parts (separated), for request identities.
fn fnv64(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(std::iter::once(&0xffu8)) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    h
}

/// splitmix64's finalizer: a well-mixed 64-bit value from any input.
fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// `%XX` and `+` decoding of a form field.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap_or("");
                match u8::from_str_radix(hex, 16) {
                    Ok(b) => {
                        out.push(b);
                        i += 2;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Every field of a form-encoded body, decoded.
fn form_fields(body: &str) -> BTreeMap<String, String> {
    body.split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A field of a form-encoded body.
fn form_field(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k) == name).then(|| percent_decode(v))
    })
}

/// A request as read from its connection.
struct Incoming {
    method: String,
    url: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    read_error: Option<String>,
    arrived: Instant,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn is_form(&self) -> bool {
        self.header("Content-Type").is_some_and(|t| {
            t.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        })
    }

    /// Not App Runner: a foreign `X-Amz-Target`, or an awsQuery form (STS).
    fn is_foreign(&self) -> bool {
        let target = self.header("X-Amz-Target").unwrap_or("");
        if !target.is_empty() {
            return !target.starts_with("AppRunner.");
        }
        self.is_form()
            || self.body.starts_with(b"Action=")
            || self.body.windows(8).any(|w| w == b"&Action=")
    }
}

/// The account of an access key id: `None` without a resolver (or for an unsigned request).
fn resolve_account(shared: &Shared, access_key_id: &str) -> Option<Result<String, String>> {
    let resolver = shared.scenario.accounts.as_ref()?;
    if access_key_id.is_empty() {
        return None;
    }
    if let Some(account) = resolver.keys.get(access_key_id) {
        return Some(Ok(account.clone()));
    }
    let Some(endpoint) = &resolver.moto else {
        return Some(Err(format!(
            "The access key id {access_key_id} is not known to the emulator"
        )));
    };
    let slot = shared
        .accounts
        .lock()
        .unwrap()
        .entry(access_key_id.to_string())
        .or_default()
        .clone();
    let mut slot = slot.lock().unwrap();
    if let Some(account) = &*slot {
        return Some(Ok(account.clone()));
    }
    let answer = moto_caller_account(endpoint, access_key_id);
    if let Ok(account) = &answer {
        *slot = Some(account.clone());
    }
    Some(answer)
}

/// Remembers the account of the access key id an `AssumeRole` answer hands out (the account of
/// its `AssumedRoleUser` ARN, which is what moto's `GetCallerIdentity` would say), so that the
/// caller's first call with the new key does not wait on a lookup in moto.
fn learn_assumed_role_account(shared: &Shared, body: &[u8]) {
    if shared.scenario.accounts.is_none() {
        return;
    }
    let text = String::from_utf8_lossy(body);
    let between = |open: &str, close: &str| {
        text.split_once(open)
            .and_then(|(_, rest)| rest.split_once(close))
            .map(|(inner, _)| inner.trim().to_string())
    };
    let key = between("<AccessKeyId>", "</AccessKeyId>");
    let account = between("<AssumedRoleUser>", "</AssumedRoleUser>").and_then(|user| {
        let arn = user
            .split_once("<Arn>")?
            .1
            .split_once("</Arn>")?
            .0
            .trim()
            .to_string();
        // arn:aws:sts::123456789012:assumed-role/Role/session
        let account = arn.split(':').nth(4)?.to_string();
        (account.len() == 12).then_some(account)
    });
    if let (Some(key), Some(account)) = (key, account) {
        shared
            .accounts
            .lock()
            .unwrap()
            .insert(key, Arc::new(Mutex::new(Some(account))));
    }
}

/// moto's STS GetCallerIdentity for an access key id (moto does not check signatures).
pub fn moto_caller_account(endpoint: &str, access_key_id: &str) -> Result<String, String> {
    let headers = [
        (
            "Content-Type".to_string(),
            "application/x-www-form-urlencoded; charset=utf-8".to_string(),
        ),
        ("X-Amz-Date".to_string(), "20260101T000000Z".to_string()),
        (
            "Authorization".to_string(),
            format!(
                "AWS4-HMAC-SHA256 Credential={access_key_id}/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0"
            ),
        ),
    ];
    let answer = http_exchange(
        endpoint,
        "POST",
        "/",
        &headers,
        b"Action=GetCallerIdentity&Version=2011-06-15",
    )
    .map_err(|e| format!("moto GetCallerIdentity at {endpoint}: {e}"))?;
    let text = String::from_utf8_lossy(&answer.body);
    let account = text
        .split_once("<Account>")
        .and_then(|(_, rest)| rest.split_once("</Account>"))
        .map(|(account, _)| account.trim().to_string());
    match account {
        Some(account) if answer.status == 200 && !account.is_empty() => Ok(account),
        _ => Err(format!(
            "moto GetCallerIdentity for {access_key_id}: HTTP {}: {text}",
            answer.status
        )),
    }
}

/// The answer to an App Runner request, and how long to wait before sending it.
fn serve_apprunner(shared: &Shared, incoming: &Incoming) -> (HttpResponse, Duration) {
    let scenario = &shared.scenario;
    let target = incoming
        .header("X-Amz-Target")
        .unwrap_or_default()
        .to_string();
    let scope = incoming.header("Authorization").and_then(credential_scope);
    let operation = target
        .strip_prefix("AppRunner.")
        .unwrap_or(&target)
        .to_string();
    let (access_key_id, region, signing_service) = scope.clone().unwrap_or_default();
    let input: Result<Value, String> =
        match (&incoming.read_error, std::str::from_utf8(&incoming.body)) {
            (Some(e), _) => Err(format!("cannot read the body: {e}")),
            (None, Err(e)) => Err(format!("cannot read the body: {e}")),
            (None, Ok(body)) if body.trim().is_empty() => Ok(json!({})),
            (None, Ok(body)) => serde_json::from_str::<Value>(body)
                .map_err(|e| format!("the body is not JSON: {e}"))
                .and_then(|v| {
                    if v.is_object() {
                        Ok(v)
                    } else {
                        Err("the body is not a JSON object".into())
                    }
                }),
        };
    let service_arn = input
        .as_ref()
        .ok()
        .and_then(|v| v.get("ServiceArn"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let resolved = if scope.is_some() && signing_service == "apprunner" {
        resolve_account(shared, &access_key_id)
    } else {
        None
    };
    let account = match &resolved {
        Some(Ok(account)) => account.clone(),
        _ => String::new(),
    };
    let identity = fnv64(&[
        b"apprunner",
        operation.as_bytes(),
        account.as_bytes(),
        region.as_bytes(),
        &incoming.body,
    ]);
    let info = RequestInfo {
        service: "apprunner",
        operation: &operation,
        region: &region,
        account: &account,
        arn: service_arn.as_deref(),
        identity,
    };

    let mut injected = false;
    let answer = if scope.is_none() {
        Answer::error(
            "MissingAuthenticationTokenException",
            "Missing Authentication Token",
        )
    } else if signing_service != "apprunner" {
        Answer::error(
            "InvalidSignatureException",
            &format!(
                "Credential should be scoped to correct service: 'apprunner', not '{signing_service}'."
            ),
        )
    } else if let Some(Err(message)) = &resolved {
        Answer::error("UnrecognizedClientException", message)
    } else if let Some(code) = take_fault(shared, &info) {
        injected = true;
        Answer::error(
            &code,
            &format!("Injected fault {code} for {operation} in {region}"),
        )
    } else {
        match &input {
            Err(message) => Answer::error("SerializationException", message),
            Ok(input) => {
                let account = resolved.as_ref().map(|_| account.as_str());
                dispatch(
                    scenario,
                    &shared.catalog,
                    &operation,
                    &region,
                    account,
                    input,
                )
            }
        }
    };
    let delay = scenario.answer_delay(incoming.arrived.elapsed());
    record(
        shared,
        Call {
            service: if scope.is_some() {
                signing_service.clone()
            } else {
                "apprunner".to_string()
            },
            operation: operation.clone(),
            region: region.clone(),
            access_key_id,
            account,
            service_arn: service_arn.clone(),
            resource: service_arn,
            form: BTreeMap::new(),
            request_digest: format!("{identity:016x}"),
            fault: answer.error_code.clone(),
            injected,
            forwarded: false,
            at: incoming.arrived - shared.started,
            took: delay.1,
        },
    );
    let mut response = HttpResponse::new(
        answer.status,
        "application/x-amz-json-1.0",
        answer.body.into_bytes(),
    )
    .header("x-amzn-RequestId", &request_id(&operation, &region));
    if let Some(code) = &answer.error_code {
        response = response.header("X-Amzn-ErrorType", code);
    }
    (response, delay.0)
}

fn record(shared: &Shared, call: Call) {
    shared.state.lock().unwrap().calls.push(call);
}

/// Signing name guessed from an `X-Amz-Target` prefix, for unsigned requests.
fn service_of_target(target: &str) -> &'static str {
    let prefix = target.split('.').next().unwrap_or_default();
    match prefix {
        "AppRunner" => "apprunner",
        "TrentService" => "kms",
        p if p.starts_with("AWSOrganizations") => "organizations",
        _ => "",
    }
}

/// The error code of a (moto) answer: `X-Amzn-ErrorType`, JSON `__type`, or XML `<Code>`.
fn error_code_of(status: u16, headers: &[(String, String)], body: &[u8]) -> Option<String> {
    if status < 400 {
        return None;
    }
    let clean = |code: &str| {
        let code = code.split(':').next().unwrap_or(code);
        code.rsplit('#').next().unwrap_or(code).trim().to_string()
    };
    if let Some((_, v)) = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("x-amzn-errortype"))
    {
        return Some(clean(v));
    }
    if let Ok(v) = serde_json::from_slice::<Value>(body)
        && let Some(t) = v.get("__type").and_then(Value::as_str)
    {
        return Some(clean(t));
    }
    let text = String::from_utf8_lossy(body);
    if let Some((_, rest)) = text.split_once("<Code>")
        && let Some((code, _)) = rest.split_once("</Code>")
    {
        return Some(code.trim().to_string());
    }
    Some(format!("HTTP{status}"))
}

/// moto's answer to a forwarded request (or an injected fault), and how long to wait before
/// sending it. Blocking: it runs on the runtime's blocking threads.
fn serve_forwarded(
    shared: &Shared,
    endpoint: &str,
    incoming: &Incoming,
) -> (HttpResponse, Duration) {
    let scenario = &shared.scenario;
    let target = incoming
        .header("X-Amz-Target")
        .unwrap_or_default()
        .to_string();
    let query = target.is_empty();
    let body_text = String::from_utf8_lossy(&incoming.body).into_owned();
    let scope = incoming.header("Authorization").and_then(credential_scope);
    let (access_key_id, region, signing_service) = scope.unwrap_or_default();
    let operation = if query {
        form_field(&body_text, "Action").unwrap_or_default()
    } else {
        target.rsplit('.').next().unwrap_or_default().to_string()
    };
    let service = if !signing_service.is_empty() {
        signing_service
    } else if query {
        "sts".to_string()
    } else {
        service_of_target(&target).to_string()
    };
    let resource = if query {
        form_field(&body_text, "RoleArn").or_else(|| form_field(&body_text, "AccountId"))
    } else {
        serde_json::from_slice::<Value>(&incoming.body)
            .ok()
            .and_then(|v| {
                ["ServiceArn", "KeyId", "RoleArn", "AccountId"]
                    .iter()
                    .find_map(|k| v.get(*k).and_then(Value::as_str).map(str::to_string))
            })
    };
    let account = match resolve_account(shared, &access_key_id) {
        Some(Ok(account)) => account,
        _ => String::new(),
    };
    let identity = fnv64(&[
        service.as_bytes(),
        operation.as_bytes(),
        account.as_bytes(),
        region.as_bytes(),
        &incoming.body,
    ]);
    let info = RequestInfo {
        service: &service,
        operation: &operation,
        region: &region,
        account: &account,
        arn: resource.as_deref(),
        identity,
    };
    let fault = take_fault(shared, &info);
    let injected = fault.is_some();

    let (status, headers, body) = match &fault {
        Some(code) => fault_answer(incoming, query, code, &operation, &region),
        None => match pooled_exchange(&shared.moto_connections, endpoint, incoming) {
            Ok(answer) => (answer.status, answer.headers, answer.body),
            Err(e) => {
                let message = format!("the emulator could not forward to {endpoint}: {e}");
                (
                    502,
                    vec![("Content-Type".to_string(), "application/json".to_string())],
                    json!({"__type": "EmulatorForwardFailed", "message": message})
                        .to_string()
                        .into_bytes(),
                )
            }
        },
    };
    // The code answered (STS's own name for an injected throttle, moto's code otherwise).
    let error_code = error_code_of(status, &headers, &body);
    if operation == "AssumeRole" && status == 200 {
        learn_assumed_role_account(shared, &body);
    }
    let body = match scenario.credentials_lifetime {
        Some(lifetime) if operation == "AssumeRole" && status == 200 => {
            with_expiration(&body, std::time::SystemTime::now() + lifetime)
        }
        _ => body,
    };
    let delay = scenario.answer_delay(incoming.arrived.elapsed());
    record(
        shared,
        Call {
            service,
            operation: operation.clone(),
            region: region.clone(),
            access_key_id,
            account,
            service_arn: None,
            resource,
            form: if query {
                form_fields(&body_text)
            } else {
                BTreeMap::new()
            },
            request_digest: format!("{identity:016x}"),
            fault: error_code,
            injected,
            forwarded: true,
            at: incoming.arrived - shared.started,
            took: delay.1,
        },
    );
    let headers = headers
        .into_iter()
        .filter(|(name, _)| {
            let lower = name.to_ascii_lowercase();
            !HOP_BY_HOP.contains(&lower.as_str())
                && !matches!(lower.as_str(), "content-length" | "server")
        })
        .collect();
    (
        HttpResponse {
            status,
            headers,
            body,
        },
        delay.0,
    )
}

/// An STS `AssumeRole` answer (XML) whose credentials expire at `at` instead.
fn with_expiration(body: &[u8], at: std::time::SystemTime) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    let (Some(start), Some(end)) = (text.find("<Expiration>"), text.find("</Expiration>")) else {
        return body.to_vec();
    };
    let stamp = aws_smithy_types::DateTime::from(at)
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .expect("a time in range");
    format!("{}<Expiration>{stamp}{}", &text[..start], &text[end..]).into_bytes()
}

/// Headers that belong to one connection, never forwarded.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// An injected error in the protocol of a forwarded call: awsQuery XML for STS, JSON otherwise.
fn fault_answer(
    incoming: &Incoming,
    query: bool,
    code: &str,
    operation: &str,
    region: &str,
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let request_id = request_id(operation, region);
    if query {
        let code = match code {
            "ThrottlingException" => "Throttling",
            other => other,
        };
        let message = if code == "Throttling" {
            "Rate exceeded".to_string()
        } else {
            format!("Injected fault {code} for {operation} in {region}")
        };
        let status = status_of(code);
        let kind = if status >= 500 { "Receiver" } else { "Sender" };
        let body = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>{request_id}</RequestId></ErrorResponse>"
        );
        (
            status,
            vec![
                ("Content-Type".to_string(), "text/xml".to_string()),
                ("x-amzn-RequestId".to_string(), request_id),
            ],
            body.into_bytes(),
        )
    } else {
        let content_type = incoming
            .header("Content-Type")
            .filter(|t| t.starts_with("application/x-amz-json"))
            .unwrap_or("application/x-amz-json-1.1")
            .to_string();
        let body = json!({
            "__type": code,
            "message": format!("Injected fault {code} for {operation} in {region}"),
        });
        (
            status_of(code),
            vec![
                ("Content-Type".to_string(), content_type),
                ("x-amzn-RequestId".to_string(), request_id),
                ("X-Amzn-ErrorType".to_string(), code.to_string()),
            ],
            body.to_string().into_bytes(),
        )
    }
}

/// An HTTP answer read by [`http_exchange`].
pub struct HttpAnswer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// One blocking HTTP/1.1 exchange on a fresh connection (`Connection: close`): sends `headers`
/// (minus Host, hop-by-hop ones, Content-Length and Expect, which it sets itself) and `body`;
/// reads a Content-Length, chunked or read-to-EOF answer.
pub fn http_exchange(
    endpoint: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> std::io::Result<HttpAnswer> {
    let addr = endpoint_addr(endpoint);
    let stream = connect(&addr)?;
    exchange_on(&stream, &addr, method, path, headers, body, false).map(|(answer, _)| answer)
}

/// `host:port` of `http://host:port[/...]`.
fn endpoint_addr(endpoint: &str) -> String {
    endpoint
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string()
}

fn connect(addr: &str) -> std::io::Result<TcpStream> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// `incoming` sent on as [`http_exchange`] would, but on a kept-alive connection of `pool` (a new
/// one when none is idle), which goes back to the pool when the answer leaves it usable: moto is
/// spared a TCP connection and a Python thread per forwarded request.
fn pooled_exchange(
    pool: &Mutex<Vec<TcpStream>>,
    endpoint: &str,
    incoming: &Incoming,
) -> std::io::Result<HttpAnswer> {
    let (method, path, headers, body) = (
        incoming.method.as_str(),
        incoming.url.as_str(),
        incoming.headers.as_slice(),
        incoming.body.as_slice(),
    );
    let addr = endpoint_addr(endpoint);
    let idle = pool.lock().unwrap().pop();
    if let Some(stream) = idle {
        // An idle connection the server has closed fails before any answer: then (only then)
        // the request is sent again on a new one.
        match exchange_on(&stream, &addr, method, path, headers, body, true) {
            Ok((answer, reusable)) => {
                if reusable {
                    pool.lock().unwrap().push(stream);
                }
                return Ok(answer);
            }
            Err(e) if e.kind() != std::io::ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e),
        }
    }
    let stream = connect(&addr)?;
    let (answer, reusable) = exchange_on(&stream, &addr, method, path, headers, body, true)?;
    if reusable {
        pool.lock().unwrap().push(stream);
    }
    Ok(answer)
}

/// One request and its answer on `stream`: the answer, and whether the connection can carry
/// another request. An error of kind `ConnectionAborted` means part of an answer was read (the
/// request must not be sent again).
fn exchange_on(
    stream: &TcpStream,
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
    keep_alive: bool,
) -> std::io::Result<(HttpAnswer, bool)> {
    use std::io::{Error, ErrorKind};
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in headers {
        let lower = name.to_ascii_lowercase();
        if HOP_BY_HOP.contains(&lower.as_str())
            || matches!(lower.as_str(), "host" | "content-length" | "expect")
        {
            continue;
        }
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: {}\r\n\r\n",
        body.len(),
        if keep_alive { "keep-alive" } else { "close" }
    );
    let mut writer = stream;
    writer.write_all(head.as_bytes())?;
    writer.write_all(body)?;
    writer.flush()?;

    let bad = |what: &str| Error::new(ErrorKind::InvalidData, what.to_string());
    let mut reader = BufReader::new(stream);
    let read_line = |reader: &mut BufReader<&TcpStream>| -> std::io::Result<String> {
        let mut line = Vec::new();
        reader.read_until(b'\n', &mut line)?;
        Ok(String::from_utf8_lossy(&line)
            .trim_end_matches(['\r', '\n'])
            .to_string())
    };
    let aborted = |e: Error| Error::new(ErrorKind::ConnectionAborted, e);
    // Status line and headers (skipping any 1xx interim answer). Only a connection closed or
    // reset before any answer may be retried by the caller: the server never read the request.
    let (status, answer_headers) = loop {
        let status_line = read_line(&mut reader).map_err(|e| {
            if e.kind() == ErrorKind::ConnectionReset {
                e
            } else {
                aborted(e)
            }
        })?;
        if status_line.is_empty() {
            return Err(bad("connection closed before a status line"));
        }
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| aborted(bad(&format!("bad status line {status_line:?}"))))?;
        let mut answer_headers = Vec::new();
        loop {
            let line = read_line(&mut reader).map_err(aborted)?;
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                answer_headers.push((name.trim().to_string(), value.trim().to_string()));
            }
        }
        if !(100..200).contains(&status) {
            break (status, answer_headers);
        }
    };
    let find = |name: &str| {
        answer_headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    let mut reusable =
        keep_alive && !find("Connection").is_some_and(|c| c.eq_ignore_ascii_case("close"));
    let mut answer_body = Vec::new();
    if method.eq_ignore_ascii_case("HEAD") || status == 204 || status == 304 {
        // no body
    } else if find("Transfer-Encoding").is_some_and(|t| t.to_ascii_lowercase().contains("chunked"))
    {
        loop {
            let line = read_line(&mut reader).map_err(aborted)?;
            let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| aborted(bad(&format!("bad chunk size {line:?}"))))?;
            if size == 0 {
                // trailers, up to the empty line (or EOF)
                while !read_line(&mut reader).map_err(aborted)?.is_empty() {}
                break;
            }
            let start = answer_body.len();
            answer_body.resize(start + size, 0);
            reader
                .read_exact(&mut answer_body[start..])
                .map_err(aborted)?;
            read_line(&mut reader).map_err(aborted)?;
        }
    } else if let Some(length) = find("Content-Length") {
        let length: usize = length
            .trim()
            .parse()
            .map_err(|_| aborted(bad("bad Content-Length")))?;
        answer_body.resize(length, 0);
        reader.read_exact(&mut answer_body).map_err(aborted)?;
    } else {
        // The body ends with the connection.
        reusable = false;
        reader.read_to_end(&mut answer_body).map_err(aborted)?;
    }
    // Bytes past the answer would be the start of nothing we asked for.
    if !reader.buffer().is_empty() {
        reusable = false;
    }
    Ok((
        HttpAnswer {
            status,
            headers: answer_headers,
            body: answer_body,
        },
        reusable,
    ))
}

fn request_id(operation: &str, region: &str) -> String {
    use std::sync::atomic::AtomicU64;
    static N: AtomicU64 = AtomicU64::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    let h = hex_id(&format!("{operation}/{region}/{n}"));
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The first matching fault that fires, if any (counts its hit; draws for probabilistic ones).
fn take_fault(shared: &Shared, info: &RequestInfo) -> Option<String> {
    let faults = &shared.scenario.faults;
    if faults.is_empty() {
        return None;
    }
    let mut st = shared.state.lock().unwrap();
    let State {
        fault_hits, draws, ..
    } = &mut *st;
    for (i, fault) in faults.iter().enumerate() {
        if !fault.matches(info) || fault.times.is_some_and(|n| fault_hits[i] >= n) {
            continue;
        }
        if let Some(p) = fault.probability {
            let seen = draws.entry((i, info.identity)).or_insert(0);
            let draw = splitmix64(
                shared.scenario.seed
                    ^ splitmix64(info.identity ^ ((i as u64) << 56))
                    ^ seen.wrapping_mul(0xd1b5_4a32_d192_ed03),
            );
            *seen += 1;
            // 53 random bits as a uniform number in [0, 1).
            if ((draw >> 11) as f64) / ((1u64 << 53) as f64) >= p {
                continue;
            }
        }
        fault_hits[i] += 1;
        return Some(fault.code.clone());
    }
    None
}

fn dispatch(
    scenario: &Scenario,
    catalog: &Catalog,
    operation: &str,
    region: &str,
    account: Option<&str>,
    input: &Value,
) -> Answer {
    match operation {
        "ListServices" => list_services(scenario, region, account, input),
        "DescribeService" => describe_service(scenario, catalog, region, account, input),
        "DescribeCustomDomains" => {
            describe_custom_domains(scenario, catalog, region, account, input)
        }
        "" => Answer::error("UnknownOperationException", "Missing X-Amz-Target header"),
        other => Answer::error(
            "UnknownOperationException",
            &format!("Unknown operation {other}"),
        ),
    }
}

fn max_results(input: &Value, max: u64) -> Result<Option<usize>, Answer> {
    match input.get("MaxResults") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if (1..=max).contains(&n) => Ok(Some(n as usize)),
            _ => Err(Answer::error(
                "InvalidRequestException",
                &format!(
                    "1 validation error detected: Value '{v}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and {max}"
                ),
            )),
        },
    }
}

/// Offset encoded in `NextToken`, which must have been minted for the same `key`.
fn offset(input: &Value, key: &str) -> Result<usize, Answer> {
    match input.get("NextToken") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => v
            .as_str()
            .and_then(|t| t.strip_prefix(key))
            .and_then(|t| t.strip_prefix('#'))
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| Answer::error("InvalidRequestException", "Invalid NextToken")),
    }
}

fn token(key: &str, offset: usize) -> String {
    format!("{key}#{offset}")
}

/// The service named by the request's `ServiceArn` in `region`, visible to `account`, and its
/// index in `Scenario::regions[region]`.
fn find_service<'a>(
    scenario: &'a Scenario,
    catalog: &Catalog,
    region: &str,
    account: Option<&str>,
    input: &Value,
) -> Result<(&'a ServiceSpec, usize), Answer> {
    let arn = input.get("ServiceArn").and_then(Value::as_str).ok_or_else(|| {
        Answer::error("InvalidRequestException", "1 validation error detected: Value null at 'serviceArn' failed to satisfy constraint: Member must not be null")
    })?;
    let specs = scenario.regions.get(region);
    catalog
        .by_arn
        .get(region)
        .and_then(|arns| arns.get(arn))
        .and_then(|indices| {
            indices
                .iter()
                .map(|&i| {
                    (
                        &specs.expect("the catalog's regions are the scenario's")[i],
                        i,
                    )
                })
                .find(|(s, _)| s.in_account(account))
        })
        .ok_or_else(|| {
            Answer::error(
                "ResourceNotFoundException",
                &format!("Resource with ARN '{arn}' doesn't exist."),
            )
        })
}

fn list_services(
    scenario: &Scenario,
    region: &str,
    account: Option<&str>,
    input: &Value,
) -> Answer {
    let key = match account {
        None => format!("ListServices/{region}"),
        Some(account) => format!("ListServices/{account}/{region}"),
    };
    let (limit, start) = match (max_results(input, 20), offset(input, &key)) {
        (Ok(limit), Ok(start)) => (limit, start),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let specs: Vec<&ServiceSpec> = scenario
        .regions
        .get(region)
        .map(|specs| specs.iter().filter(|s| s.in_account(account)).collect())
        .unwrap_or_default();
    if start > specs.len() {
        return Answer::error("InvalidRequestException", "Invalid NextToken");
    }
    let page = limit.unwrap_or(20).min(scenario.page_size);
    let end = (start + page).min(specs.len());
    let summaries: Vec<Value> = specs[start..end]
        .iter()
        .map(|s| {
            let mut m = Map::new();
            for field in [
                "ServiceName",
                "ServiceId",
                "ServiceArn",
                "ServiceUrl",
                "CreatedAt",
                "UpdatedAt",
                "Status",
            ] {
                if let Some(v) = s.service.get(field) {
                    m.insert(field.to_string(), v.clone());
                }
            }
            Value::Object(m)
        })
        .collect();
    let mut out = json!({"ServiceSummaryList": summaries});
    if end < specs.len() {
        out["NextToken"] = json!(token(&key, end));
    }
    Answer::ok(out)
}

fn describe_service(
    scenario: &Scenario,
    catalog: &Catalog,
    region: &str,
    account: Option<&str>,
    input: &Value,
) -> Answer {
    match find_service(scenario, catalog, region, account, input) {
        Ok((_, i)) => Answer::serialized(catalog.described[region][i].clone()),
        Err(e) => e,
    }
}

fn describe_custom_domains(
    scenario: &Scenario,
    catalog: &Catalog,
    region: &str,
    account: Option<&str>,
    input: &Value,
) -> Answer {
    let spec = match find_service(scenario, catalog, region, account, input) {
        Ok((spec, _)) => spec,
        Err(e) => return e,
    };
    let arn = spec.arn();
    let key = format!("DescribeCustomDomains/{arn}");
    let (limit, start) = match (max_results(input, 5), offset(input, &key)) {
        (Ok(limit), Ok(start)) => (limit, start),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let domains = &spec.custom_domains;
    if start > domains.len() {
        return Answer::error("InvalidRequestException", "Invalid NextToken");
    }
    let end = (start + limit.unwrap_or(5)).min(domains.len());
    let mut out = json!({
        "DNSTarget": spec.service.get("ServiceUrl").cloned().unwrap_or(Value::Null),
        "ServiceArn": arn,
        "CustomDomains": domains[start..end],
        "VpcDNSTargets": [],
    });
    if end < domains.len() {
        out["NextToken"] = json!(token(&key, end));
    }
    Answer::ok(out)
}

/// 32 lowercase hex digits derived deterministically from `seed`.
pub fn hex_id(seed: &str) -> String {
    // FNV-1a, then the murmur3 finalizer so that similar seeds give unrelated ids.
    fn hash(seed: &str, basis: u64) -> u64 {
        let mut h = seed.bytes().fold(basis, |h, b| {
            (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
        });
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^ (h >> 33)
    }
    format!(
        "{:016x}{:016x}",
        hash(seed, 0xcbf2_9ce4_8422_2325),
        hash(seed, 0x6c62_272e_07bb_0142)
    )
}

/// Starts a builder for a realistic wire `Service`: RUNNING, a private ECR image, publicly
/// accessible, default egress, observability off, AWS managed key, no custom domain.
pub fn service(account: &str, region: &str, name: &str) -> ServiceBuilder {
    ServiceBuilder {
        account: account.to_string(),
        region: region.to_string(),
        name: name.to_string(),
        status: "RUNNING".to_string(),
        source: Source::Image {
            identifier: format!("{account}.dkr.ecr.{region}.amazonaws.com/{name}:latest"),
        },
        env: Vec::new(),
        secrets: Vec::new(),
        kms_key: None,
        public: true,
        observability: false,
        egress_vpc: false,
        auto_deployments: false,
        instance_role: None,
        health_check_protocol: "TCP".to_string(),
        ip_address_type: "IPV4".to_string(),
        custom_domains: Vec::new(),
        edits: Vec::new(),
    }
}

#[derive(Clone, Debug)]
enum Source {
    Image {
        identifier: String,
    },
    Code {
        url: String,
        configuration_source: String,
    },
}

type Edit = Arc<dyn Fn(&mut Value) + Send + Sync>;

/// Builder of a [`ServiceSpec`]; see [`service`].
#[derive(Clone)]
pub struct ServiceBuilder {
    account: String,
    region: String,
    name: String,
    status: String,
    source: Source,
    env: Vec<(String, String)>,
    secrets: Vec<(String, String)>,
    kms_key: Option<String>,
    public: bool,
    observability: bool,
    egress_vpc: bool,
    auto_deployments: bool,
    instance_role: Option<String>,
    health_check_protocol: String,
    ip_address_type: String,
    custom_domains: Vec<Value>,
    edits: Vec<Edit>,
}

impl ServiceBuilder {
    /// The service id: 32 hex digits derived from account, region and name.
    pub fn id(&self) -> String {
        hex_id(&format!("{}/{}/{}", self.account, self.region, self.name))
    }

    /// `arn:aws:apprunner:<region>:<account>:service/<name>/<id>`
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:apprunner:{}:{}:service/{}/{}",
            self.region,
            self.account,
            self.name,
            self.id()
        )
    }

    /// `<10 hex>.<region>.awsapprunner.com` (bare host, no scheme).
    pub fn url(&self) -> String {
        format!(
            "{}.{}.awsapprunner.com",
            &hex_id(&format!("url/{}", self.id()))[..10],
            self.region
        )
    }

    /// Image source; `public.ecr.aws/...` images are `ECR_PUBLIC`, others `ECR`.
    pub fn image(mut self, identifier: &str) -> Self {
        self.source = Source::Image {
            identifier: identifier.to_string(),
        };
        self
    }

    /// Code repository source; `configuration_source` is `API` (values returned by the API)
    /// or `REPOSITORY` (values in apprunner.yaml, not returned: env and secrets are dropped).
    pub fn code_repo(mut self, url: &str, configuration_source: &str) -> Self {
        self.source = Source::Code {
            url: url.to_string(),
            configuration_source: configuration_source.to_string(),
        };
        self
    }

    /// A `RuntimeEnvironmentVariables` entry.
    pub fn env(mut self, name: &str, value: &str) -> Self {
        self.env.push((name.to_string(), value.to_string()));
        self
    }

    /// A `RuntimeEnvironmentSecrets` entry (value: a Secrets Manager or SSM parameter ARN).
    pub fn secret(mut self, name: &str, arn: &str) -> Self {
        self.secrets.push((name.to_string(), arn.to_string()));
        self
    }

    /// `EncryptionConfiguration.KmsKey` (absent by default: AWS managed key).
    pub fn kms_key(mut self, arn: &str) -> Self {
        self.kms_key = Some(arn.to_string());
        self
    }

    pub fn status(mut self, status: &str) -> Self {
        self.status = status.to_string();
        self
    }

    /// `NetworkConfiguration.IngressConfiguration.IsPubliclyAccessible` (default true).
    pub fn public(mut self, public: bool) -> Self {
        self.public = public;
        self
    }

    /// `ObservabilityConfiguration.ObservabilityEnabled` (default false).
    pub fn observability(mut self, enabled: bool) -> Self {
        self.observability = enabled;
        self
    }

    /// Egress through a VPC connector (default false: `DEFAULT`).
    pub fn egress_vpc(mut self, vpc: bool) -> Self {
        self.egress_vpc = vpc;
        self
    }

    pub fn auto_deployments(mut self, enabled: bool) -> Self {
        self.auto_deployments = enabled;
        self
    }

    pub fn instance_role(mut self, arn: &str) -> Self {
        self.instance_role = Some(arn.to_string());
        self
    }

    /// `HealthCheckConfiguration.Protocol`: `TCP` (default) or `HTTP`.
    pub fn health_check(mut self, protocol: &str) -> Self {
        self.health_check_protocol = protocol.to_string();
        self
    }

    /// `NetworkConfiguration.IpAddressType`: `IPV4` (default) or `DUAL_STACK`.
    pub fn ip_address_type(mut self, t: &str) -> Self {
        self.ip_address_type = t.to_string();
        self
    }

    /// A custom domain with one CNAME validation record per entry of `record_statuses`
    /// (`PENDING_VALIDATION | SUCCESS | FAILED`); `status` is the domain `Status`.
    pub fn custom_domain(mut self, name: &str, status: &str, record_statuses: &[&str]) -> Self {
        let records: Vec<Value> = record_statuses
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let h = hex_id(&format!("{name}/{i}"));
                let host = if i == 0 {
                    name.to_string()
                } else {
                    format!("www.{name}")
                };
                json!({
                    "Name": format!("_{}.{host}.", &h[..32]),
                    "Type": "CNAME",
                    "Value": format!("_{}.{}.acm-validations.aws.", &h[..16], &h[16..26]),
                    "Status": s,
                })
            })
            .collect();
        self.custom_domains.push(json!({
            "DomainName": name,
            "EnableWWWSubdomain": record_statuses.len() > 1,
            "CertificateValidationRecords": records,
            "Status": status,
        }));
        self
    }

    /// A hand-written wire `CustomDomain` object.
    pub fn custom_domain_wire(mut self, domain: Value) -> Self {
        self.custom_domains.push(domain);
        self
    }

    /// Escape hatch: edits the finished wire `Service` object (applied in order, last).
    pub fn with(mut self, edit: impl Fn(&mut Value) + Send + Sync + 'static) -> Self {
        self.edits.push(Arc::new(edit));
        self
    }

    pub fn build(self) -> ServiceSpec {
        let map = |pairs: &[(String, String)]| -> Value {
            Value::Object(pairs.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
        };
        let (id, arn, url) = (self.id(), self.arn(), self.url());
        let (account, region, name) = (&self.account, &self.region, &self.name);

        let source = match &self.source {
            Source::Image { identifier } => {
                let public = identifier.starts_with("public.ecr.aws/");
                let mut config = json!({"Port": "8080"});
                if !self.env.is_empty() {
                    config["RuntimeEnvironmentVariables"] = map(&self.env);
                }
                if !self.secrets.is_empty() {
                    config["RuntimeEnvironmentSecrets"] = map(&self.secrets);
                }
                let mut s = json!({
                    "ImageRepository": {
                        "ImageIdentifier": identifier,
                        "ImageRepositoryType": if public { "ECR_PUBLIC" } else { "ECR" },
                        "ImageConfiguration": config,
                    },
                    "AutoDeploymentsEnabled": self.auto_deployments && !public,
                });
                if !public {
                    s["AuthenticationConfiguration"] = json!({
                        "AccessRoleArn": format!("arn:aws:iam::{account}:role/service-role/AppRunnerECRAccessRole"),
                    });
                }
                s
            }
            Source::Code {
                url: repo,
                configuration_source,
            } => {
                let mut code = json!({"ConfigurationSource": configuration_source});
                if configuration_source == "API" {
                    let mut values = json!({
                        "Runtime": "PYTHON_311",
                        "BuildCommand": "pip install -r requirements.txt",
                        "StartCommand": "python app.py",
                        "Port": "8080",
                    });
                    if !self.env.is_empty() {
                        values["RuntimeEnvironmentVariables"] = map(&self.env);
                    }
                    if !self.secrets.is_empty() {
                        values["RuntimeEnvironmentSecrets"] = map(&self.secrets);
                    }
                    code["CodeConfigurationValues"] = values;
                }
                json!({
                    "CodeRepository": {
                        "RepositoryUrl": repo,
                        "SourceCodeVersion": {"Type": "BRANCH", "Value": "main"},
                        "SourceDirectory": "/",
                        "CodeConfiguration": code,
                    },
                    "AutoDeploymentsEnabled": self.auto_deployments,
                    "AuthenticationConfiguration": {
                        "ConnectionArn": format!("arn:aws:apprunner:{region}:{account}:connection/github/{}", &hex_id(repo)[..32]),
                    },
                })
            }
        };

        let mut instance = json!({"Cpu": "1024", "Memory": "2048"});
        if let Some(role) = &self.instance_role {
            instance["InstanceRoleArn"] = json!(role);
        }
        let mut egress = json!({"EgressType": if self.egress_vpc { "VPC" } else { "DEFAULT" }});
        if self.egress_vpc {
            egress["VpcConnectorArn"] = json!(format!(
                "arn:aws:apprunner:{region}:{account}:vpcconnector/{name}-connector/1/{}",
                &hex_id(&format!("vpc/{id}"))[..32]
            ));
        }
        let mut observability = json!({"ObservabilityEnabled": self.observability});
        if self.observability {
            observability["ObservabilityConfigurationArn"] = json!(format!(
                "arn:aws:apprunner:{region}:{account}:observabilityconfiguration/DefaultConfiguration/1/00000000000000000000000000000001"
            ));
        }
        let health = json!({
            "Protocol": self.health_check_protocol,
            "Path": "/",
            "Interval": 10,
            "Timeout": 5,
            "HealthyThreshold": 1,
            "UnhealthyThreshold": 5,
        });

        let mut service = json!({
            "ServiceName": name,
            "ServiceId": id,
            "ServiceArn": arn,
            "ServiceUrl": url,
            "CreatedAt": CREATED_AT,
            "UpdatedAt": UPDATED_AT,
            "Status": self.status,
            "SourceConfiguration": source,
            "InstanceConfiguration": instance,
            "NetworkConfiguration": {
                "EgressConfiguration": egress,
                "IngressConfiguration": {"IsPubliclyAccessible": self.public},
                "IpAddressType": self.ip_address_type,
            },
            "ObservabilityConfiguration": observability,
            "HealthCheckConfiguration": health,
            "AutoScalingConfigurationSummary": {
                "AutoScalingConfigurationArn": format!("arn:aws:apprunner:{region}:{account}:autoscalingconfiguration/DefaultConfiguration/1/00000000000000000000000000000001"),
                "AutoScalingConfigurationName": "DefaultConfiguration",
                "AutoScalingConfigurationRevision": 1,
                "Status": "active",
                "CreatedAt": CREATED_AT,
                "HasAssociatedService": true,
                "IsDefault": true,
            },
        });
        if self.status == "DELETED" {
            service["DeletedAt"] = json!(UPDATED_AT);
        }
        if let Some(key) = &self.kms_key {
            service["EncryptionConfiguration"] = json!({"KmsKey": key});
        }
        for edit in &self.edits {
            edit(&mut service);
        }
        ServiceSpec {
            service,
            custom_domains: self.custom_domains,
        }
    }
}
