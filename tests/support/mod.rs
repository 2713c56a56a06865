//! Test support: the App Runner emulator, moto, and a runner of the built binary.
//! Use from a test file with `mod support;`.
#![allow(dead_code)]

pub mod emulator;
pub mod moto;

use std::path::PathBuf;
use std::sync::OnceLock;

#[allow(unused_imports)]
pub use emulator::{
    AccountResolver, AppRunnerEmulator, Call, Fault, LatencyModel, Scenario, ServiceSpec, service,
};
#[allow(unused_imports)]
pub use moto::{Creds, Moto, moto};

/// An empty directory used as HOME (so no ~/.aws is read), created once.
pub fn empty_home() -> PathBuf {
    static HOME: OnceLock<PathBuf> = OnceLock::new();
    HOME.get_or_init(|| {
        let home = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("empty-home");
        let _ = std::fs::remove_dir_all(home.join(".aws"));
        std::fs::create_dir_all(&home).expect("create the test HOME");
        home
    })
    .clone()
}

/// `apprunner-audit` with a clean AWS environment: every `AWS_*` variable of the test process
/// removed, HOME an empty directory, static credentials `testing`/`testing` (moto account
/// 123456789012), region us-east-1, `AWS_ENDPOINT_URL` = moto (KMS, STS, Organizations) and
/// `AWS_ENDPOINT_URL_APPRUNNER` = the emulator, 2 attempts per call. Starts moto if needed.
pub fn scan_cmd(emulator: &AppRunnerEmulator) -> assert_cmd::Command {
    scan_cmd_with(emulator, moto(), &Creds::testing())
}

/// [`scan_cmd`] with another moto and other credentials (e.g. [`Moto::account_creds`]).
pub fn scan_cmd_with(
    emulator: &AppRunnerEmulator,
    moto: &Moto,
    creds: &Creds,
) -> assert_cmd::Command {
    let binary = assert_cmd::cargo::cargo_bin("apprunner-audit");
    let mut cmd = clean_aws_command(&binary, &moto.endpoint, &emulator.endpoint(), creds);
    cmd.env("AWS_MAX_ATTEMPTS", "2")
        .env("AWS_RETRY_MODE", "standard");
    assert_cmd::Command::from_std(cmd)
}

/// `binary` with every `AWS_*` variable of this process removed, HOME an empty directory (no
/// ~/.aws), no instance metadata, `creds`, region us-east-1, and the two endpoints: `AWS_ENDPOINT_URL`
/// (KMS, STS, Organizations) and `AWS_ENDPOINT_URL_APPRUNNER`.
pub fn clean_aws_command(
    binary: &std::path::Path,
    endpoint: &str,
    apprunner_endpoint: &str,
    creds: &Creds,
) -> std::process::Command {
    let mut cmd = std::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(&name);
        }
    }
    let home = empty_home();
    cmd.env("HOME", &home)
        .env("AWS_CONFIG_FILE", home.join("no-such-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-such-aws-credentials"),
        )
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_ACCESS_KEY_ID", &creds.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &creds.secret_access_key)
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ENDPOINT_URL_APPRUNNER", apprunner_endpoint)
        .env("NO_COLOR", "1");
    if let Some(token) = &creds.session_token {
        cmd.env("AWS_SESSION_TOKEN", token);
    }
    cmd
}
