//! Helpers shared by the `deploy_*` tests: the repository's packaging files, external tools
//! (which CI installs), an emulation of how the SSM agent runs a Command document, and a moto
//! S3 server on loopback.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Cargo's target directory of this test build (`target/`, or `$CARGO_TARGET_DIR`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/<test> -> target
    exe.ancestors().nth(3).unwrap().to_path_buf()
}

/// An external tool by name. Missing tools fail the test unless `VESTIGE_ALLOW_MISSING_TOOLS=1`
/// (then `None`: the caller returns early and says so); CI installs every one of them.
pub fn tool(name: &str) -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var("VESTIGE_ALLOW_MISSING_TOOLS").as_deref() == Ok("1") => {
            eprintln!("SKIPPED: `{name}` is not installed (VESTIGE_ALLOW_MISSING_TOOLS=1)");
            None
        }
        None => panic!("`{name}` is required by this test (CI installs it via .ci/run); set VESTIGE_ALLOW_MISSING_TOOLS=1 to skip locally"),
    }
}

/// Parses a YAML file into JSON values. CloudFormation short tags become one-key maps
/// (`!Sub x` -> `{"!Sub": "x"}`), which is how cfn-lint and humans read them too.
pub fn yaml_file(rel: &str) -> serde_json::Value {
    let text =
        std::fs::read_to_string(repo_root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"));
    let y: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
    yaml_to_json(y)
}

fn yaml_to_json(y: serde_yaml_ng::Value) -> serde_json::Value {
    use serde_yaml_ng::Value as Y;
    match y {
        Y::Null => serde_json::Value::Null,
        Y::Bool(b) => b.into(),
        Y::Number(n) => serde_json::to_value(&n).unwrap(),
        Y::String(s) => s.into(),
        Y::Sequence(s) => s.into_iter().map(yaml_to_json).collect(),
        Y::Mapping(m) => m
            .into_iter()
            .map(|(k, v)| {
                let k = match k {
                    Y::String(s) => s,
                    other => serde_yaml_ng::to_string(&other).unwrap().trim().to_owned(),
                };
                (k, yaml_to_json(v))
            })
            .collect::<serde_json::Map<_, _>>()
            .into(),
        Y::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = if tag.starts_with('!') {
                tag
            } else {
                format!("!{tag}")
            };
            serde_json::json!({ tag: yaml_to_json(t.value) })
        }
    }
}

/// Output of a command as text, for assertion messages.
pub fn show(out: &Output) -> String {
    format!(
        "status {:?}\n--- stdout\n{}\n--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `^(?:pattern)$` over the whole value, like SSM's allowedPattern check (and Python's
/// `re.fullmatch`).
pub fn full_match(pattern: &str, value: &str) -> bool {
    regex::Regex::new(&format!(r"\A(?:{pattern})\z"))
        .unwrap_or_else(|e| panic!("allowedPattern {pattern:?} does not compile: {e}"))
        .is_match(value)
}

/// Where the emulated SSM agent finds things for one run.
#[derive(Default)]
pub struct SsmRun {
    /// Document parameters as given by the caller (defaults are filled in).
    pub params: BTreeMap<String, String>,
    /// Install this file as the golden-AMI binary (`/opt/vestige/bin/vestige`).
    pub golden_binary: Option<PathBuf>,
    /// What aws:downloadContent fetches: the file served for the AgentS3Uri.
    pub download_source: Option<PathBuf>,
    /// Extra environment for the shell step (the agent's own environment on EC2 is minimal;
    /// tests add AWS_ENDPOINT_URL and credentials for the local S3 server).
    pub env: Vec<(String, String)>,
}

/// Result of running a document.
#[derive(Debug)]
pub struct SsmResult {
    /// Status as the agent reports it: Success, Failed, TimedOut.
    pub status: String,
    /// Exit code of the shell step.
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// Whether the emulated aws:downloadContent placed a file.
    pub downloaded: bool,
}

impl SsmResult {
    /// The last non-empty stdout line, parsed as JSON.
    pub fn summary(&self) -> serde_json::Value {
        let last = self
            .stdout
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or_else(|| panic!("no stdout: {self:?}"));
        serde_json::from_str(last)
            .unwrap_or_else(|e| panic!("last line is not JSON ({e}): {self:?}"))
    }
}

/// The SSM document's parameters (name -> definition).
pub fn doc_parameters(doc: &serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    doc["parameters"].as_object().cloned().unwrap_or_default()
}

/// Checks `params` the way the SSM service does before sending a command: unknown names and
/// values outside allowedPattern are rejected; defaults fill the rest.
pub fn resolve_parameters(
    doc: &serde_json::Value,
    given: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, String> {
    let defs = doc_parameters(doc);
    for name in given.keys() {
        if !defs.contains_key(name) {
            return Err(format!("unknown parameter {name}"));
        }
    }
    let mut out = BTreeMap::new();
    for (name, def) in &defs {
        let value = match given.get(name) {
            Some(v) => v.clone(),
            None => match def.get("default") {
                Some(d) => d
                    .as_str()
                    .map(str::to_owned)
                    .unwrap_or_else(|| d.to_string()),
                None => return Err(format!("missing required parameter {name}")),
            },
        };
        if let Some(p) = def["allowedPattern"].as_str() {
            if !full_match(p, &value) {
                return Err(format!(
                    "parameter {name} value {value:?} fails allowedPattern {p}"
                ));
            }
        }
        out.insert(name.clone(), value);
    }
    Ok(out)
}

/// Replaces `{{ Name }}` in a non-shell input.
fn substitute(text: &str, params: &BTreeMap<String, String>) -> String {
    let mut s = text.to_owned();
    for (k, v) in params {
        s = s
            .replace(&format!("{{{{ {k} }}}}"), v)
            .replace(&format!("{{{{{k}}}}}"), v);
    }
    s
}

/// Runs a Command document (schema 2.2) as the SSM agent does on Linux: parameters are
/// validated, aws:downloadContent places the file, each aws:runShellScript's runCommand lines
/// become `_script.sh` in a per-step orchestration directory that is also the working
/// directory, run by `sh` with parameters exported as `SSM_<Name>` (ENV_VAR interpolation),
/// under the step's timeoutSeconds. Runs inside a private mount namespace whose /opt and
/// /var/lib are fresh tmpfs mounts, so the host's files are neither seen nor touched.
/// `Err` when the parameters are rejected (nothing ran).
pub fn run_ssm_document(rel: &str, run: &SsmRun) -> Result<SsmResult, String> {
    let doc = yaml_file(rel);
    assert_eq!(doc["schemaVersion"], "2.2");
    let params = resolve_parameters(&doc, &run.params)?;
    let tmp = tempfile::tempdir().unwrap();
    let orchestration = tmp.path().join("orchestration/0d2f-command-id");
    let mut setup = String::from("set -eu\nmount -t tmpfs -o mode=0755 tmpfs /opt\nmount -t tmpfs -o mode=0755 tmpfs /var/lib\n");
    if let Some(g) = &run.golden_binary {
        setup.push_str(&format!(
            "mkdir -p /opt/vestige/bin\ncp '{}' /opt/vestige/bin/vestige\nchmod 0755 /opt/vestige/bin/vestige\n",
            g.display()
        ));
    }
    let mut downloaded = false;
    let mut step_scripts = Vec::new();
    for step in doc["mainSteps"].as_array().unwrap() {
        let name = step["name"].as_str().unwrap();
        let inputs = &step["inputs"];
        match step["action"].as_str().unwrap() {
            "aws:downloadContent" => {
                assert_eq!(inputs["sourceType"], "S3");
                let info: serde_json::Value = serde_json::from_str(&substitute(
                    inputs["sourceInfo"].as_str().unwrap(),
                    &params,
                ))
                .unwrap();
                let url = info["path"].as_str().unwrap().to_owned();
                let dest = inputs["destinationPath"].as_str().unwrap();
                // An empty or unreachable source fails this (non-critical) step.
                if let (false, Some(src)) = (url.is_empty(), &run.download_source) {
                    let file = url.rsplit('/').next().unwrap();
                    setup.push_str(&format!(
                        "mkdir -p '{dest}'\ncp '{}' '{dest}/{file}'\n",
                        src.display()
                    ));
                    downloaded = true;
                } else {
                    assert_eq!(
                        step["isCritical"], false,
                        "a failed download must not fail the command"
                    );
                }
            }
            "aws:runShellScript" => {
                assert_eq!(inputs["interpolationType"], "ENV_VAR");
                let dir = orchestration.join(name);
                std::fs::create_dir_all(&dir).unwrap();
                let lines: Vec<&str> = inputs["runCommand"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|l| l.as_str().unwrap())
                    .collect();
                std::fs::write(dir.join("_script.sh"), lines.join("\n") + "\n").unwrap();
                let timeout: u64 =
                    substitute(inputs["timeoutSeconds"].as_str().unwrap_or("3600"), &params)
                        .parse()
                        .unwrap();
                step_scripts.push((dir, timeout));
            }
            other => panic!("the emulated agent does not know action {other}"),
        }
    }
    assert_eq!(step_scripts.len(), 1, "one shell step");
    let (dir, timeout) = step_scripts.pop().unwrap();
    // The agent runs the script with sh in the orchestration directory; `timeout` stands in
    // for its execution timer.
    setup.push_str(&format!(
        "cd '{}'\nset +e\ntimeout -k 5 {timeout} sh _script.sh\nrc=$?\nexit $rc\n",
        dir.display()
    ));
    let mut cmd = Command::new("unshare");
    cmd.args(["-m", "--propagation", "private", "sh", "-c", &setup]);
    cmd.env_clear();
    cmd.env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    for (k, v) in &params {
        cmd.env(format!("SSM_{k}"), v);
    }
    for (k, v) in &run.env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("unshare");
    let code = out.status.code();
    let status = match code {
        Some(0) => "Success",
        Some(124) | Some(137) => "TimedOut",
        _ => "Failed",
    };
    Ok(SsmResult {
        status: status.to_owned(),
        exit_code: code,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        downloaded,
    })
}

/// A moto S3 server on a free loopback port, stopped on drop.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Moto {
    /// Starts `python3 -m moto.server`; `None` (with a note) only when moto is missing and
    /// `VESTIGE_ALLOW_MISSING_TOOLS=1`.
    pub fn start() -> Option<Self> {
        tool("python3")?;
        let probe = Command::new("python3")
            .args(["-c", "import moto.server, boto3"])
            .output()
            .unwrap();
        if !probe.status.success() {
            if std::env::var("VESTIGE_ALLOW_MISSING_TOOLS").as_deref() == Ok("1") {
                eprintln!("SKIPPED: moto is not installed");
                return None;
            }
            panic!(
                "moto[server] is required (pip install 'moto[server]'): {}",
                show(&probe)
            );
        }
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Some(Self {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        })
    }

    /// Environment for a client of this server (AWS SDK conventions).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
            ("AWS_DEFAULT_REGION", "us-east-1"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// Creates an evidence bucket with Object Lock and a COMPLIANCE default retention.
    pub fn create_locked_bucket(&self, name: &str) {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             s3.create_bucket(Bucket='{name}', ObjectLockEnabledForBucket=True)\n\
             s3.put_object_lock_configuration(Bucket='{name}', ObjectLockConfiguration={{'ObjectLockEnabled': 'Enabled', 'Rule': {{'DefaultRetention': {{'Mode': 'COMPLIANCE', 'Days': 1}}}}}})\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
    }

    /// Keys stored in a bucket.
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let script = format!(
            "import boto3\ns3 = boto3.client('s3', endpoint_url='{}', region_name='us-east-1', aws_access_key_id='testing', aws_secret_access_key='testing')\n\
             for page in s3.get_paginator('list_objects_v2').paginate(Bucket='{bucket}'):\n    for o in page.get('Contents', []): print(o['Key'])\n",
            self.endpoint
        );
        let out = Command::new("python3")
            .args(["-c", &script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", show(&out));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes an executable file.
pub fn write_executable(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    let mut f = std::fs::File::create(path).unwrap();
    f.write_all(text.as_bytes()).unwrap();
    drop(f);
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}
