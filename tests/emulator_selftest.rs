//! Tests of the test support: the App Runner emulator through aws-sdk-apprunner, and moto
//! through aws-sdk-kms / sts / organizations.

mod support;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use aws_sdk_apprunner::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_apprunner::error::ProvideErrorMetadata;
use aws_sdk_apprunner::types::{
    CertificateValidationRecordStatus, CustomDomainAssociationStatus, EgressType,
    ImageRepositoryType, ServiceStatus,
};
use support::emulator::{AppRunnerEmulator, Fault, LatencyModel, Scenario, service};
use support::moto::{self, DEFAULT_ACCOUNT, block_on, moto};

const ACCOUNT: &str = "111122223333";

fn client(emulator: &AppRunnerEmulator, region: &str) -> aws_sdk_apprunner::Client {
    let config = aws_sdk_apprunner::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(Credentials::new(
            "AKIDSELFTEST",
            "secret",
            None,
            None,
            "selftest",
        ))
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(3)
                .with_initial_backoff(Duration::from_millis(5)),
        )
        .build();
    aws_sdk_apprunner::Client::from_conf(config)
}

fn no_retry_client(emulator: &AppRunnerEmulator, region: &str) -> aws_sdk_apprunner::Client {
    let config = client(emulator, region)
        .config()
        .to_builder()
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_apprunner::Client::from_conf(config)
}

async fn list_all(
    client: &aws_sdk_apprunner::Client,
    max_results: Option<i32>,
) -> (Vec<String>, usize) {
    let mut pages = client
        .list_services()
        .set_max_results(max_results)
        .into_paginator()
        .send();
    let (mut names, mut count) = (Vec::new(), 0);
    while let Some(page) = pages.next().await {
        count += 1;
        for summary in page.expect("a ListServices page").service_summary_list() {
            names.push(summary.service_name().expect("ServiceName").to_string());
        }
    }
    (names, count)
}

#[tokio::test]
async fn list_services_pages_through_the_region_of_the_signature() {
    let names = ["a", "b", "c", "d", "e"];
    let scenario = Scenario::with_services(
        names
            .iter()
            .map(|n| service(ACCOUNT, "us-east-1", n).build()),
    )
    .service(service(ACCOUNT, "eu-west-1", "europe").status("PAUSED"));
    let emulator = AppRunnerEmulator::start(scenario);

    let us = client(&emulator, "us-east-1");
    let (listed, pages) = list_all(&us, None).await;
    assert_eq!(listed, names);
    assert_eq!(pages, 3, "page_size 2 over 5 services");

    let (listed, pages) = list_all(&us, Some(1)).await;
    assert_eq!(listed, names);
    assert_eq!(pages, 5);

    let eu = client(&emulator, "eu-west-1");
    let page = eu.list_services().send().await.unwrap();
    let summary = &page.service_summary_list()[0];
    assert_eq!(page.service_summary_list().len(), 1);
    assert_eq!(page.next_token(), None);
    assert_eq!(summary.service_name(), Some("europe"));
    assert_eq!(summary.status(), Some(&ServiceStatus::Paused));
    assert_eq!(
        summary.created_at().map(|t| t.secs()),
        Some(support::emulator::CREATED_AT)
    );
    assert!(
        summary
            .service_url()
            .unwrap()
            .ends_with(".eu-west-1.awsapprunner.com")
    );
    let arn = summary.service_arn().unwrap();
    assert!(
        arn.starts_with(&format!(
            "arn:aws:apprunner:eu-west-1:{ACCOUNT}:service/europe/"
        )),
        "{arn}"
    );
    assert_eq!(arn.rsplit('/').next().unwrap().len(), 32);
    assert_eq!(summary.service_id(), arn.rsplit('/').next());

    let empty = client(&emulator, "ap-south-1")
        .list_services()
        .send()
        .await
        .unwrap();
    assert!(empty.service_summary_list().is_empty());

    let calls = emulator.calls_of("ListServices");
    assert_eq!(calls.len(), 3 + 5 + 1 + 1);
    assert!(
        calls[..8]
            .iter()
            .all(|c| c.region == "us-east-1" && c.access_key_id == "AKIDSELFTEST")
    );
    assert_eq!(calls[8].region, "eu-west-1");
    assert_eq!(calls[9].region, "ap-south-1");
    assert!(
        calls
            .iter()
            .all(|c| c.fault.is_none() && c.service_arn.is_none())
    );
}

#[tokio::test]
async fn list_services_validates_max_results_and_tokens() {
    let emulator = AppRunnerEmulator::start(Scenario::with_services([service(
        ACCOUNT,
        "us-east-1",
        "a",
    )
    .build()]));
    let client = client(&emulator, "us-east-1");
    let err = client
        .list_services()
        .max_results(21)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_invalid_request_exception());
    let err = client
        .list_services()
        .next_token("forged")
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestException"));
}

#[tokio::test]
async fn describe_service_round_trips_through_the_sdk() {
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/0d1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d");
    let image_spec = service(ACCOUNT, "us-east-1", "web")
        .image("public.ecr.aws/nginx/nginx:latest")
        .env("LOG_LEVEL", "debug")
        .env("DATABASE_URL", "postgres://u:p@db/app")
        .secret(
            "API_KEY",
            &format!("arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:api-key-AbCdEf"),
        )
        .kms_key(&key)
        .public(false)
        .egress_vpc(true)
        .observability(true)
        .instance_role(&format!("arn:aws:iam::{ACCOUNT}:role/web"))
        .build();
    let code_spec = service(ACCOUNT, "us-east-1", "worker")
        .code_repo("https://github.com/example/worker", "REPOSITORY")
        .env("IGNORED", "because the configuration is in the repository")
        .status("OPERATION_IN_PROGRESS")
        .build();
    let api_spec = service(ACCOUNT, "us-east-1", "api")
        .code_repo("https://github.com/example/api", "API")
        .env("MODE", "prod")
        .build();
    let (image_arn, code_arn, api_arn) = (image_spec.arn(), code_spec.arn(), api_spec.arn());
    let emulator = AppRunnerEmulator::start(Scenario::with_services([
        image_spec.clone(),
        code_spec,
        api_spec,
    ]));
    let client = client(&emulator, "us-east-1");

    let out = client
        .describe_service()
        .service_arn(&image_arn)
        .send()
        .await
        .unwrap();
    let svc = out.service().unwrap();
    assert_eq!(svc.service_name(), "web");
    assert_eq!(svc.service_arn(), image_arn);
    assert_eq!(svc.status(), &ServiceStatus::Running);
    assert_eq!(
        svc.service_url(),
        Some(image_spec.service["ServiceUrl"].as_str().unwrap())
    );
    assert!(!svc.service_url().unwrap().contains("://"));
    assert_eq!(
        svc.encryption_configuration().map(|e| e.kms_key()),
        Some(key.as_str())
    );
    let image = svc
        .source_configuration()
        .unwrap()
        .image_repository()
        .unwrap();
    assert_eq!(
        image.image_identifier(),
        "public.ecr.aws/nginx/nginx:latest"
    );
    assert_eq!(
        image.image_repository_type(),
        &ImageRepositoryType::EcrPublic
    );
    let config = image.image_configuration().unwrap();
    let vars = config.runtime_environment_variables().unwrap();
    assert_eq!(vars.len(), 2);
    assert_eq!(vars["DATABASE_URL"], "postgres://u:p@db/app");
    assert_eq!(vars["LOG_LEVEL"], "debug");
    let secrets = config.runtime_environment_secrets().unwrap();
    assert!(secrets["API_KEY"].starts_with("arn:aws:secretsmanager:"));
    let network = svc.network_configuration().unwrap();
    assert_eq!(
        network
            .ingress_configuration()
            .map(|i| i.is_publicly_accessible()),
        Some(false)
    );
    let egress = network.egress_configuration().unwrap();
    assert_eq!(egress.egress_type(), Some(&EgressType::Vpc));
    assert!(
        egress
            .vpc_connector_arn()
            .unwrap()
            .contains(":vpcconnector/")
    );
    assert!(
        svc.observability_configuration()
            .unwrap()
            .observability_enabled()
    );
    assert_eq!(
        svc.instance_configuration().unwrap().instance_role_arn(),
        Some(&*format!("arn:aws:iam::{ACCOUNT}:role/web"))
    );
    assert_eq!(svc.created_at().secs(), support::emulator::CREATED_AT);

    let worker = client
        .describe_service()
        .service_arn(&code_arn)
        .send()
        .await
        .unwrap();
    let worker = worker.service().unwrap();
    assert_eq!(worker.status(), &ServiceStatus::OperationInProgress);
    assert!(worker.encryption_configuration().is_none());
    assert!(
        worker
            .network_configuration()
            .unwrap()
            .ingress_configuration()
            .unwrap()
            .is_publicly_accessible()
    );
    let repo = worker
        .source_configuration()
        .unwrap()
        .code_repository()
        .unwrap();
    let code = repo.code_configuration().unwrap();
    assert_eq!(code.configuration_source().as_str(), "REPOSITORY");
    assert!(code.code_configuration_values().is_none());

    let api = client
        .describe_service()
        .service_arn(&api_arn)
        .send()
        .await
        .unwrap();
    let values = api
        .service()
        .unwrap()
        .source_configuration()
        .unwrap()
        .code_repository()
        .unwrap();
    let values = values
        .code_configuration()
        .unwrap()
        .code_configuration_values()
        .unwrap();
    assert_eq!(
        values.runtime_environment_variables().unwrap()["MODE"],
        "prod"
    );

    let missing = format!(
        "arn:aws:apprunner:us-east-1:{ACCOUNT}:service/gone/00000000000000000000000000000000"
    );
    let err = client
        .describe_service()
        .service_arn(&missing)
        .send()
        .await
        .unwrap_err();
    assert!(err.into_service_error().is_resource_not_found_exception());
    // The ARN of a us-east-1 service asked in another region is not found either.
    let err = self::client(&emulator, "eu-west-1")
        .describe_service()
        .service_arn(&image_arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));

    let calls = emulator.calls_of("DescribeService");
    assert_eq!(calls[0].service_arn.as_deref(), Some(image_arn.as_str()));
    assert_eq!(
        calls.last().unwrap().fault.as_deref(),
        Some("ResourceNotFoundException")
    );
}

#[tokio::test]
async fn describe_custom_domains_pages_by_max_results() {
    let mut builder = service(ACCOUNT, "us-east-1", "site");
    for i in 0..7 {
        builder = builder.custom_domain(
            &format!("d{i}.example.com"),
            "ACTIVE",
            &["SUCCESS", "SUCCESS"],
        );
    }
    let builder = builder.custom_domain(
        "pending.example.com",
        "PENDING_CERTIFICATE_DNS_VALIDATION",
        &["PENDING_VALIDATION"],
    );
    let spec = builder.build();
    let arn = spec.arn();
    let url = spec.service["ServiceUrl"].as_str().unwrap().to_string();
    let emulator = AppRunnerEmulator::start(Scenario::with_services([spec]));
    let client = client(&emulator, "us-east-1");

    for (max, expected_pages) in [(None, 2), (Some(2), 4), (Some(5), 2)] {
        let mut pages = client
            .describe_custom_domains()
            .service_arn(&arn)
            .set_max_results(max)
            .into_paginator()
            .send();
        let (mut domains, mut count) = (Vec::new(), 0);
        while let Some(page) = pages.next().await {
            let page = page.unwrap();
            count += 1;
            assert_eq!(page.dns_target(), url);
            assert_eq!(page.service_arn(), arn);
            assert!(page.custom_domains().len() <= max.unwrap_or(5) as usize);
            domains.extend(page.custom_domains().iter().cloned());
        }
        assert_eq!(count, expected_pages, "MaxResults {max:?}");
        assert_eq!(domains.len(), 8);
        assert_eq!(domains[0].domain_name(), "d0.example.com");
        assert_eq!(domains[0].status(), &CustomDomainAssociationStatus::Active);
        let records = domains[0].certificate_validation_records();
        assert_eq!(records.len(), 2);
        assert!(domains[0].enable_www_subdomain());
        assert!(
            records
                .iter()
                .all(|r| r.status() == Some(&CertificateValidationRecordStatus::Success))
        );
        let pending = &domains[7];
        assert_eq!(
            pending.status(),
            &CustomDomainAssociationStatus::PendingCertificateDnsValidation
        );
        let record = &pending.certificate_validation_records()[0];
        assert_eq!(
            record.status(),
            Some(&CertificateValidationRecordStatus::PendingValidation)
        );
        assert_eq!(record.r#type(), Some("CNAME"));
        assert!(record.name().unwrap().ends_with(".pending.example.com."));
    }
    let err = client
        .describe_custom_domains()
        .service_arn(&arn)
        .max_results(6)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("InvalidRequestException"));
}

#[tokio::test]
async fn faults_are_readable_error_codes() {
    let scenario = Scenario::with_services([
        service(ACCOUNT, "us-east-1", "open").build(),
        service(ACCOUNT, "us-east-1", "locked").build(),
    ])
    .fault(
        Fault::new("AccessDeniedException")
            .operation("DescribeService")
            .arn_contains("/locked/"),
    )
    .fault(Fault::new("AccessDeniedException").region("eu-west-2"))
    .fault(Fault::new("InternalServiceErrorException").operation("DescribeCustomDomains"));
    let open = service(ACCOUNT, "us-east-1", "open").arn();
    let locked = service(ACCOUNT, "us-east-1", "locked").arn();
    let emulator = AppRunnerEmulator::start(scenario);
    let client = no_retry_client(&emulator, "us-east-1");

    let err = client
        .describe_service()
        .service_arn(&locked)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    assert!(err.message().unwrap().contains("AccessDeniedException"));
    let err = err.into_service_error();
    assert!(
        !err.is_resource_not_found_exception()
            && !err.is_invalid_request_exception()
            && !err.is_internal_service_error_exception(),
        "AccessDeniedException is not modelled: {err:?}"
    );
    // Always: a second call fails too; the other service is readable.
    assert!(
        client
            .describe_service()
            .service_arn(&locked)
            .send()
            .await
            .is_err()
    );
    assert!(
        client
            .describe_service()
            .service_arn(&open)
            .send()
            .await
            .is_ok()
    );

    let err = no_retry_client(&emulator, "eu-west-2")
        .list_services()
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));
    assert!(client.list_services().send().await.is_ok());

    let err = client
        .describe_custom_domains()
        .service_arn(&open)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(500));
    assert!(
        err.into_service_error()
            .is_internal_service_error_exception()
    );

    let faults: Vec<_> = emulator
        .calls()
        .into_iter()
        .map(|c| (c.operation, c.region, c.fault))
        .collect();
    let denied = Some("AccessDeniedException".to_string());
    assert_eq!(
        faults,
        vec![
            ("DescribeService".into(), "us-east-1".into(), denied.clone()),
            ("DescribeService".into(), "us-east-1".into(), denied.clone()),
            ("DescribeService".into(), "us-east-1".into(), None),
            ("ListServices".into(), "eu-west-2".into(), denied),
            ("ListServices".into(), "us-east-1".into(), None),
            (
                "DescribeCustomDomains".into(),
                "us-east-1".into(),
                Some("InternalServiceErrorException".into())
            ),
        ]
    );
}

#[tokio::test]
async fn throttling_once_succeeds_after_the_sdk_retry() {
    let scenario = Scenario::with_services([service(ACCOUNT, "us-east-1", "a").build()]).fault(
        Fault::new("ThrottlingException")
            .operation("ListServices")
            .times(1),
    );
    let emulator = AppRunnerEmulator::start(scenario);

    let out = client(&emulator, "us-east-1")
        .list_services()
        .send()
        .await
        .expect("retried");
    assert_eq!(out.service_summary_list().len(), 1);
    let calls = emulator.calls_of("ListServices");
    assert_eq!(calls.len(), 2);
    assert_eq!(calls[0].fault.as_deref(), Some("ThrottlingException"));
    assert_eq!(calls[1].fault, None);

    // The budget is spent: no more throttling, and without retries the code is visible.
    let emulator =
        AppRunnerEmulator::start(Scenario::new().fault(Fault::new("ThrottlingException").times(2)));
    let client = no_retry_client(&emulator, "us-east-1");
    for _ in 0..2 {
        assert_eq!(
            client.list_services().send().await.unwrap_err().code(),
            Some("ThrottlingException")
        );
    }
    assert!(client.list_services().send().await.is_ok());
}

/// One raw HTTP exchange with the emulator: (status, headers+body text).
fn raw(
    emulator: &AppRunnerEmulator,
    target: Option<&str>,
    authorization: Option<&str>,
    body: &str,
) -> (u16, String) {
    let addr = emulator
        .endpoint()
        .trim_start_matches("http://")
        .to_string();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    let mut request = format!(
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(target) = target {
        request += &format!("X-Amz-Target: {target}\r\n");
    }
    if let Some(authorization) = authorization {
        request += &format!("Authorization: {authorization}\r\n");
    }
    request += &format!("Content-Type: application/x-amz-json-1.0\r\n\r\n{body}");
    stream.write_all(request.as_bytes()).unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    (answer[9..12].parse().unwrap(), answer)
}

#[test]
fn raw_protocol_errors() {
    let emulator = AppRunnerEmulator::start(Scenario::new());
    let auth = "AWS4-HMAC-SHA256 Credential=AKIDRAW/20240101/eu-west-3/apprunner/aws4_request, SignedHeaders=host, Signature=00";

    let (status, answer) = raw(&emulator, Some("AppRunner.ListServices"), Some(auth), "{}");
    assert_eq!(status, 200, "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("content-type: application/x-amz-json-1.0")
    );
    assert!(answer.ends_with(r#"{"ServiceSummaryList":[]}"#), "{answer}");

    let (status, answer) = raw(
        &emulator,
        Some("AppRunner.ListConnections"),
        Some(auth),
        "{}",
    );
    assert_eq!(status, 400);
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("x-amzn-errortype: unknownoperationexception"),
        "{answer}"
    );
    assert!(
        answer.contains(r#""__type":"UnknownOperationException""#),
        "{answer}"
    );

    let (status, answer) = raw(&emulator, Some("AppRunner.ListServices"), None, "{}");
    assert_eq!(status, 403, "{answer}");
    let kms_scope = auth.replace("/apprunner/", "/kms/");
    let (status, answer) = raw(
        &emulator,
        Some("AppRunner.ListServices"),
        Some(&kms_scope),
        "{}",
    );
    assert_eq!(status, 403, "{answer}");
    assert!(answer.contains("InvalidSignatureException"));

    let calls = emulator.calls();
    assert_eq!(calls.len(), 4);
    assert_eq!(
        (calls[0].region.as_str(), calls[0].access_key_id.as_str()),
        ("eu-west-3", "AKIDRAW")
    );
    assert_eq!(calls[1].operation, "ListConnections");
    assert_eq!(calls[1].fault.as_deref(), Some("UnknownOperationException"));
    assert_eq!(
        calls[2].fault.as_deref(),
        Some("MissingAuthenticationTokenException")
    );
}

#[test]
fn latency_delays_answers_and_drop_stops_the_server() {
    let emulator = AppRunnerEmulator::start(Scenario::new().latency(Duration::from_millis(300)));
    let auth = "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/apprunner/aws4_request, SignedHeaders=host, Signature=00";
    let started = Instant::now();
    let (status, _) = raw(&emulator, Some("AppRunner.ListServices"), Some(auth), "");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(300));

    let addr = emulator
        .endpoint()
        .trim_start_matches("http://")
        .to_string();
    drop(emulator);
    // The accept thread closes the listener shortly after the emulator is dropped.
    let deadline = Instant::now() + Duration::from_secs(5);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the listener is still open after Drop"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn builder_ids_are_deterministic() {
    let a = service(ACCOUNT, "us-east-1", "svc").build();
    let b = service(ACCOUNT, "us-east-1", "svc").build();
    let other_region = service(ACCOUNT, "us-west-2", "svc").build();
    assert_eq!(a.arn(), b.arn());
    assert_ne!(a.arn(), other_region.arn());
    assert_eq!(a.region(), "us-east-1");
    assert_eq!(a.account(), ACCOUNT);
    assert_eq!(a.name(), "svc");
    let id = a.service["ServiceId"].as_str().unwrap();
    assert!(id.len() == 32 && id.chars().all(|c| c.is_ascii_hexdigit()));
    let similar = service(ACCOUNT, "us-east-1", "svd").build();
    let similar_id = similar.service["ServiceId"].as_str().unwrap();
    assert_ne!(id[..8], similar_id[..8], "similar names, unrelated ids");
    assert_eq!(
        a.arn(),
        format!("arn:aws:apprunner:us-east-1:{ACCOUNT}:service/svc/{id}")
    );
    assert!(a.service.get("EncryptionConfiguration").is_none());
    assert_eq!(
        a.service["SourceConfiguration"]["ImageRepository"]["ImageRepositoryType"],
        "ECR"
    );
    let edited = service(ACCOUNT, "us-east-1", "svc")
        .with(|s| s["Status"] = "DELETE_FAILED".into())
        .build();
    assert_eq!(edited.service["Status"], "DELETE_FAILED");
}

// ---- moto ----

#[test]
fn moto_kms_keys_through_the_sdk() {
    let kms = moto().kms("us-east-1");
    let arn = kms.create_key();
    assert!(
        arn.starts_with(&format!("arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/")),
        "{arn}"
    );

    let meta = kms.describe(&arn);
    assert_eq!(meta.arn(), Some(arn.as_str()));
    assert_eq!(meta.key_id(), moto::key_id(&arn));
    assert_eq!(meta.aws_account_id(), Some(DEFAULT_ACCOUNT));
    assert_eq!(meta.key_state().map(|s| s.as_str()), Some("Enabled"));
    assert!(meta.enabled());
    assert_eq!(meta.origin().map(|o| o.as_str()), Some("AWS_KMS"));
    assert_eq!(meta.key_manager().map(|m| m.as_str()), Some("CUSTOMER"));
    assert_eq!(
        meta.key_spec().map(|s| s.as_str()),
        Some("SYMMETRIC_DEFAULT")
    );
    assert_eq!(
        meta.key_usage(),
        None,
        "moto answers KeyUsage: null for symmetric keys"
    );
    assert!(meta.deletion_date().is_none());

    assert!(!kms.rotation_enabled(&arn));
    kms.enable_rotation(&arn);
    assert!(kms.rotation_enabled(&arn));
    kms.disable_key(&arn);
    assert_eq!(
        kms.describe(&arn).key_state().map(|s| s.as_str()),
        Some("Disabled")
    );
    assert!(
        kms.rotation_enabled(&arn),
        "moto keeps the rotation flag of a disabled key"
    );

    let doomed = kms.create_key();
    kms.schedule_deletion(&doomed);
    let meta = kms.describe(&doomed);
    assert_eq!(
        meta.key_state().map(|s| s.as_str()),
        Some("PendingDeletion")
    );
    assert!(!meta.enabled());
    let days =
        (meta.deletion_date().unwrap().secs() - meta.creation_date().unwrap().secs()) / 86_400;
    assert!((6..=7).contains(&days), "{days}");
    assert!(!kms.rotation_enabled(&doomed));

    let external = kms.create_external_key();
    let meta = kms.describe(&external);
    assert_eq!(meta.origin().map(|o| o.as_str()), Some("EXTERNAL"));
    assert_eq!(
        meta.key_state().map(|s| s.as_str()),
        Some("Enabled"),
        "moto does not model PendingImport"
    );

    // Lookups moto answers in its own way.
    let client = kms.client().clone();
    let unknown =
        format!("arn:aws:kms:us-east-1:{DEFAULT_ACCOUNT}:key/00000000-0000-4000-8000-000000000000");
    let err =
        block_on(async move { client.describe_key().key_id(unknown).send().await }).unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("NotFoundException")
    );
    assert!(err.into_service_error().is_not_found_exception());
    let eu = moto().kms("eu-west-1").client().clone();
    let arn2 = arn.clone();
    let err = block_on(async move { eu.describe_key().key_id(arn2).send().await }).unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("NotFoundException")
    );
    let foreign = arn.replace(DEFAULT_ACCOUNT, "999999999999");
    let meta = kms.describe(&foreign);
    assert_eq!(
        meta.aws_account_id(),
        Some(DEFAULT_ACCOUNT),
        "moto ignores the account of a key ARN"
    );
}

#[test]
fn moto_accounts_from_credentials() {
    let moto = moto();
    assert_eq!(
        moto.caller_account(&moto::Creds::testing()),
        DEFAULT_ACCOUNT
    );
    let creds = moto.account_creds("444455556666");
    assert!(creds.session_token.is_some());
    assert_eq!(moto.caller_account(&creds), "444455556666");
    let key = moto.kms_as("us-east-1", &creds).create_key();
    assert!(key.contains(":444455556666:key/"), "{key}");
    let client = moto.kms("us-east-1").client().clone();
    let err = block_on(async move { client.describe_key().key_id(key).send().await }).unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("NotFoundException")
    );
}

#[test]
fn moto_organizations_on_a_private_server() {
    let moto = moto::Moto::start_private();
    let orgs = moto.organizations();
    let org = orgs.ensure_organization();
    assert!(org.starts_with("o-"));
    assert_eq!(orgs.ensure_organization(), org, "idempotent");
    let prod = orgs.create_account("prod", "prod@example.com");
    let old = orgs.create_account("old", "old@example.com");
    orgs.close_account(&old);
    let accounts = orgs.list_accounts();
    assert_eq!(accounts.len(), 3, "management + 2");
    let status = |id: &str| {
        let a = accounts.iter().find(|a| a.id() == Some(id)).unwrap();
        (
            a.status().map(|s| s.as_str().to_string()),
            a.state().map(|s| s.as_str().to_string()),
        )
    };
    assert_eq!(
        status(DEFAULT_ACCOUNT),
        (Some("ACTIVE".into()), Some("ACTIVE".into()))
    );
    assert_eq!(
        status(&prod),
        (Some("ACTIVE".into()), Some("ACTIVE".into()))
    );
    assert_eq!(
        status(&old),
        (Some("SUSPENDED".into()), Some("SUSPENDED".into()))
    );

    let endpoint = moto.endpoint.clone();
    moto.reset();
    assert!(moto.organizations().list_accounts().is_empty());
    drop(moto);
    let addr = endpoint.trim_start_matches("http://").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "moto still answers after Drop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

// ---- accounts, forwarding to moto, random faults, latency ----

/// An SDK config pointed at the emulator with `creds` (fast retries, `attempts` attempts).
fn emulator_config(
    emulator: &AppRunnerEmulator,
    region: &str,
    creds: &moto::Creds,
    attempts: u32,
) -> aws_config::SdkConfig {
    let retry = if attempts <= 1 {
        RetryConfig::disabled()
    } else {
        RetryConfig::standard()
            .with_max_attempts(attempts)
            .with_initial_backoff(Duration::from_millis(5))
    };
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .endpoint_url(emulator.endpoint())
        .credentials_provider(aws_sdk_kms::config::SharedCredentialsProvider::new(
            Credentials::new(
                &creds.access_key_id,
                &creds.secret_access_key,
                creds.session_token.clone(),
                None,
                "selftest",
            ),
        ))
        .retry_config(retry)
        .build()
}

#[tokio::test]
async fn accounts_resolved_by_moto_see_only_their_own_services() {
    let m = moto();
    let (a, b) = ("210000000001", "210000000002");
    let (creds_a, creds_b) = (m.account_creds(a), m.account_creds(b));
    let scenario = Scenario::new()
        .page_size(1)
        .service(service(a, "us-east-1", "alpha-1").build())
        .service(service(b, "us-east-1", "bravo-1").build())
        .service(service(a, "us-east-1", "alpha-2").build())
        .service(service(b, "eu-west-1", "bravo-eu").build())
        .accounts_from_moto(&m.endpoint)
        .fault(
            Fault::new("AccessDeniedException")
                .account(b)
                .operation("DescribeCustomDomains"),
        );
    let emulator = AppRunnerEmulator::start(scenario);
    let client_a =
        aws_sdk_apprunner::Client::new(&emulator_config(&emulator, "us-east-1", &creds_a, 1));
    let client_b =
        aws_sdk_apprunner::Client::new(&emulator_config(&emulator, "us-east-1", &creds_b, 1));

    let (listed, pages) = list_all(&client_a, None).await;
    assert_eq!(
        listed,
        ["alpha-1", "alpha-2"],
        "page_size 1: two pages of account A only"
    );
    assert_eq!(pages, 2);
    assert_eq!(list_all(&client_b, None).await.0, ["bravo-1"]);
    let (listed, _) = list_all(
        &aws_sdk_apprunner::Client::new(&emulator_config(
            &emulator,
            "us-east-1",
            &moto::Creds::testing(),
            1,
        )),
        None,
    )
    .await;
    assert!(listed.is_empty(), "123456789012 owns nothing: {listed:?}");

    // Another account's service does not exist for the caller.
    let bravo = service(b, "us-east-1", "bravo-1").arn();
    let err = client_a
        .describe_service()
        .service_arn(&bravo)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("ResourceNotFoundException"));
    assert!(
        client_b
            .describe_service()
            .service_arn(&bravo)
            .send()
            .await
            .is_ok()
    );
    let alpha = service(a, "us-east-1", "alpha-1").arn();
    assert!(
        client_a
            .describe_custom_domains()
            .service_arn(&alpha)
            .send()
            .await
            .is_ok()
    );
    // Faults by account.
    let err = client_b
        .describe_custom_domains()
        .service_arn(&bravo)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.code(), Some("AccessDeniedException"));

    let calls = emulator.calls();
    let accounts: Vec<&str> = calls.iter().map(|c| c.account.as_str()).collect();
    assert_eq!(
        accounts,
        [a, a, b, DEFAULT_ACCOUNT, a, b, a, b],
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| c.service == "apprunner" && !c.forwarded)
    );
    assert_eq!(calls[0].access_key_id, creds_a.access_key_id);
    assert_eq!(calls[7].fault.as_deref(), Some("AccessDeniedException"));
    assert!(calls[7].injected);
    assert_eq!(calls[4].fault.as_deref(), Some("ResourceNotFoundException"));
    assert!(!calls[4].injected);
    assert_eq!(
        emulator.injected_faults().get("AccessDeniedException"),
        Some(&1)
    );
    assert_eq!(emulator.throttled(), 0);

    // A fixed map needs no moto; an unknown key is refused.
    let emulator = AppRunnerEmulator::start(
        Scenario::new()
            .service(service(a, "us-east-1", "alpha-1").build())
            .account_of_key("AKIDSELFTEST", a),
    );
    assert_eq!(
        list_all(&client(&emulator, "us-east-1"), None).await.0,
        ["alpha-1"]
    );
    let stranger = aws_sdk_apprunner::Client::new(&emulator_config(
        &emulator,
        "us-east-1",
        &moto::Creds::testing(),
        1,
    ));
    let err = stranger.list_services().send().await.unwrap_err();
    assert_eq!(err.code(), Some("UnrecognizedClientException"));
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(403));
}

#[tokio::test]
async fn kms_calls_are_forwarded_to_moto_and_counted() {
    let m = moto();
    let emulator = AppRunnerEmulator::start(
        Scenario::new()
            .forward_to(&m.endpoint)
            .accounts_from_moto(&m.endpoint),
    );
    let kms = aws_sdk_kms::Client::new(&emulator_config(
        &emulator,
        "eu-west-3",
        &moto::Creds::testing(),
        1,
    ));
    let created = kms
        .create_key()
        .description("through the emulator")
        .send()
        .await
        .expect("CreateKey through the emulator");
    let arn = created.key_metadata().unwrap().arn().unwrap().to_string();
    assert!(
        arn.starts_with(&format!("arn:aws:kms:eu-west-3:{DEFAULT_ACCOUNT}:key/")),
        "{arn}"
    );
    let described = kms
        .describe_key()
        .key_id(&arn)
        .send()
        .await
        .expect("DescribeKey");
    let meta = described.key_metadata().unwrap();
    assert_eq!(meta.arn(), Some(arn.as_str()));
    assert_eq!(meta.description(), Some("through the emulator"));
    assert_eq!(meta.key_state().map(|s| s.as_str()), Some("Enabled"));
    // The key lives in moto: visible there directly.
    let direct = m.kms("eu-west-3").describe(&arn);
    assert_eq!(direct.key_id(), moto::key_id(&arn));
    // moto's errors come back as they are.
    let missing =
        format!("arn:aws:kms:eu-west-3:{DEFAULT_ACCOUNT}:key/00000000-0000-4000-8000-000000000000");
    let err = kms
        .describe_key()
        .key_id(&missing)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("NotFoundException")
    );
    assert!(err.into_service_error().is_not_found_exception());
    // App Runner still answers next to the proxy.
    let apprunner = aws_sdk_apprunner::Client::new(&emulator_config(
        &emulator,
        "eu-west-3",
        &moto::Creds::testing(),
        1,
    ));
    assert!(apprunner.list_services().send().await.is_ok());

    let counts = emulator.call_counts();
    let count = |s: &str, o: &str| counts.get(&(s.to_string(), o.to_string())).copied();
    assert_eq!(count("kms", "CreateKey"), Some(1));
    assert_eq!(count("kms", "DescribeKey"), Some(2));
    assert_eq!(count("apprunner", "ListServices"), Some(1));
    assert_eq!(counts.len(), 3, "{counts:?}");
    let calls = emulator.calls_of("DescribeKey");
    assert!(calls.iter().all(|c| c.forwarded && c.region == "eu-west-3"));
    assert!(
        calls
            .iter()
            .all(|c| c.account == DEFAULT_ACCOUNT && !c.injected)
    );
    assert_eq!(calls[0].resource.as_deref(), Some(arn.as_str()));
    assert_eq!(calls[0].fault, None);
    assert_eq!(calls[1].fault.as_deref(), Some("NotFoundException"));
    assert_ne!(calls[0].request_digest, calls[1].request_digest);

    // Faults reach forwarded calls, in the JSON error form; the SDK retries a throttle.
    let emulator = AppRunnerEmulator::start(
        Scenario::new()
            .forward_to(&m.endpoint)
            .fault(
                Fault::new("ThrottlingException")
                    .service("kms")
                    .operation("DescribeKey")
                    .times(1),
            )
            .fault(Fault::new("AccessDeniedException").operation("GetKeyRotationStatus")),
    );
    let kms = aws_sdk_kms::Client::new(&emulator_config(
        &emulator,
        "eu-west-3",
        &moto::Creds::testing(),
        3,
    ));
    assert!(
        kms.describe_key().key_id(&arn).send().await.is_ok(),
        "retried"
    );
    let err = kms
        .get_key_rotation_status()
        .key_id(&arn)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        aws_sdk_kms::error::ProvideErrorMetadata::code(&err),
        Some("AccessDeniedException")
    );
    let calls = emulator.calls();
    let seen: Vec<_> = calls
        .iter()
        .map(|c| (c.operation.as_str(), c.fault.as_deref(), c.injected))
        .collect();
    assert_eq!(
        seen,
        [
            ("DescribeKey", Some("ThrottlingException"), true),
            ("DescribeKey", None, false),
            ("GetKeyRotationStatus", Some("AccessDeniedException"), true),
        ]
    );
    assert_eq!(
        calls[0].request_digest, calls[1].request_digest,
        "a retry is the same request"
    );
    assert_eq!(calls[0].account, "", "no resolver: no account");
    assert_eq!(emulator.throttled(), 1);
}

#[tokio::test]
async fn sts_and_organizations_go_through_the_proxy() {
    let m = moto();
    let emulator = AppRunnerEmulator::start(
        Scenario::new()
            .forward_to(&m.endpoint)
            .accounts_from_moto(&m.endpoint)
            .fault(
                Fault::new("ThrottlingException")
                    .service("sts")
                    .operation("GetCallerIdentity")
                    .times(1),
            )
            .fault(
                Fault::new("TooManyRequestsException")
                    .service("organizations")
                    .times(1),
            ),
    );
    let config = emulator_config(&emulator, "us-east-1", &moto::Creds::testing(), 1);
    let sts = aws_sdk_sts::Client::new(&config);
    // The first GetCallerIdentity is throttled in STS's XML error form.
    let err = sts.get_caller_identity().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::code(&err),
        Some("Throttling")
    );
    assert_eq!(
        aws_sdk_sts::error::ProvideErrorMetadata::message(&err),
        Some("Rate exceeded")
    );
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let me = sts
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert_eq!(me.account(), Some(DEFAULT_ACCOUNT));

    let role = "arn:aws:iam::210000000003:role/OrganizationAccountAccessRole";
    let assumed = sts
        .assume_role()
        .role_arn(role)
        .role_session_name("selftest")
        .send()
        .await
        .expect("AssumeRole through the emulator");
    let c = assumed.credentials().unwrap();
    let creds = moto::Creds {
        access_key_id: c.access_key_id().to_string(),
        secret_access_key: c.secret_access_key().to_string(),
        session_token: Some(c.session_token().to_string()),
    };
    let them = aws_sdk_sts::Client::new(&emulator_config(&emulator, "us-east-1", &creds, 1))
        .get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity as the role");
    assert_eq!(them.account(), Some("210000000003"));

    let orgs = aws_sdk_organizations::Client::new(&config);
    let err = orgs.list_accounts().send().await.unwrap_err();
    assert_eq!(
        aws_sdk_organizations::error::ProvideErrorMetadata::code(&err),
        Some("TooManyRequestsException")
    );
    assert!(
        err.into_service_error().is_too_many_requests_exception(),
        "the JSON error form is modelled"
    );
    assert!(orgs.list_accounts().send().await.is_ok());

    let calls = emulator.calls();
    let seen: Vec<_> = calls
        .iter()
        .map(|c| {
            (
                c.service.as_str(),
                c.operation.as_str(),
                c.account.as_str(),
                c.fault.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            (
                "sts",
                "GetCallerIdentity",
                DEFAULT_ACCOUNT,
                Some("Throttling")
            ),
            ("sts", "GetCallerIdentity", DEFAULT_ACCOUNT, None),
            ("sts", "AssumeRole", DEFAULT_ACCOUNT, None),
            ("sts", "GetCallerIdentity", "210000000003", None),
            (
                "organizations",
                "ListAccounts",
                DEFAULT_ACCOUNT,
                Some("TooManyRequestsException")
            ),
            ("organizations", "ListAccounts", DEFAULT_ACCOUNT, None),
        ]
    );
    assert_eq!(calls[2].resource.as_deref(), Some(role));
    assert!(calls.iter().all(|c| c.forwarded));
    assert_eq!(emulator.throttled(), 2);

    // The raw awsQuery request of the brief works too.
    let addr = emulator
        .endpoint()
        .trim_start_matches("http://")
        .to_string();
    let body = "Action=GetCallerIdentity&Version=2011-06-15";
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDRAW/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        answer.contains(&format!("<Account>{DEFAULT_ACCOUNT}</Account>")),
        "{answer}"
    );
}

#[tokio::test]
async fn probabilistic_faults_hit_about_the_right_fraction_repeatably() {
    async fn pattern(seed: Option<u64>) -> (Vec<bool>, usize) {
        let mut scenario = Scenario::new().fault(
            Fault::new("ThrottlingException")
                .operation("ListServices")
                .probability(0.10),
        );
        if let Some(seed) = seed {
            scenario = scenario.seed(seed);
        }
        let emulator = AppRunnerEmulator::start(scenario);
        let client = no_retry_client(&emulator, "us-east-1");
        let mut throttled = Vec::new();
        for _ in 0..200 {
            let result = client.list_services().send().await;
            if let Err(e) = &result {
                assert_eq!(e.code(), Some("ThrottlingException"));
            }
            throttled.push(result.is_err());
        }
        // Another operation is never faulted.
        let other = client
            .describe_service()
            .service_arn("arn:aws:apprunner:us-east-1:1:service/x/y");
        assert_eq!(
            other.send().await.unwrap_err().code(),
            Some("ResourceNotFoundException")
        );
        (throttled, emulator.throttled())
    }
    let (first, counted) = pattern(None).await;
    let hits = first.iter().filter(|t| **t).count();
    assert_eq!(hits, counted);
    // Binomial(200, 0.10): mean 20, standard deviation 4.2.
    assert!((8..=34).contains(&hits), "{hits} of 200 throttled");
    let (again, _) = pattern(None).await;
    assert_eq!(first, again, "same seed, same faults");
    let (other, _) = pattern(Some(42)).await;
    assert_ne!(first, other, "another seed, other faults");
    let other_hits = other.iter().filter(|t| **t).count();
    assert!(
        (8..=34).contains(&other_hits),
        "{other_hits} of 200 throttled"
    );
}

#[tokio::test]
async fn latency_applies_to_forwarded_calls_and_requests_overlap() {
    let m = moto();
    let latency = Duration::from_millis(300);
    let emulator = AppRunnerEmulator::start(
        Scenario::new()
            .forward_to(&m.endpoint)
            .latency(latency)
            .workers(32),
    );
    let config = emulator_config(&emulator, "us-east-1", &moto::Creds::testing(), 1);
    let sts = aws_sdk_sts::Client::new(&config);
    let kms = aws_sdk_kms::Client::new(&config);
    let started = Instant::now();
    sts.get_caller_identity()
        .send()
        .await
        .expect("GetCallerIdentity");
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());
    let started = Instant::now();
    kms.list_keys().send().await.expect("ListKeys");
    assert!(started.elapsed() >= latency, "{:?}", started.elapsed());

    // 24 App Runner and 8 KMS calls at once: the sleeps overlap (serialized: 9.6 s).
    let apprunner = aws_sdk_apprunner::Client::new(&config);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..32 {
        let (apprunner, kms) = (apprunner.clone(), kms.clone());
        tasks.spawn(async move {
            if i % 4 == 0 {
                kms.list_keys()
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            } else {
                apprunner
                    .list_services()
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("{e:?}"))
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let elapsed = started.elapsed();
    assert!(elapsed >= latency, "{elapsed:?}");
    assert!(
        elapsed < Duration::from_secs(3),
        "requests were serialized: {elapsed:?}"
    );
    let counts = emulator.call_counts();
    assert_eq!(counts[&("kms".to_string(), "ListKeys".to_string())], 9);
    assert_eq!(
        counts[&("apprunner".to_string(), "ListServices".to_string())],
        24
    );
    assert_eq!(
        counts[&("sts".to_string(), "GetCallerIdentity".to_string())],
        1
    );
}

/// With the response-time model, a call takes the latency whatever the emulator and moto spent
/// on it (when that is less); with the default model the latency comes on top of their work.
#[tokio::test]
async fn response_time_latency_includes_the_work_and_added_latency_does_not() {
    let m = moto();
    let latency = Duration::from_millis(200);
    for (model, exact) in [
        (LatencyModel::ResponseTime, true),
        (LatencyModel::Added, false),
    ] {
        let emulator = AppRunnerEmulator::start(
            Scenario::new()
                .service(service(DEFAULT_ACCOUNT, "us-east-1", "web"))
                .forward_to(&m.endpoint)
                .latency(latency)
                .latency_model(model),
        );
        let config = emulator_config(&emulator, "us-east-1", &moto::Creds::testing(), 1);
        let kms = aws_sdk_kms::Client::new(&config);
        let apprunner = aws_sdk_apprunner::Client::new(&config);
        for _ in 0..3 {
            let started = Instant::now();
            kms.list_keys().send().await.expect("ListKeys");
            apprunner
                .list_services()
                .send()
                .await
                .expect("ListServices");
            assert!(started.elapsed() >= 2 * latency, "{:?}", started.elapsed());
        }
        let calls = emulator.calls();
        assert_eq!(calls.len(), 6);
        for call in &calls {
            if exact {
                assert_eq!(call.took, latency, "{model:?} {}", call.operation);
            } else {
                assert!(call.took > latency, "{model:?} {}", call.operation);
            }
        }
    }
}
