//! A real S3 server for tests: moto's server on a free loopback port, killed on drop; a
//! boto3 helper to set up buckets and read back what vestige stored; and a TCP relay that a
//! test can cut to make the endpoint unreachable while the server keeps its state.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Test-only credentials: moto accepts any.
pub const ACCESS_KEY_ID: &str = "AKIAVESTIGETESTKEY01";
/// Test-only secret. Tests assert it never appears in vestige's output or bundle.
pub const SECRET_ACCESS_KEY: &str = "vestigeTestSecret/DoNotPrint+0123456789abcd";
/// Test-only session token.
pub const SESSION_TOKEN: &str = "vestigeTestSessionTokenDoNotPrintXYZ";
/// Region moto serves.
pub const REGION: &str = "us-east-1";

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Environment for an AWS client pointed at moto, isolated from any real AWS configuration.
pub fn aws_env(cmd: &mut Command) -> &mut Command {
    cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY)
        .env("AWS_SESSION_TOKEN", SESSION_TOKEN)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", "/nonexistent/vestige-test-aws-config")
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            "/nonexistent/vestige-test-aws-credentials",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_ENDPOINT_URL")
}

/// A running moto S3 server.
pub struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    /// Starts `python3 -m moto.server` on a free port and waits until it answers.
    pub fn start() -> Self {
        let port = free_port();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto (pip install 'moto[server]')");
        let moto = Self { child, port };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(30) {
            if http_get_ok(port) {
                return moto;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("moto did not answer on port {port} within 30s");
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The server's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's pid (for SIGSTOP/SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILLs the server and reaps it: the endpoint is gone, and so is everything it
    /// stored (moto keeps it in memory).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Runs a python3 snippet with `s3` bound to a boto3 client for this server, `json` and
    /// `sys` imported; returns its stdout. Panics when the snippet fails.
    pub fn boto(&self, body: &str) -> String {
        let out = self.boto_output(body);
        assert!(
            out.status.success(),
            "boto3 snippet failed: {}\n{body}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Like [`Moto::boto`], returning the raw output.
    pub fn boto_output(&self, body: &str) -> Output {
        let script = format!(
            "import boto3, json, sys, base64, hashlib\n\
             s3 = boto3.client('s3', endpoint_url='{}', region_name='{REGION}')\n{body}\n",
            self.endpoint()
        );
        let mut cmd = Command::new("python3");
        aws_env(&mut cmd);
        cmd.args(["-c", &script]).output().expect("run python3")
    }

    /// Creates a versioned bucket with Object Lock and a default retention.
    pub fn create_locked_bucket(&self, bucket: &str, mode: &str, days: u32) {
        self.boto(&format!(
            "s3.create_bucket(Bucket='{bucket}', ObjectLockEnabledForBucket=True)\n\
             s3.put_object_lock_configuration(Bucket='{bucket}', ObjectLockConfiguration={{\
             'ObjectLockEnabled': 'Enabled', 'Rule': {{'DefaultRetention': {{'Mode': '{mode}', 'Days': {days}}}}}}})"
        ));
    }

    /// Every object under `prefix`: key → (size, version id).
    pub fn list(&self, bucket: &str, prefix: &str) -> serde_json::Value {
        let out = self.boto(&format!(
            "r = s3.list_objects_v2(Bucket='{bucket}', Prefix='{prefix}')\n\
             print(json.dumps({{o['Key']: o['Size'] for o in r.get('Contents', [])}}))"
        ));
        serde_json::from_str(out.trim()).expect("list json")
    }

    /// An object's bytes.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self.boto(&format!(
            "b = s3.get_object(Bucket='{bucket}', Key='{key}')['Body'].read()\n\
             sys.stdout.write(base64.b64encode(b).decode())"
        ));
        base64_decode(out.trim())
    }

    /// HeadObject as JSON (VersionId, ObjectLockMode, ObjectLockRetainUntilDate, Metadata,
    /// ETag, ContentLength, ObjectLockLegalHoldStatus).
    pub fn head(&self, bucket: &str, key: &str) -> serde_json::Value {
        let out = self.boto(&format!(
            "h = s3.head_object(Bucket='{bucket}', Key='{key}')\n\
             h.pop('ResponseMetadata', None)\n\
             print(json.dumps(h, default=str))"
        ));
        serde_json::from_str(out.trim()).expect("head json")
    }

    /// Tries to delete one object version; `Err` carries the error code.
    pub fn delete_version(&self, bucket: &str, key: &str, version: &str) -> Result<(), String> {
        let out = self.boto(&format!(
            "try:\n    s3.delete_object(Bucket='{bucket}', Key='{key}', VersionId='{version}')\n    print('deleted')\n\
             except Exception as e:\n    print(getattr(e, 'response', {{}}).get('Error', {{}}).get('Code', str(e)))"
        ));
        let out = out.trim();
        if out == "deleted" {
            Ok(())
        } else {
            Err(out.to_owned())
        }
    }

    /// Copies every object under `from` to `to` (both prefixes end with `/`), flipping one
    /// byte of the object whose key ends with `tamper_suffix`.
    pub fn copy_prefix_tampered(&self, bucket: &str, from: &str, to: &str, tamper_suffix: &str) {
        self.boto(&format!(
            "r = s3.list_objects_v2(Bucket='{bucket}', Prefix='{from}')\n\
             for o in r.get('Contents', []):\n\
             \x20   k = o['Key']\n\
             \x20   b = bytearray(s3.get_object(Bucket='{bucket}', Key=k)['Body'].read())\n\
             \x20   if k.endswith('{tamper_suffix}'):\n\
             \x20       b[len(b) // 2] ^= 0x01\n\
             \x20   s3.put_object(Bucket='{bucket}', Key='{to}' + k[len('{from}'):], Body=bytes(b), ChecksumAlgorithm='SHA256')"
        ));
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        // Resume first in case a test left it stopped.
        let _ = Command::new("kill")
            .args(["-CONT", &self.child.id().to_string()])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn http_get_ok(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut buf = [0u8; 16];
    matches!(s.read(&mut buf), Ok(n) if n > 0 && buf.starts_with(b"HTTP/1."))
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'+' => 62,
            b'/' => 63,
            _ => 0,
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|c| !c.is_ascii_whitespace()).collect();
    let mut out = Vec::with_capacity(bytes.len() / 4 * 3);
    for chunk in bytes.chunks(4) {
        let pad = chunk.iter().filter(|&&c| c == b'=').count();
        let n = chunk.iter().fold(0u32, |acc, &c| {
            (acc << 6) | if c == b'=' { 0 } else { val(c) }
        });
        let n = n << (6 * (4 - chunk.len() as u32));
        let three = [(n >> 16) as u8, (n >> 8) as u8, n as u8];
        out.extend_from_slice(&three[..3 - pad.min(2)]);
    }
    out
}

/// A TCP relay in front of a server: cutting it drops every connection and refuses new ones,
/// as when a host is isolated, while the server behind keeps what it stored.
pub struct Relay {
    port: u16,
    cut: Arc<AtomicBool>,
    delay_ms: Arc<AtomicU64>,
    drop_next: Arc<AtomicU64>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl Relay {
    /// Starts relaying a free loopback port to `127.0.0.1:target`.
    pub fn start(target: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("relay bind");
        let port = listener.local_addr().expect("relay addr").port();
        let cut = Arc::new(AtomicBool::new(false));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::new(Mutex::new(Vec::new()));
        let heads: Arc<Mutex<Vec<String>>> = Arc::new(Mutex::new(Vec::new()));
        let delay_ms = Arc::new(AtomicU64::new(0));
        let drop_next = Arc::new(AtomicU64::new(0));
        let (c2, k2, h2) = (cut.clone(), conns.clone(), heads.clone());
        let (d2, n2) = (delay_ms.clone(), drop_next.clone());
        std::thread::spawn(move || {
            for incoming in listener.incoming() {
                if c2.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = incoming else { continue };
                // Drop this connection without a word, as a flaky network does.
                if n2
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok()
                {
                    let _ = client.shutdown(Shutdown::Both);
                    continue;
                }
                let Ok(server) = TcpStream::connect(SocketAddr::from(([127, 0, 0, 1], target)))
                else {
                    continue;
                };
                let mut list = k2.lock().unwrap();
                if c2.load(Ordering::SeqCst) {
                    // Cut while this one was being set up.
                    let _ = client.shutdown(Shutdown::Both);
                    let _ = server.shutdown(Shutdown::Both);
                    break;
                }
                for s in [&client, &server] {
                    if let Ok(c) = s.try_clone() {
                        list.push(c);
                    }
                }
                drop(list);
                pipe(
                    client.try_clone().unwrap(),
                    server.try_clone().unwrap(),
                    Some(h2.clone()),
                    d2.clone(),
                );
                pipe(server, client, None, d2.clone());
            }
            // The listener is dropped here: new connections are refused.
        });
        Self {
            port,
            cut,
            delay_ms,
            drop_next,
            conns,
            heads,
        }
    }

    /// Holds every relayed chunk (either direction) this long before passing it on.
    pub fn set_delay(&self, delay: Duration) {
        self.delay_ms
            .store(delay.as_millis() as u64, Ordering::SeqCst);
    }

    /// Closes the next `n` connections as soon as they are accepted.
    pub fn drop_connections(&self, n: u64) {
        self.drop_next.store(n, Ordering::SeqCst);
    }

    /// The request heads (request line and headers) relayed so far, one string each.
    pub fn request_heads(&self) -> Vec<String> {
        self.heads.lock().unwrap().clone()
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Drops every connection and stops listening.
    pub fn cut(&self) {
        let mut list = self.conns.lock().unwrap();
        self.cut.store(true, Ordering::SeqCst);
        for s in list.drain(..) {
            let _ = s.shutdown(Shutdown::Both);
        }
        drop(list);
        // Wake the accept loop so it sees the cut and drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies one direction; with `heads`, records every chunk that starts a request (clients
/// write a request's head before its body).
fn pipe(
    mut from: TcpStream,
    mut to: TcpStream,
    heads: Option<Arc<Mutex<Vec<String>>>>,
    delay_ms: Arc<AtomicU64>,
) {
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            let chunk = &buf[..n];
            if let Some(h) = &heads {
                if [&b"GET "[..], b"PUT ", b"POST ", b"HEAD ", b"DELETE "]
                    .iter()
                    .any(|m| chunk.starts_with(m))
                {
                    let text = String::from_utf8_lossy(chunk);
                    let head = text.split("\r\n\r\n").next().unwrap_or_default().to_owned();
                    h.lock().unwrap().push(head);
                }
            }
            let delay = delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                std::thread::sleep(Duration::from_millis(delay));
            }
            if to.write_all(chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
    });
}
