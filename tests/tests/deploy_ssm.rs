//! The SSM Command document `packaging/ssm/vestige-collect.yaml`: its structure, its
//! allowedPatterns against hostile values, and its shell step run the way the SSM agent runs
//! it (SSM_* variables, orchestration directory, timeout, exit code).

mod deploy_support;

use deploy_support::{
    full_match, repo_root, run_ssm_document, show, write_executable, yaml_file, Moto, SsmRun,
};
use std::collections::BTreeMap;
use std::path::Path;

const DOC: &str = "packaging/ssm/vestige-collect.yaml";
const PARAMETERS: [&str; 12] = [
    "Bucket",
    "Prefix",
    "CaseId",
    "Profile",
    "RetentionDays",
    "KmsKeyId",
    "EncryptTo",
    "SigningKey",
    "SigningKeyParameter",
    "AgentS3Uri",
    "AgentSha256",
    "ExecutionTimeout",
];
const RECIPIENT_1: &str = "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p";
const RECIPIENT_2: &str = "age1qkn97fk8uj2f6p7z2nqtl6asz20qmkpww39tmsyxk530u3q6cvrsfhuqdl";
/// A PKCS#8 Ed25519 key as `openssl genpkey -algorithm ed25519` writes it (test-only).
const TEST_KEY_PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJXuVS7joHY/tbgGWnqyjy1PD3wS50t4yR/gNEQbWHDc\n-----END PRIVATE KEY-----\n";
/// Its public key, base64 of the raw 32 bytes.
const TEST_KEY_PUBLIC: &str = "zsDSLw2+uR6MklA8jJ5qDdel/xEBN4WK7UUBM1mgOCg=";
const AGENT_URL: &str = "https://evidence-tools.s3.us-east-1.amazonaws.com/vestige/0.1.0/vestige";

fn params(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn shell_lines(doc: &serde_json::Value) -> Vec<String> {
    doc["mainSteps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["action"] == "aws:runShellScript")
        .flat_map(|s| {
            s["inputs"]["runCommand"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l.as_str().unwrap().to_owned())
        })
        .collect()
}

/// A stand-in agent that records that it ran and echoes its arguments as the summary line.
fn fake_agent(dir: &Path, name: &str, exit_code: i32) -> std::path::PathBuf {
    let path = dir.join(name);
    let marker = dir.join(format!("{name}.ran"));
    write_executable(
        &path,
        &format!(
            "#!/bin/sh\necho \"$@\" > '{}'\nprintf 'progress on stdout\\n'\npython3 -c 'import json,os,sys; print(json.dumps({{\"argv\": sys.argv[1:], \"agent\": \"{name}\", \"signing_key\": os.environ.get(\"VESTIGE_SIGNING_KEY\"), \"command_id\": os.environ.get(\"VESTIGE_SSM_COMMAND_ID\")}}))' \"$@\"\nexit {exit_code}\n",
            marker.display()
        ),
    );
    path
}

fn sha256_file(p: &Path) -> String {
    e2e::sha256_hex(&std::fs::read(p).unwrap())
}

/// [security] The SSM collect document declares every parameter with an allowed pattern, passes
/// them as environment variables, never pastes one into shell text, and its step parses as sh and
/// bash.
#[test]
fn ssm_document_declares_every_parameter_with_a_pattern_and_env_var_interpolation() {
    let doc = yaml_file(DOC);
    assert_eq!(doc["schemaVersion"], "2.2");
    let defs = doc["parameters"].as_object().unwrap();
    let mut names: Vec<&str> = defs.keys().map(String::as_str).collect();
    names.sort_unstable();
    let mut want = PARAMETERS.to_vec();
    want.sort_unstable();
    assert_eq!(names, want);
    for (name, def) in defs {
        assert_eq!(def["type"], "String", "{name}");
        let pattern = def["allowedPattern"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no allowedPattern"));
        if let Some(default) = def.get("default") {
            assert!(
                full_match(pattern, default.as_str().unwrap()),
                "{name}: default {default} fails {pattern}"
            );
        }
    }
    let steps = doc["mainSteps"].as_array().unwrap();
    let shell: Vec<_> = steps
        .iter()
        .filter(|s| s["action"] == "aws:runShellScript")
        .collect();
    assert_eq!(shell.len(), 1);
    assert_eq!(shell[0]["inputs"]["interpolationType"], "ENV_VAR");
    assert_eq!(
        shell[0]["inputs"]["timeoutSeconds"],
        "{{ ExecutionTimeout }}"
    );
    // No parameter is pasted into shell text.
    for line in shell_lines(&doc) {
        assert!(
            !line.contains("{{"),
            "parameter interpolated into shell text: {line}"
        );
    }
    let script = shell_lines(&doc).join("\n");
    for name in PARAMETERS {
        assert!(
            script.contains(&format!("SSM_{name}")),
            "shell step never reads SSM_{name}"
        );
    }
    assert!(
        script.contains("/opt/vestige/bin/vestige"),
        "golden-AMI path"
    );
    // The download is fetched by the agent, not by shell text, and is not critical.
    let dl = steps
        .iter()
        .find(|s| s["action"] == "aws:downloadContent")
        .expect("aws:downloadContent step");
    assert_eq!(dl["isCritical"], false);
    assert_eq!(dl["inputs"]["sourceType"], "S3");
    assert!(dl["inputs"]["sourceInfo"]
        .as_str()
        .unwrap()
        .contains("{{ AgentS3Uri }}"));
    // The step must parse as POSIX sh (dash) and bash.
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("_script.sh");
    std::fs::write(&file, &script).unwrap();
    for sh in ["dash", "bash"] {
        if let Some(shell) = deploy_support::tool(sh) {
            let out = std::process::Command::new(shell)
                .arg("-n")
                .arg(&file)
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{sh} -n: {}",
                deploy_support::show(&out)
            );
        }
    }
}

/// [security] Each SSM parameter's allowed pattern accepts real values and rejects shell
/// metacharacters and wrong values.
#[test]
fn ssm_allowed_patterns_accept_real_values_and_reject_shell_metacharacters() {
    let doc = yaml_file(DOC);
    let good: &[(&str, &[&str])] = &[
        (
            "Bucket",
            &["evidence-123456789012-us-east-1", "vestige.evidence"],
        ),
        (
            "Prefix",
            &[
                "evidence",
                "evidence/AROAEXAMPLEID:i-0123456789abcdef0",
                "ir/2026/case=7",
            ],
        ),
        (
            "CaseId",
            &[
                "IR-2026-0042",
                "6eb0a2f1c0d34c1b9a1f0e2d3c4b5a69",
                "case_7.b",
            ],
        ),
        ("Profile", &["triage", "minimal"]),
        ("RetentionDays", &["0", "1", "365", "3650"]),
        (
            "KmsKeyId",
            &[
                "",
                "alias/vestige-evidence",
                "1234abcd-12ab-34cd-56ef-1234567890ab",
                "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
            ],
        ),
        (
            "AgentS3Uri",
            &[
                "",
                AGENT_URL,
                "https://s3.amazonaws.com/evidence-tools/vestige",
            ],
        ),
        (
            "AgentSha256",
            &[
                "",
                "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            ],
        ),
        ("ExecutionTimeout", &["30", "90", "600", "3600", "86400"]),
        (
            "EncryptTo",
            &["", RECIPIENT_1, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p age1qkn97fk8uj2f6p7z2nqtl6asz20qmkpww39tmsyxk530u3q6cvrsfhuqdl"],
        ),
        (
            "SigningKey",
            &[
                "",
                "{{ssm-secure:/vestige/signing-key}}",
                "{{ ssm-secure:vestige-signing-key:3 }}",
                TEST_KEY_PEM,
                "MC4CAQAwBQYDK2VwBCIEIJXuVS7joHY/tbgGWnqyjy1PD3wS50t4yR/gNEQbWHDc",
            ],
        ),
        (
            "SigningKeyParameter",
            &["", "/vestige/signing-key", "vestige-signing-key", "/ir/team_a/key.v2"],
        ),
    ];
    let hostile = [
        "a;id",
        "a && id",
        "a|id",
        "$(id)",
        "`id`",
        "${IFS}",
        "a b",
        "a\nid",
        "a\n",
        "'",
        "\"",
        "a>b",
        "a<b",
        "a\\b",
        "*",
        "?",
        "~root",
        "#",
        "a\0b",
        "--spec=/etc/shadow",
    ];
    for (name, values) in good {
        let pattern = doc["parameters"][name]["allowedPattern"].as_str().unwrap();
        for v in *values {
            assert!(
                full_match(pattern, v),
                "{name}: {v:?} should pass {pattern}"
            );
        }
    }
    for name in PARAMETERS {
        let pattern = doc["parameters"][name]["allowedPattern"].as_str().unwrap();
        for v in hostile {
            assert!(
                !full_match(pattern, v),
                "{name}: hostile {v:?} passes {pattern}"
            );
        }
    }
    // Values that are syntactically fine shell but wrong for the parameter.
    for (name, bad) in [
        ("Bucket", "Evidence_Bucket"),
        ("Prefix", "../other-instance"),
        ("Prefix", "/absolute"),
        ("CaseId", "-rf"),
        ("Profile", "/etc/vestige/spec.yaml"),
        ("RetentionDays", "007"),
        ("AgentS3Uri", "http://evil.example/vestige"),
        (
            "AgentSha256",
            "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855",
        ),
        ("ExecutionTimeout", "5"),
        ("ExecutionTimeout", "10"),
        ("ExecutionTimeout", "29"),
        ("ExecutionTimeout", "030"),
        ("ExecutionTimeout", "86401"),
        (
            "EncryptTo",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p,",
        ),
        (
            "EncryptTo",
            "AGE1QL3Z7HJY54PW3HYWW5AYYFG7ZQGVC7W3J2ELW8ZMRJ2KG5SFN9AQMCAC8P",
        ),
        ("EncryptTo", "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB"),
        ("SigningKey", "{{ssm:/vestige/plain-parameter}}"),
        ("SigningKey", "-----BEGIN RSA PRIVATE KEY-----"),
        ("SigningKeyParameter", "-rf"),
        ("SigningKeyParameter", "/vestige//key"),
    ] {
        let pattern = doc["parameters"][name]["allowedPattern"].as_str().unwrap();
        assert!(
            !full_match(pattern, bad),
            "{name}: {bad:?} passes {pattern}"
        );
    }
}

/// [security] A parameter carrying shell metacharacters is rejected by its allowed pattern and the
/// agent never runs.
#[test]
fn ssm_parameter_with_shell_metacharacters_is_rejected_and_nothing_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = fake_agent(tmp.path(), "golden", 0);
    for (name, value) in [
        ("CaseId", "x; touch /tmp/pwned"),
        ("Prefix", "evidence$(id)"),
        ("Bucket", "bucket`id`"),
        ("KmsKeyId", "alias/x && reboot"),
        (
            "EncryptTo",
            "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p;id",
        ),
        ("SigningKey", "$(cat /etc/shadow)"),
    ] {
        let run = SsmRun {
            params: params(&[("Bucket", "evidence-test"), (name, value)]),
            golden_binary: Some(golden.clone()),
            ..Default::default()
        };
        let err = run_ssm_document(DOC, &run).expect_err("hostile value must be rejected");
        assert!(
            err.contains(name) && err.contains("allowedPattern"),
            "{err}"
        );
    }
    assert!(
        !tmp.path().join("golden.ran").exists(),
        "the agent ran although every request was rejected"
    );
}

/// [security] A downloaded agent whose SHA-256 differs, or comes with no hash, is refused (exit 3,
/// naming the actual hash) and never runs; the right hash runs it.
#[test]
fn ssm_refuses_a_downloaded_agent_whose_sha256_differs() {
    let tmp = tempfile::tempdir().unwrap();
    let agent = fake_agent(tmp.path(), "downloaded", 0);
    let wrong = "0".repeat(64);
    let run = SsmRun {
        params: params(&[
            ("Bucket", "evidence-test"),
            ("AgentS3Uri", AGENT_URL),
            ("AgentSha256", &wrong),
        ]),
        download_source: Some(agent.clone()),
        ..Default::default()
    };
    let r = run_ssm_document(DOC, &run).unwrap();
    assert!(r.downloaded);
    assert_eq!(r.exit_code, Some(3), "{r:?}");
    assert_eq!(r.status, "Failed");
    let s = r.summary();
    assert!(
        s["error"].as_str().unwrap().contains("refusing to run"),
        "{s}"
    );
    assert!(
        s["error"].as_str().unwrap().contains(&sha256_file(&agent)),
        "names the actual hash: {s}"
    );
    assert!(
        !tmp.path().join("downloaded.ran").exists(),
        "a binary with the wrong hash ran"
    );

    // No hash at all is refused too.
    let run = SsmRun {
        params: params(&[("Bucket", "evidence-test"), ("AgentS3Uri", AGENT_URL)]),
        download_source: Some(agent.clone()),
        ..Default::default()
    };
    let r = run_ssm_document(DOC, &run).unwrap();
    assert_eq!(r.exit_code, Some(3), "{r:?}");
    assert!(!tmp.path().join("downloaded.ran").exists());

    // Control: the right hash runs it.
    let run = SsmRun {
        params: params(&[
            ("Bucket", "evidence-test"),
            ("AgentS3Uri", AGENT_URL),
            ("AgentSha256", &sha256_file(&agent)),
        ]),
        download_source: Some(agent),
        ..Default::default()
    };
    let r = run_ssm_document(DOC, &run).unwrap();
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    assert_eq!(r.summary()["agent"], "downloaded");
}

/// The SSM document prefers the installed binary, passes the parameters as vestige arguments, the
/// signing key only in the environment, and vestige's exit code through; with no agent it refuses
/// with exit 3.
#[test]
fn ssm_uses_the_golden_binary_and_passes_arguments_output_and_exit_code_through() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = fake_agent(tmp.path(), "golden", 1);
    let other = fake_agent(tmp.path(), "downloaded", 0);
    let run = SsmRun {
        params: params(&[
            ("Bucket", "evidence-test"),
            ("Prefix", "evidence"),
            ("CaseId", "IR-7"),
            ("Profile", "minimal"),
            ("KmsKeyId", "alias/vestige-evidence"),
            ("RetentionDays", "30"),
            ("ExecutionTimeout", "90"),
            ("AgentS3Uri", AGENT_URL),
            ("AgentSha256", &sha256_file(&other)),
            ("EncryptTo", &format!("{RECIPIENT_1} {RECIPIENT_2}")),
            ("SigningKey", TEST_KEY_PEM),
        ]),
        golden_binary: Some(golden),
        download_source: Some(other),
        ..Default::default()
    };
    let r = run_ssm_document(DOC, &run).unwrap();
    assert_eq!(
        r.exit_code,
        Some(1),
        "vestige's exit code passes through: {r:?}"
    );
    assert_eq!(r.status, "Failed");
    let s = r.summary();
    assert_eq!(
        s["agent"], "golden",
        "the installed binary wins over the download"
    );
    assert!(!tmp.path().join("downloaded.ran").exists());
    let argv: Vec<&str> = s["argv"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let joined = argv.join(" ");
    assert!(argv.first() == Some(&"collect"), "{joined}");
    for want in [
        "--s3 s3://evidence-test/evidence/IR-7 --s3-caller-prefix",
        "--spec minimal",
        "--deadline 75s",
        "--retention-days 30",
        "--sse aws:kms --sse-kms-key-id alias/vestige-evidence",
        "--fallback-out /var/lib/vestige/fallback",
        &format!("--encrypt-to {RECIPIENT_1} --encrypt-to {RECIPIENT_2}"),
    ] {
        assert!(joined.contains(want), "missing `{want}` in {joined}");
    }
    // The signing key reaches vestige through its environment only, never its arguments.
    assert_eq!(s["signing_key"], TEST_KEY_PEM, "{s}");
    assert!(!joined.contains("PRIVATE KEY"), "{joined}");
    // The command id comes from the orchestration directory.
    assert_eq!(s["command_id"], "0d2f-command-id", "{s}");

    // Neither installed nor downloadable: a clear refusal, exit 3.
    let r = run_ssm_document(
        DOC,
        &SsmRun {
            params: params(&[("Bucket", "evidence-test")]),
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(r.exit_code, Some(3), "{r:?}");
    assert!(r.summary()["error"]
        .as_str()
        .unwrap()
        .contains("not installed"));
}

fn good_run(golden: bool) {
    let Some(moto) = Moto::start() else { return };
    moto.create_locked_bucket("evidence-test");
    let bin = e2e::vestige_bin();
    let mut run = SsmRun {
        params: params(&[
            ("Bucket", "evidence-test"),
            ("Prefix", "evidence"),
            ("CaseId", "IR-1"),
            ("Profile", "minimal"),
            ("ExecutionTimeout", "120"),
            ("SigningKey", TEST_KEY_PEM),
        ]),
        env: moto.env(),
        ..Default::default()
    };
    if golden {
        run.golden_binary = Some(bin.clone());
    } else {
        run.params.insert("AgentS3Uri".into(), AGENT_URL.into());
        run.params.insert("AgentSha256".into(), sha256_file(&bin));
        run.download_source = Some(bin.clone());
    }
    let r = run_ssm_document(DOC, &run).unwrap();
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    let s = r.summary();
    let location = s["location"].as_str().unwrap();
    // PREFIX/CASE/<caller user id>/<host>/<collection>
    let below_case = location
        .strip_prefix("s3://evidence-test/evidence/IR-1/")
        .unwrap_or_else(|| panic!("{s}"));
    assert_eq!(below_case.split('/').count(), 3, "{s}");
    assert!(r.stdout.lines().last().unwrap().len() <= 2500);
    let keys = moto.keys("evidence-test");
    assert!(
        keys.iter().any(|k| k.ends_with("/manifest.json")),
        "{keys:?}"
    );
    // Signed with the team's key from the SecureString; the command id is recorded.
    assert_eq!(s["signing_key"], "provided", "{s}");
    assert_eq!(s["signing_public_key"], TEST_KEY_PUBLIC, "{s}");
    let out = std::process::Command::new(&bin)
        .args([
            "verify",
            location,
            "--manifest-sha256",
            s["manifest_sha256"].as_str().unwrap(),
            "--public-key",
            TEST_KEY_PUBLIC,
        ])
        .envs(moto.env())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", deploy_support::show(&out));
}

/// The SSM document downloads the agent, checks its hash and runs it: the collection lands in S3
/// (moto) under the case and caller, signed with the given key, and verifies.
///
/// Needs the S3 sink (`--s3`).
#[test]
fn ssm_good_run_with_downloaded_agent_lands_a_verifiable_collection_in_s3() {
    good_run(false);
}

/// The SSM document runs the installed binary: the collection lands in S3 (moto) under the case and
/// caller, signed with the given key, and verifies.
///
/// Needs the S3 sink (`--s3`).
#[test]
fn ssm_good_run_with_golden_binary_lands_a_verifiable_collection_in_s3() {
    good_run(true);
}

/// [security] The signing key is read from a SecureString parameter into the environment only; an
/// unreadable parameter, or both ways at once, is refused before vestige runs.
#[test]
fn ssm_reads_the_signing_key_from_a_secure_string_parameter() {
    let tmp = tempfile::tempdir().unwrap();
    let golden = fake_agent(tmp.path(), "golden", 0);
    // A stand-in AWS CLI: answers only the exact GetParameter call the document makes.
    let bin = tmp.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    write_executable(
        &bin.join("aws"),
        &format!(
            "#!/bin/sh\n[ \"$*\" = 'ssm get-parameter --with-decryption --query Parameter.Value --output text --name /vestige/signing-key' ] || exit 254\n[ \"$AWS_DEFAULT_REGION\" = eu-west-3 ] || exit 253\ncat <<'KEY'\n{TEST_KEY_PEM}KEY\n"
        ),
    );
    let env = vec![
        (
            "PATH".to_owned(),
            format!("{}:/usr/local/bin:/usr/bin:/bin", bin.display()),
        ),
        ("AWS_SSM_REGION_NAME".to_owned(), "eu-west-3".to_owned()),
    ];
    let run = |extra: &[(&str, &str)]| {
        let mut p = params(&[("Bucket", "evidence-test")]);
        for (k, v) in extra {
            p.insert((*k).to_owned(), (*v).to_owned());
        }
        run_ssm_document(
            DOC,
            &SsmRun {
                params: p,
                golden_binary: Some(golden.clone()),
                env: env.clone(),
                ..Default::default()
            },
        )
        .unwrap()
    };
    let r = run(&[("SigningKeyParameter", "/vestige/signing-key")]);
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    let s = r.summary();
    assert_eq!(s["signing_key"], TEST_KEY_PEM.trim_end(), "{s}");
    assert!(!s["argv"].to_string().contains("PRIVATE KEY"), "{s}");
    // A parameter the instance cannot read: refused before vestige runs.
    let r = run(&[("SigningKeyParameter", "/vestige/other")]);
    assert_eq!(r.exit_code, Some(3), "{r:?}");
    assert!(r.summary()["error"]
        .as_str()
        .unwrap()
        .contains("cannot read the SecureString /vestige/other"));
    // Both ways at once: refused.
    let r = run(&[
        ("SigningKeyParameter", "/vestige/signing-key"),
        ("SigningKey", TEST_KEY_PEM),
    ]);
    assert_eq!(r.exit_code, Some(3), "{r:?}");
}

/// The first ```sh block after `marker` in the README.
fn readme_block(marker: &str) -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).unwrap();
    let after = &readme[readme
        .find(marker)
        .unwrap_or_else(|| panic!("README lacks {marker}"))..];
    let start = after.find("```sh\n").unwrap() + "```sh\n".len();
    let len = after[start..].find("```").unwrap();
    after[start..start + len].to_owned()
}

/// The README's staging commands, run as written against a local S3 server with a release
/// tarball laid out as build-static.sh lays it out: the hash they compute is the bare
/// binary's (not the tarball's, which the .sha256 file holds), the object they upload is that
/// binary, and the collect document runs it with the URL and hash they give.
#[test]
fn readme_staging_gives_the_url_and_hash_the_collect_document_runs() {
    let Some(moto) = Moto::start() else { return };
    let block = readme_block("**Stage it for instances that do not have it installed.**");
    let version = block
        .split_whitespace()
        .find_map(|w| w.strip_prefix("VERSION="))
        .unwrap()
        .to_owned();
    let tools = block
        .split_whitespace()
        .find_map(|w| w.strip_prefix("TOOLS="))
        .unwrap()
        .to_owned();
    let py = format!(
        "import boto3\nboto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').create_bucket(Bucket='{tools}')",
        moto.endpoint
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));

    // dist/ as build-static.sh leaves it.
    let tmp = tempfile::tempdir().unwrap();
    let name = format!("vestige-{version}-x86_64-linux");
    let stage = tmp.path().join("stage").join(&name);
    std::fs::create_dir_all(&stage).unwrap();
    let agent = fake_agent(&stage, "vestige", 0);
    let dist = tmp.path().join("dist");
    std::fs::create_dir(&dist).unwrap();
    let pack = format!(
        "tar -C '{}' -czf '{name}.tar.gz' '{name}' && sha256sum '{name}.tar.gz' > '{name}.tar.gz.sha256'",
        tmp.path().join("stage").display()
    );
    let out = std::process::Command::new("sh")
        .args(["-c", &pack])
        .current_dir(&dist)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let tarball_sha = sha256_file(&dist.join(format!("{name}.tar.gz")));

    let config = tmp.path().join("aws-config");
    std::fs::write(&config, "[default]\nregion = us-east-1\n").unwrap();
    let script = format!("set -eu\n{block}\nprintf '%s\\n%s\\n' \"$AGENT_SHA\" \"$AGENT_URI\"\n");
    let out = std::process::Command::new("bash")
        .args(["-c", &script])
        .current_dir(tmp.path())
        .envs(moto.env())
        .env("AWS_CONFIG_FILE", &config)
        .env_remove("AWS_PROFILE")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines().rev();
    let agent_uri = lines.next().unwrap().to_owned();
    let agent_sha = lines.next().unwrap().to_owned();
    assert_eq!(agent_sha, sha256_file(&agent), "the bare binary's hash");
    assert_ne!(agent_sha, tarball_sha);
    assert_eq!(
        agent_uri,
        format!("https://{tools}.s3.us-east-1.amazonaws.com/vestige/{version}/vestige")
    );

    // What was uploaded is the binary; the document takes the URL and hash and runs it.
    let fetched = tmp.path().join("fetched");
    let py = format!(
        "import boto3\nb = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing').get_object(Bucket='{tools}', Key='vestige/{version}/vestige')['Body'].read()\nopen('{}', 'wb').write(b)",
        moto.endpoint,
        fetched.display()
    );
    let out = std::process::Command::new("python3")
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", show(&out));
    assert_eq!(sha256_file(&fetched), agent_sha);
    let r = run_ssm_document(
        DOC,
        &SsmRun {
            params: params(&[
                ("Bucket", "evidence-test"),
                ("AgentS3Uri", &agent_uri),
                ("AgentSha256", &agent_sha),
            ]),
            download_source: Some(fetched),
            ..Default::default()
        },
    )
    .unwrap();
    assert!(r.downloaded);
    assert_eq!(r.exit_code, Some(0), "{r:?}");
    assert_eq!(r.summary()["agent"], "vestige");
    assert!(stage.join("vestige.ran").exists(), "the staged binary ran");
}
