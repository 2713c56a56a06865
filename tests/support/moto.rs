//! moto (PyPI `moto[server]`, pinned in .ci/run) for KMS, STS and Organizations.
//!
//! [`moto()`] gives one server per test binary: `$MOTO_ENDPOINT` if set, else `moto_server` from
//! `$MOTO_SERVER` or `<repo>/.venv/bin/moto_server` (created by `.ci/run`; see [`MOTO_BOOTSTRAP`]) on a free loopback
//! port, killed when the test process exits. [`Moto::start_private`] starts a dedicated one
//! (killed on Drop) for tests that need a clean state, e.g. Organizations.
//!
//! What moto 5.2.5 does (checked by hand, and in tests/emulator_selftest.rs where marked [t]):
//! - Accounts: static credentials (any access key id it did not issue, e.g. `testing`) are
//!   account 123456789012 (STS GetCallerIdentity says `arn:aws:sts::123456789012:user/moto`) [t].
//!   AssumeRole of `arn:aws:iam::<A>:role/<R>` works without the role existing; the returned
//!   `ASIA...` access key maps to account <A> for every service (STS, KMS...) [t]. Each account
//!   has its own KMS keys and its own organization. (moto also honours an `x-moto-account-id`
//!   header and the `MOTO_ACCOUNT_ID` variable of the server process.)
//! - KMS state is per (account, region of the client). The region and account inside a key ARN
//!   are ignored: only the key id after `key/` is looked up, in the caller's account and the
//!   client's region. So DescribeKey of a key of us-east-1 through a eu-west-1 client is
//!   `NotFoundException` [t]; DescribeKey of `arn:aws:kms:us-east-1:999999999999:key/<id of a key
//!   of 123456789012>` by a 123456789012 caller answers that 123456789012 key (AWSAccountId
//!   123456789012) [t], and by a caller of another account is `NotFoundException`; a key created
//!   in account 999999999999 (via AssumeRole) is invisible to 123456789012 callers: cross-account
//!   key reads cannot be emulated, moto has no key policies evaluation across accounts.
//! - DescribeKey of a non-existent key ARN: 400 `NotFoundException` ("Key '<arn>' does not
//!   exist") [t]; an unknown alias or a garbage id: also `NotFoundException` (never
//!   `InvalidArnException`). GetKeyRotationStatus of an unknown key: `NotFoundException`.
//! - CreateKey answers and DescribeKey carry `KeyManager: CUSTOMER`, `KeySpec`,
//!   `CustomerMasterKeySpec`, `Origin`, `KeyState`, `Enabled` [t]; symmetric keys come with
//!   `"KeyUsage": null` (the SDK reads None) [t]; `MultiRegion` is null unless requested.
//!   `DeletionDate` is present once PendingDeletion [t]. No `ValidTo`/`ExpirationModel`.
//! - CreateKey Origin=EXTERNAL is accepted: Origin `EXTERNAL` but KeyState `Enabled` and
//!   Enabled true (real KMS: `PendingImport`, false) [t]. GetParametersForImport crashes (500).
//! - GetKeyRotationStatus answers only `KeyRotationEnabled` (no `RotationPeriodInDays`, no
//!   `NextRotationDate`): false for a new key [t], true after EnableKeyRotation [t]. moto never
//!   refuses EnableKeyRotation (no `UnsupportedOperationException`): EXTERNAL and asymmetric
//!   keys answer false until EnableKeyRotation, then true. The flag survives DisableKey and
//!   ScheduleKeyDeletion: a pending-deletion key answers whatever it had (false if never enabled
//!   [t], true if enabled before; real KMS answers false). No `KMSInvalidStateException`.
//! - DisableKey, EnableKey, ScheduleKeyDeletion and CancelKeyDeletion crash with an HTML 500
//!   when given a key ARN (moto bug): they need the bare key id. The helpers here pass the id.
//!   DescribeKey, GetKeyRotationStatus and Enable/DisableKeyRotation accept ARNs.
//! - Organizations: DescribeOrganization before CreateOrganization is
//!   `AWSOrganizationsNotInUseException`, ListAccounts answers `[]`. CreateOrganization makes the
//!   caller's account the management account (listed as "master", master@example.com).
//!   CreateAccount completes at once (State SUCCEEDED) with a random 12-digit id. ListAccounts
//!   gives `Status` and `State` (`ACTIVE`), pages (default 100, ordered by JoinedTimestamp).
//!   CloseAccount marks an account `SUSPENDED` in both `Status` and `State` at once (no
//!   PENDING_CLOSURE) [t]; it stays listed.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};

/// The default account of moto for static credentials.
pub const DEFAULT_ACCOUNT: &str = "123456789012";

/// A moto server.
pub struct Moto {
    /// "http://127.0.0.1:PORT"
    pub endpoint: String,
    process: Option<Mutex<(Child, Option<ChildStdin>)>>,
}

/// The shared moto server of this test binary (started on first use).
pub fn moto() -> &'static Moto {
    static MOTO: OnceLock<Moto> = OnceLock::new();
    MOTO.get_or_init(|| match std::env::var("MOTO_ENDPOINT") {
        Ok(endpoint) if !endpoint.is_empty() => {
            let endpoint = endpoint.trim_end_matches('/').to_string();
            wait_ready(&endpoint, None).unwrap_or_else(|e| panic!("MOTO_ENDPOINT={endpoint}: {e}"));
            Moto {
                endpoint,
                process: None,
            }
        }
        _ => Moto::spawn(false),
    })
}

fn moto_server_path() -> PathBuf {
    if let Ok(path) = std::env::var("MOTO_SERVER")
        && !path.is_empty()
    {
        return PathBuf::from(path);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/moto_server")
}

/// moto's server as started from the venv's Python, with two fixes of speed, both of pure
/// functions whose answers never change while it runs (cProfile of `DescribeKey`):
/// - moto 5.2.5 lists its own package directory (about 180 `stat` calls) twice on every request
///   to route it: about 40% of its time per request. The list is taken once.
/// - every request lists the methods of its response class with `inspect.getmembers`: about a
///   third of what was left. The lists are kept per class.
///
/// moto's own application is then served by waitress (a production WSGI server, installed by
/// `.ci/run`) rather than werkzeug's development server, which closes every connection: each
/// forwarded call cost moto a TCP connection and a Python thread (1.2 ms of CPU per
/// `DescribeKey` instead of 0.9 ms). Arguments as `moto_server`'s `-H` and `-p`; `MOTO_PORT` is
/// set as it sets it. Without waitress (a `.venv` older than this), `moto_server` serves it, and
/// the moto log says so.
///
/// Before serving, the modules of the services the tests use are imported and every object
/// alive is frozen out of Python's cyclic garbage collector (`gc.freeze`), so that a full
/// collection walks only what the tests created. Without it, a full collection in the middle of
/// an org_scan benchmark scan held moto's interpreter lock for up to 155 ms (`gc.callbacks`
/// log), and every KMS and STS answer waited; with it, 14-22 ms. waitress's warnings that all
/// its threads are busy are silenced (expected under the benchmark; each cost a log write).
/// Nothing else of moto is touched.
const MOTO_BOOTSTRAP: &str = "import argparse, functools, os, signal, sys
import moto.backends as backends
modules = tuple(backends.list_of_moto_modules())
backends.list_of_moto_modules = lambda: modules
import moto.core.responses as responses
responses.method_names_from_class = functools.lru_cache(maxsize=None)(responses.method_names_from_class)
from moto.server import DomainDispatcherApplication, create_backend_app
try:
    import waitress
except ImportError:
    print('waitress is not installed (run .ci/run): serving with moto_server', file=sys.stderr)
    from moto.server import main
    sys.exit(main())
parser = argparse.ArgumentParser()
parser.add_argument('-H', '--host', default='127.0.0.1')
parser.add_argument('-p', '--port', type=int, default=5000)
args = parser.parse_args()
os.environ.setdefault('MOTO_PORT', str(args.port))
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
app = DomainDispatcherApplication(create_backend_app)
app.debug = True
import gc, logging
try:
    import moto.iam.models, moto.kms.responses, moto.organizations.responses, moto.sts.responses
except ImportError as e:
    print(f'moto bootstrap: {e} (frozen without those modules)', file=sys.stderr)
logging.getLogger('waitress.queue').setLevel(logging.ERROR)
gc.collect()
gc.freeze()
waitress.serve(app, host=args.host, port=args.port, threads=8, connection_limit=4096,
               channel_timeout=300, asyncore_use_poll=True, _quiet=True)
";

/// The program and leading arguments that start moto's server: the venv's Python with
/// [`MOTO_BOOTSTRAP`] when the server is the venv's `moto_server`, else `$MOTO_SERVER` as is.
fn moto_command(server: &Path) -> (PathBuf, Vec<String>) {
    let python = server.with_file_name("python");
    if std::env::var_os("MOTO_SERVER").is_none_or(|v| v.is_empty()) && python.exists() {
        (python, vec!["-c".into(), MOTO_BOOTSTRAP.into()])
    } else {
        (server.to_path_buf(), vec![])
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until `endpoint` answers HTTP; fails early if `child` exits.
fn wait_ready(endpoint: &str, mut child: Option<&mut Child>) -> Result<(), String> {
    let addr = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(child) = child.as_deref_mut()
            && let Ok(Some(status)) = child.try_wait()
        {
            return Err(format!("moto_server exited early ({status})"));
        }
        if let Ok(mut stream) = TcpStream::connect(&addr) {
            let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
            let request = format!("GET /moto-api/ HTTP/1.0\r\nHost: {addr}\r\n\r\n");
            let mut head = [0u8; 12];
            if stream.write_all(request.as_bytes()).is_ok()
                && stream.read_exact(&mut head).is_ok()
                && head.starts_with(b"HTTP/1.")
            {
                return Ok(());
            }
        }
        if Instant::now() > deadline {
            return Err("no answer within 60 s".to_string());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

impl Moto {
    /// Starts a dedicated moto server (killed on Drop, or when the test process exits).
    pub fn start_private() -> Moto {
        Self::spawn(true)
    }

    fn spawn(private: bool) -> Moto {
        let server = moto_server_path();
        if !server.exists() {
            panic!(
                "moto_server not found at {} (and MOTO_ENDPOINT is not set): run `.ci/run` once \
                 (it creates .venv with moto[server]), or set MOTO_SERVER to a moto_server \
                 executable, or MOTO_ENDPOINT to a running moto",
                server.display()
            );
        }
        // target/tmp/moto-<test binary>[-private].log
        let log_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let exe = std::env::current_exe().ok();
        let stem = exe
            .as_ref()
            .and_then(|e| e.file_stem())
            .and_then(|s| s.to_str())
            .unwrap_or("test");
        let stem = stem.rsplit_once('-').map_or(stem, |(name, _hash)| name);
        let log_path = log_dir.join(format!(
            "moto-{stem}{}.log",
            if private { "-private" } else { "" }
        ));
        let mut last_error = String::new();
        for attempt in 0..3 {
            let port = free_port();
            let log = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .append(private)
                .truncate(!private)
                .open(&log_path)
                .expect("create the moto log file");
            // sh runs moto in the background and reads its stdin, a pipe that only this process
            // holds: when this process exits (however), the pipe closes, `cat` returns and moto
            // is killed. sh also exits when moto exits on its own (bad port...).
            // (A background job's stdin is /dev/null in a non-interactive sh: hence fd 3.)
            let script = r#"exec 3<&0
                "$0" "$@" 3<&- </dev/null & pid=$!
                ( cat <&3 >/dev/null; kill "$pid" 2>/dev/null ) &
                exec 3<&-
                wait "$pid""#;
            let (program, leading) = moto_command(&server);
            let mut child = Command::new("sh")
                .arg("-c")
                .arg(script)
                .arg(&program)
                .args(&leading)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdin(Stdio::piped())
                .stdout(log.try_clone().expect("clone the log file"))
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
            let stdin = child.stdin.take();
            let endpoint = format!("http://127.0.0.1:{port}");
            match wait_ready(&endpoint, Some(&mut child)) {
                Ok(()) => {
                    return Moto {
                        endpoint,
                        process: Some(Mutex::new((child, stdin))),
                    };
                }
                Err(e) => {
                    last_error = format!("attempt {attempt} on port {port}: {e}");
                    drop(stdin);
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
        panic!(
            "moto_server did not start ({last_error}); see {}",
            log_path.display()
        );
    }

    /// Wipes every account and region of this server (only for a private server: the shared
    /// one is used by concurrent tests).
    pub fn reset(&self) {
        let addr = self.endpoint.trim_start_matches("http://");
        let mut stream = TcpStream::connect(addr).expect("connect to moto");
        let request =
            format!("POST /moto-api/reset HTTP/1.0\r\nHost: {addr}\r\nContent-Length: 0\r\n\r\n");
        stream.write_all(request.as_bytes()).expect("reset moto");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.") && answer[9..].starts_with("200"),
            "moto reset: {answer}"
        );
    }

    /// An SDK config for this moto: region, endpoint, and the given credentials.
    pub fn sdk_config(&self, region: &str, creds: &Creds) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                &creds.access_key_id,
                &creds.secret_access_key,
                creds.session_token.clone(),
                None,
                "moto-test",
            )))
            .build()
    }

    /// KMS of region `region` in the default account (123456789012).
    pub fn kms(&self, region: &str) -> Kms {
        self.kms_as(region, &Creds::testing())
    }

    /// KMS of region `region` as `creds` (e.g. from [`Moto::account_creds`]).
    pub fn kms_as(&self, region: &str, creds: &Creds) -> Kms {
        Kms {
            client: aws_sdk_kms::Client::new(&self.sdk_config(region, creds)),
        }
    }

    /// The account moto gives to `creds` (STS GetCallerIdentity).
    pub fn caller_account(&self, creds: &Creds) -> String {
        let client = aws_sdk_sts::Client::new(&self.sdk_config("us-east-1", creds));
        let out = block_on(async move { client.get_caller_identity().send().await })
            .expect("GetCallerIdentity");
        out.account().expect("an account").to_string()
    }

    /// Credentials of role `role_arn` (moto: they belong to the role's account).
    pub fn assume_role(&self, role_arn: &str) -> Creds {
        let client = aws_sdk_sts::Client::new(&self.sdk_config("us-east-1", &Creds::testing()));
        let role_arn = role_arn.to_string();
        let out = block_on(async move {
            client
                .assume_role()
                .role_arn(role_arn)
                .role_session_name("apprunner-audit-test")
                .send()
                .await
        })
        .expect("AssumeRole");
        let c = out.credentials().expect("credentials");
        Creds {
            access_key_id: c.access_key_id().to_string(),
            secret_access_key: c.secret_access_key().to_string(),
            session_token: Some(c.session_token().to_string()),
        }
    }

    /// Credentials that moto maps to `account` (AssumeRole of a role there).
    pub fn account_creds(&self, account: &str) -> Creds {
        if account == DEFAULT_ACCOUNT {
            return Creds::testing();
        }
        self.assume_role(&format!(
            "arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
        ))
    }

    /// Organizations as the default account.
    pub fn organizations(&self) -> Orgs {
        self.organizations_as(&Creds::testing())
    }

    pub fn organizations_as(&self, creds: &Creds) -> Orgs {
        Orgs {
            client: aws_sdk_organizations::Client::new(&self.sdk_config("us-east-1", creds)),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        if let Some(process) = self.process.take() {
            let (mut child, stdin) = process.into_inner().unwrap_or_else(|e| e.into_inner());
            drop(stdin); // closes the pipe: sh kills moto, then exits
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// AWS credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

impl Creds {
    /// `testing`/`testing`: account 123456789012 in moto.
    pub fn testing() -> Self {
        Creds {
            access_key_id: "testing".into(),
            secret_access_key: "testing".into(),
            session_token: None,
        }
    }
}

/// Runs a future to completion on a shared runtime; works from plain `#[test]` functions and
/// from inside another runtime (then on a helper thread).
pub fn block_on<F>(future: F) -> F::Output
where
    F: std::future::Future + Send,
    F::Output: Send,
{
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("moto-seed")
            .enable_all()
            .build()
            .expect("a tokio runtime")
    });
    if tokio::runtime::Handle::try_current().is_ok() {
        std::thread::scope(|s| {
            s.spawn(|| runtime.block_on(future))
                .join()
                .expect("seeding thread")
        })
    } else {
        runtime.block_on(future)
    }
}

/// The key id of a key ARN (or the id itself).
pub fn key_id(key: &str) -> &str {
    key.rsplit_once(":key/").map_or(key, |(_, id)| id)
}

/// Sync KMS seeding helpers (one account, one region). Keys are returned as full ARNs.
pub struct Kms {
    client: aws_sdk_kms::Client,
}

impl Kms {
    pub fn client(&self) -> &aws_sdk_kms::Client {
        &self.client
    }

    /// A symmetric encryption key (Origin AWS_KMS); returns its ARN.
    pub fn create_key(&self) -> String {
        self.create(None, None)
    }

    /// A key with Origin EXTERNAL (moto: KeyState stays Enabled, not PendingImport).
    pub fn create_external_key(&self) -> String {
        self.create(Some(aws_sdk_kms::types::OriginType::External), None)
    }

    /// An asymmetric RSA_2048 ENCRYPT_DECRYPT key.
    pub fn create_asymmetric_key(&self) -> String {
        self.create(None, Some(aws_sdk_kms::types::KeySpec::Rsa2048))
    }

    fn create(
        &self,
        origin: Option<aws_sdk_kms::types::OriginType>,
        spec: Option<aws_sdk_kms::types::KeySpec>,
    ) -> String {
        let client = self.client.clone();
        let out = block_on(async move {
            let mut req = client.create_key().description("apprunner-audit test key");
            if let Some(origin) = origin {
                req = req.origin(origin);
            }
            if let Some(spec) = spec {
                req = req
                    .key_spec(spec)
                    .key_usage(aws_sdk_kms::types::KeyUsageType::EncryptDecrypt);
            }
            req.send().await
        })
        .expect("CreateKey");
        out.key_metadata()
            .and_then(|m| m.arn())
            .expect("a key ARN")
            .to_string()
    }

    /// A symmetric key with automatic rotation enabled.
    pub fn create_rotating_key(&self) -> String {
        let arn = self.create_key();
        self.enable_rotation(&arn);
        arn
    }

    pub fn enable_rotation(&self, key: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        block_on(async move { client.enable_key_rotation().key_id(id).send().await })
            .expect("EnableKeyRotation");
    }

    pub fn disable_rotation(&self, key: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        block_on(async move { client.disable_key_rotation().key_id(id).send().await })
            .expect("DisableKeyRotation");
    }

    /// KeyState Disabled.
    pub fn disable_key(&self, key: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        block_on(async move { client.disable_key().key_id(id).send().await }).expect("DisableKey");
    }

    pub fn enable_key(&self, key: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        block_on(async move { client.enable_key().key_id(id).send().await }).expect("EnableKey");
    }

    /// KeyState PendingDeletion, deletion in 7 days.
    pub fn schedule_deletion(&self, key: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        block_on(async move {
            client
                .schedule_key_deletion()
                .key_id(id)
                .pending_window_in_days(7)
                .send()
                .await
        })
        .expect("ScheduleKeyDeletion");
    }

    /// Creates `alias/<name>` for the key.
    pub fn create_alias(&self, key: &str, name: &str) {
        let (client, id) = (self.client.clone(), key_id(key).to_string());
        let alias = format!("alias/{}", name.trim_start_matches("alias/"));
        block_on(async move {
            client
                .create_alias()
                .alias_name(alias)
                .target_key_id(id)
                .send()
                .await
        })
        .expect("CreateAlias");
    }

    pub fn describe(&self, key: &str) -> aws_sdk_kms::types::KeyMetadata {
        let (client, key) = (self.client.clone(), key.to_string());
        let out = block_on(async move { client.describe_key().key_id(key).send().await })
            .expect("DescribeKey");
        out.key_metadata().expect("KeyMetadata").clone()
    }

    pub fn rotation_enabled(&self, key: &str) -> bool {
        let (client, key) = (self.client.clone(), key.to_string());
        block_on(async move { client.get_key_rotation_status().key_id(key).send().await })
            .expect("GetKeyRotationStatus")
            .key_rotation_enabled()
    }
}

/// Sync Organizations seeding helpers (as one account).
pub struct Orgs {
    client: aws_sdk_organizations::Client,
}

impl Orgs {
    pub fn client(&self) -> &aws_sdk_organizations::Client {
        &self.client
    }

    /// Creates the organization (FeatureSet ALL) unless the caller already has one; returns its id.
    pub fn ensure_organization(&self) -> String {
        let client = self.client.clone();
        block_on(async move {
            if let Ok(out) = client.describe_organization().send().await {
                return out
                    .organization()
                    .and_then(|o| o.id())
                    .expect("an organization id")
                    .to_string();
            }
            let out = client
                .create_organization()
                .feature_set(aws_sdk_organizations::types::OrganizationFeatureSet::All)
                .send()
                .await
                .expect("CreateOrganization");
            out.organization()
                .and_then(|o| o.id())
                .expect("an organization id")
                .to_string()
        })
    }

    /// Creates a member account (completes at once in moto); returns its id.
    pub fn create_account(&self, name: &str, email: &str) -> String {
        let (client, name, email) = (self.client.clone(), name.to_string(), email.to_string());
        let out = block_on(async move {
            client
                .create_account()
                .account_name(name)
                .email(email)
                .send()
                .await
        })
        .expect("CreateAccount");
        out.create_account_status()
            .and_then(|s| s.account_id())
            .expect("an account id")
            .to_string()
    }

    /// Closes an account: moto marks it SUSPENDED (Status and State) at once.
    pub fn close_account(&self, account: &str) {
        let (client, account) = (self.client.clone(), account.to_string());
        block_on(async move { client.close_account().account_id(account).send().await })
            .expect("CloseAccount");
    }

    /// All accounts of the organization, every page.
    pub fn list_accounts(&self) -> Vec<aws_sdk_organizations::types::Account> {
        let client = self.client.clone();
        block_on(async move {
            let mut pages = client.list_accounts().into_paginator().send();
            let mut accounts = Vec::new();
            while let Some(page) = pages.next().await {
                accounts.extend(page.expect("ListAccounts").accounts().iter().cloned());
            }
            accounts
        })
    }
}
