//! An App Runner API emulator for the tests (moto has no App Runner).
//!
//! A loopback HTTP server (tiny_http on 127.0.0.1:0, a few worker threads, shut down on Drop)
//! speaking App Runner's awsJson1_0 protocol: `POST /`, `X-Amz-Target: AppRunner.<Operation>`,
//! JSON bodies, `Content-Type: application/x-amz-json-1.0` answers, epoch-second timestamps.
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
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Map, Value, json};

/// Fixed timestamps (epoch seconds) used by the builder.
pub const CREATED_AT: i64 = 1_700_000_000;
pub const UPDATED_AT: i64 = 1_710_000_000;

const WORKERS: usize = 6;

/// What the emulator serves.
#[derive(Clone, Debug)]
pub struct Scenario {
    /// Services per region (region name -> services).
    pub regions: BTreeMap<String, Vec<ServiceSpec>>,
    /// Injected errors; the first matching fault with calls left wins.
    pub faults: Vec<Fault>,
    /// Largest `ListServices` page, whatever `MaxResults` says (default 2, so paging is exercised).
    pub page_size: usize,
    /// Delay added before every answer.
    pub latency: Option<Duration>,
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            regions: BTreeMap::new(),
            faults: Vec::new(),
            page_size: 2,
            latency: None,
        }
    }
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
}

impl From<ServiceBuilder> for ServiceSpec {
    fn from(b: ServiceBuilder) -> Self {
        b.build()
    }
}

/// An injected error. A fault matches a call when every `Some` filter matches.
#[derive(Clone, Debug, Default)]
pub struct Fault {
    /// Operation name, e.g. "DescribeService".
    pub operation: Option<String>,
    pub region: Option<String>,
    /// Substring of the request's `ServiceArn` (calls without one never match).
    pub arn_contains: Option<String>,
    /// Error code, e.g. "AccessDeniedException", "ThrottlingException".
    pub code: String,
    /// None = always; Some(n) = only the first n matching calls.
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
    pub fn times(mut self, times: usize) -> Self {
        self.times = Some(times);
        self
    }

    fn matches(&self, operation: &str, region: &str, arn: Option<&str>) -> bool {
        self.operation.as_deref().is_none_or(|o| o == operation)
            && self.region.as_deref().is_none_or(|r| r == region)
            && self
                .arn_contains
                .as_deref()
                .is_none_or(|part| arn.is_some_and(|a| a.contains(part)))
    }
}

/// One request the emulator received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// Operation from `X-Amz-Target` (without the `AppRunner.` prefix).
    pub operation: String,
    /// Region of the SigV4 credential scope ("" if unsigned).
    pub region: String,
    /// Access key id of the SigV4 credential scope ("" if unsigned).
    pub access_key_id: String,
    /// `ServiceArn` of the request body, if any.
    pub service_arn: Option<String>,
    /// Error code answered (injected fault or emulator-detected error), if any.
    pub fault: Option<String>,
}

struct State {
    scenario: Scenario,
    fault_hits: Vec<usize>,
    calls: Vec<Call>,
}

/// The running emulator; stops on Drop.
pub struct AppRunnerEmulator {
    endpoint: String,
    server: Arc<tiny_http::Server>,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    workers: Vec<JoinHandle<()>>,
}

impl AppRunnerEmulator {
    pub fn start(scenario: Scenario) -> Self {
        assert!(
            scenario.page_size > 0,
            "Scenario::page_size must be at least 1"
        );
        let server = Arc::new(tiny_http::Server::http("127.0.0.1:0").expect("bind 127.0.0.1:0"));
        let addr = server.server_addr().to_ip().expect("an IP listener");
        let state = Arc::new(Mutex::new(State {
            fault_hits: vec![0; scenario.faults.len()],
            scenario,
            calls: Vec::new(),
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..WORKERS)
            .map(|i| {
                let (server, state, stop) = (server.clone(), state.clone(), stop.clone());
                std::thread::Builder::new()
                    .name(format!("apprunner-emulator-{i}"))
                    .spawn(move || {
                        while !stop.load(Ordering::SeqCst) {
                            match server.recv_timeout(Duration::from_millis(100)) {
                                Ok(Some(request)) => serve(&state, request),
                                Ok(None) => {}
                                Err(_) => break,
                            }
                        }
                    })
                    .expect("spawn emulator worker")
            })
            .collect();
        AppRunnerEmulator {
            endpoint: format!("http://{addr}"),
            server,
            state,
            stop,
            workers,
        }
    }

    /// "http://127.0.0.1:PORT"
    pub fn endpoint(&self) -> String {
        self.endpoint.clone()
    }

    /// Every request received so far, in arrival order.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().unwrap().calls.clone()
    }

    /// The calls of one operation.
    pub fn calls_of(&self, operation: &str) -> Vec<Call> {
        self.calls()
            .into_iter()
            .filter(|c| c.operation == operation)
            .collect()
    }

    /// Forgets the recorded calls (fault counters are kept).
    pub fn clear_calls(&self) {
        self.state.lock().unwrap().calls.clear();
    }
}

impl Drop for AppRunnerEmulator {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for _ in 0..self.workers.len() {
            self.server.unblock();
        }
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

struct Answer {
    status: u16,
    body: Value,
    error_code: Option<String>,
}

impl Answer {
    fn ok(body: Value) -> Self {
        Answer {
            status: 200,
            body,
            error_code: None,
        }
    }
    fn error(code: &str, message: &str) -> Self {
        Answer {
            status: status_of(code),
            body: json!({"__type": code, "message": message}),
            error_code: Some(code.to_string()),
        }
    }
}

fn status_of(code: &str) -> u16 {
    match code {
        "InternalServiceErrorException" | "InternalFailure" | "InternalServerError" => 500,
        "ServiceUnavailableException" | "ServiceUnavailable" => 503,
        "ServiceQuotaExceededException" => 402,
        "MissingAuthenticationTokenException" | "InvalidSignatureException" => 403,
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

fn serve(state: &Mutex<State>, mut request: tiny_http::Request) {
    let header = |name: &str| {
        request
            .headers()
            .iter()
            .find(|h| h.field.as_str().as_str().eq_ignore_ascii_case(name))
            .map(|h| h.value.as_str().to_string())
    };
    let target = header("X-Amz-Target").unwrap_or_default();
    let scope = header("Authorization")
        .as_deref()
        .and_then(credential_scope);
    let mut body = String::new();
    let read = std::io::Read::read_to_string(request.as_reader(), &mut body);

    let operation = target
        .strip_prefix("AppRunner.")
        .unwrap_or(&target)
        .to_string();
    let (access_key_id, region, signing_service) = scope.clone().unwrap_or_default();
    let input: Result<Value, String> = match read {
        Err(e) => Err(format!("cannot read the body: {e}")),
        Ok(_) if body.trim().is_empty() => Ok(json!({})),
        Ok(_) => serde_json::from_str::<Value>(&body)
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

    let (answer, latency) = {
        let mut st = state.lock().unwrap();
        let latency = st.scenario.latency;
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
        } else if let Some(code) = take_fault(&mut st, &operation, &region, service_arn.as_deref())
        {
            Answer::error(
                &code,
                &format!("Injected fault {code} for {operation} in {region}"),
            )
        } else {
            match &input {
                Err(message) => Answer::error("SerializationException", message),
                Ok(input) => dispatch(&st.scenario, &operation, &region, input),
            }
        };
        st.calls.push(Call {
            operation: operation.clone(),
            region: region.clone(),
            access_key_id: access_key_id.clone(),
            service_arn: service_arn.clone(),
            fault: answer.error_code.clone(),
        });
        (answer, latency)
    };
    if let Some(latency) = latency {
        std::thread::sleep(latency);
    }

    let mut response = tiny_http::Response::from_string(answer.body.to_string())
        .with_status_code(answer.status)
        .with_header(
            tiny_http::Header::from_bytes(&b"Content-Type"[..], &b"application/x-amz-json-1.0"[..])
                .unwrap(),
        )
        .with_header(
            tiny_http::Header::from_bytes(
                &b"x-amzn-RequestId"[..],
                request_id(&operation, &region).as_bytes(),
            )
            .unwrap(),
        );
    if let Some(code) = &answer.error_code {
        response = response.with_header(
            tiny_http::Header::from_bytes(&b"X-Amzn-ErrorType"[..], code.as_bytes()).unwrap(),
        );
    }
    let _ = request.respond(response);
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

fn take_fault(st: &mut State, operation: &str, region: &str, arn: Option<&str>) -> Option<String> {
    let State {
        scenario,
        fault_hits,
        ..
    } = st;
    for (i, fault) in scenario.faults.iter().enumerate() {
        if fault.matches(operation, region, arn) && fault.times.is_none_or(|n| fault_hits[i] < n) {
            fault_hits[i] += 1;
            return Some(fault.code.clone());
        }
    }
    None
}

fn dispatch(scenario: &Scenario, operation: &str, region: &str, input: &Value) -> Answer {
    match operation {
        "ListServices" => list_services(scenario, region, input),
        "DescribeService" => describe_service(scenario, region, input),
        "DescribeCustomDomains" => describe_custom_domains(scenario, region, input),
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

fn find_service<'a>(
    scenario: &'a Scenario,
    region: &str,
    input: &Value,
) -> Result<&'a ServiceSpec, Answer> {
    let arn = input.get("ServiceArn").and_then(Value::as_str).ok_or_else(|| {
        Answer::error("InvalidRequestException", "1 validation error detected: Value null at 'serviceArn' failed to satisfy constraint: Member must not be null")
    })?;
    scenario
        .regions
        .get(region)
        .and_then(|specs| {
            specs
                .iter()
                .find(|s| s.service["ServiceArn"].as_str() == Some(arn))
        })
        .ok_or_else(|| {
            Answer::error(
                "ResourceNotFoundException",
                &format!("Resource with ARN '{arn}' doesn't exist."),
            )
        })
}

fn list_services(scenario: &Scenario, region: &str, input: &Value) -> Answer {
    let key = format!("ListServices/{region}");
    let (limit, start) = match (max_results(input, 20), offset(input, &key)) {
        (Ok(limit), Ok(start)) => (limit, start),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let empty = Vec::new();
    let specs = scenario.regions.get(region).unwrap_or(&empty);
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

fn describe_service(scenario: &Scenario, region: &str, input: &Value) -> Answer {
    match find_service(scenario, region, input) {
        Ok(spec) => Answer::ok(json!({"Service": spec.service})),
        Err(e) => e,
    }
}

fn describe_custom_domains(scenario: &Scenario, region: &str, input: &Value) -> Answer {
    let spec = match find_service(scenario, region, input) {
        Ok(spec) => spec,
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
