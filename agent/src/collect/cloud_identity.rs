//! `cloud_identity`: who this EC2 instance is, from IMDSv2 only (a session token, short
//! timeouts, no retries). The signed instance identity document is kept verbatim with its
//! PKCS7 signature, so an analyst can later prove which instance the evidence came from.
//! The IAM role is named; its credentials are never requested. Off EC2 (or with IMDSv1 only)
//! the one record says `available: false` and why, within the time budget.

use super::{CollectError, Context, Output};
use crate::host::{self, Imds};
use collector_spec::CloudIdentityOptions;
use serde::Serialize;
use std::time::Instant;

/// The record.
#[derive(Debug, Default, Serialize)]
pub struct CloudIdentityRecord {
    pub available: bool,
    /// Why not, when unavailable.
    pub reason: Option<String>,
    pub endpoint: Option<String>,
    pub instance_id: Option<String>,
    pub account_id: Option<String>,
    pub region: Option<String>,
    pub availability_zone: Option<String>,
    pub availability_zone_id: Option<String>,
    pub ami_id: Option<String>,
    pub instance_type: Option<String>,
    pub architecture: Option<String>,
    pub private_ip: Option<String>,
    pub local_hostname: Option<String>,
    pub public_hostname: Option<String>,
    pub public_ipv4: Option<String>,
    /// Role name only (from the credentials listing; the credentials are never fetched).
    pub iam_role: Option<String>,
    pub instance_profile_arn: Option<String>,
    pub security_groups: Vec<String>,
    pub network_interfaces: Vec<NetworkInterface>,
    /// The instance identity document, byte for byte as served.
    pub identity_document: Option<String>,
    pub identity_document_sha256: Option<String>,
    /// Its PKCS7 signature (`/latest/dynamic/instance-identity/pkcs7`, base64 body).
    pub identity_pkcs7: Option<String>,
    /// Its RSA-2048 PKCS7 signature (`…/rsa2048`), for regions whose certificate uses it.
    pub identity_rsa2048: Option<String>,
    /// Its base64 SHA256withRSA signature (`…/signature`).
    pub identity_signature: Option<String>,
    pub elapsed_ms: u64,
}

/// One network interface, by MAC.
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct NetworkInterface {
    pub mac: String,
    pub device_number: Option<String>,
    pub interface_id: Option<String>,
    pub subnet_id: Option<String>,
    pub vpc_id: Option<String>,
    pub local_ipv4s: Vec<String>,
    pub public_ipv4s: Vec<String>,
    pub ipv6s: Vec<String>,
    pub security_group_ids: Vec<String>,
    pub security_groups: Vec<String>,
}

/// Runs the collector.
pub fn collect(
    _ctx: &Context,
    opts: &CloudIdentityOptions,
    out: &mut Output,
) -> Result<(), CollectError> {
    let t0 = Instant::now();
    let mut rec = if host::imds_disabled() {
        CloudIdentityRecord {
            reason: Some("IMDS disabled by AWS_EC2_METADATA_DISABLED".into()),
            ..Default::default()
        }
    } else {
        let endpoint = host::endpoint_from_env();
        match Imds::new(&endpoint, opts.timeout.0) {
            Some(imds) => {
                let mut r = identity(&imds);
                r.endpoint = Some(endpoint);
                r
            }
            None => CloudIdentityRecord {
                reason: Some(format!("IMDS endpoint `{endpoint}` is not usable")),
                endpoint: Some(endpoint),
                ..Default::default()
            },
        }
    };
    rec.elapsed_ms = u64::try_from(t0.elapsed().as_millis()).unwrap_or(u64::MAX);
    out.record(&rec)
}

fn lines(text: Option<String>) -> Vec<String> {
    text.map(|t| {
        t.lines()
            .map(|l| l.trim().trim_end_matches('/').to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

fn one(text: Option<String>) -> Option<String> {
    text.map(|t| t.trim().to_owned()).filter(|t| !t.is_empty())
}

/// Asks IMDSv2 everything the record holds.
pub fn identity(imds: &Imds) -> CloudIdentityRecord {
    let token = match imds.token_or_reason() {
        Ok(t) => t,
        Err(reason) => {
            return CloudIdentityRecord {
                reason: Some(reason),
                ..Default::default()
            }
        }
    };
    let get = |path: &str| imds.get(&token, path);
    let md = |path: &str| one(get(&format!("/latest/meta-data/{path}")));
    let Some(doc) = get("/latest/dynamic/instance-identity/document") else {
        return CloudIdentityRecord {
            reason: Some("IMDSv2 token granted but no instance identity document".into()),
            ..Default::default()
        };
    };
    let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
    let field = |k: &str| parsed.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    let sha = crate::pipeline::hex(&<sha2::Sha256 as sha2::Digest>::digest(doc.as_bytes()));
    let mut rec = CloudIdentityRecord {
        available: true,
        instance_id: field("instanceId"),
        account_id: field("accountId"),
        region: field("region"),
        availability_zone: field("availabilityZone"),
        ami_id: field("imageId"),
        instance_type: field("instanceType"),
        architecture: field("architecture"),
        private_ip: field("privateIp"),
        identity_document_sha256: Some(sha),
        identity_pkcs7: one(get("/latest/dynamic/instance-identity/pkcs7")),
        identity_rsa2048: one(get("/latest/dynamic/instance-identity/rsa2048")),
        identity_signature: one(get("/latest/dynamic/instance-identity/signature")),
        identity_document: Some(doc),
        ..Default::default()
    };
    rec.instance_id = rec.instance_id.take().or_else(|| md("instance-id"));
    rec.ami_id = rec.ami_id.take().or_else(|| md("ami-id"));
    rec.instance_type = rec.instance_type.take().or_else(|| md("instance-type"));
    rec.availability_zone = rec
        .availability_zone
        .take()
        .or_else(|| md("placement/availability-zone"));
    rec.region = rec.region.take().or_else(|| md("placement/region"));
    rec.availability_zone_id = md("placement/availability-zone-id");
    rec.local_hostname = md("local-hostname");
    rec.public_hostname = md("public-hostname");
    rec.public_ipv4 = md("public-ipv4");
    // The listing names the role; `security-credentials/<role>` (the keys) is never asked.
    rec.iam_role = lines(get("/latest/meta-data/iam/security-credentials/"))
        .into_iter()
        .next();
    rec.instance_profile_arn = get("/latest/meta-data/iam/info").and_then(|info| {
        let v: serde_json::Value = serde_json::from_str(&info).ok()?;
        v.get("InstanceProfileArn")?.as_str().map(str::to_owned)
    });
    rec.security_groups = lines(get("/latest/meta-data/security-groups"));
    for mac in lines(get("/latest/meta-data/network/interfaces/macs/")) {
        let nic = |leaf: &str| format!("/latest/meta-data/network/interfaces/macs/{mac}/{leaf}");
        rec.network_interfaces.push(NetworkInterface {
            device_number: one(get(&nic("device-number"))),
            interface_id: one(get(&nic("interface-id"))),
            subnet_id: one(get(&nic("subnet-id"))),
            vpc_id: one(get(&nic("vpc-id"))),
            local_ipv4s: lines(get(&nic("local-ipv4s"))),
            public_ipv4s: lines(get(&nic("public-ipv4s"))),
            ipv6s: lines(get(&nic("ipv6s"))),
            security_group_ids: lines(get(&nic("security-group-ids"))),
            security_groups: lines(get(&nic("security-groups"))),
            mac,
        });
    }
    rec
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpListener;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    pub const DOC: &str = "{\n  \"accountId\" : \"123456789012\",\n  \"architecture\" : \"x86_64\",\n  \"availabilityZone\" : \"eu-west-1b\",\n  \"imageId\" : \"ami-0abc\",\n  \"instanceId\" : \"i-0123456789abcdef0\",\n  \"instanceType\" : \"m6i.large\",\n  \"privateIp\" : \"10.0.1.5\",\n  \"region\" : \"eu-west-1\"\n}";

    /// A fake IMDS on loopback. `v2`: whether PUT /latest/api/token is served. Records every
    /// path asked.
    fn fake_imds(v2: bool) -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let asked = Arc::new(Mutex::new(Vec::new()));
        let log = asked.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let mut reader = BufReader::new(conn.try_clone().unwrap());
                let mut first = String::new();
                reader.read_line(&mut first).unwrap();
                let mut token_ok = false;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap() == 0 || h == "\r\n" {
                        break;
                    }
                    if h.to_ascii_lowercase()
                        .starts_with("x-aws-ec2-metadata-token: tok-1")
                    {
                        token_ok = true;
                    }
                }
                let mut parts = first.split_whitespace();
                let (method, path) = (
                    parts.next().unwrap().to_owned(),
                    parts.next().unwrap().to_owned(),
                );
                log.lock().unwrap().push(format!("{method} {path}"));
                let (status, body) = match (method.as_str(), path.as_str()) {
                    ("PUT", "/latest/api/token") if v2 => (200, "tok-1".to_owned()),
                    ("PUT", _) => (405, String::new()),
                    (_, _) if v2 && !token_ok => (401, String::new()),
                    (_, "/latest/dynamic/instance-identity/document") => (200, DOC.to_owned()),
                    (_, "/latest/dynamic/instance-identity/pkcs7") => (200, "MIAGCSqGSIb3DQEHAqCAMIACAQExDzANBglghkgBZQMEAgEFADCABgkq".to_owned()),
                    (_, "/latest/dynamic/instance-identity/signature") => (200, "c2lnbmF0dXJl".to_owned()),
                    (_, "/latest/meta-data/iam/security-credentials/") => (200, "web-role".to_owned()),
                    (_, "/latest/meta-data/iam/info") => (200, "{\"Code\":\"Success\",\"InstanceProfileArn\":\"arn:aws:iam::123456789012:instance-profile/web\"}".to_owned()),
                    (_, "/latest/meta-data/security-groups") => (200, "web\nssh-admin".to_owned()),
                    (_, "/latest/meta-data/placement/availability-zone-id") => (200, "euw1-az2".to_owned()),
                    (_, "/latest/meta-data/network/interfaces/macs/") => (200, "0a:1b:2c:3d:4e:5f/\n".to_owned()),
                    (_, p) if p.ends_with("0a:1b:2c:3d:4e:5f/interface-id") => (200, "eni-0abc".to_owned()),
                    (_, p) if p.ends_with("0a:1b:2c:3d:4e:5f/local-ipv4s") => (200, "10.0.1.5\n10.0.1.6".to_owned()),
                    (_, p) if p.ends_with("0a:1b:2c:3d:4e:5f/security-group-ids") => (200, "sg-1\nsg-2".to_owned()),
                    _ => (404, String::new()),
                };
                let _ = write!(
                    conn,
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        (format!("http://{addr}"), asked)
    }

    /// Over IMDSv2 (a local server) the identity document, its signature, instance, account,
    /// region, zone, role, security groups and interfaces are read, and the role's credentials are
    /// never requested.
    #[test]
    fn reads_identity_from_imdsv2() {
        let (endpoint, asked) = fake_imds(true);
        let imds = Imds::new(&endpoint, Duration::from_secs(5)).unwrap();
        let r = identity(&imds);
        assert!(r.available, "{:?}", r.reason);
        assert_eq!(r.identity_document.as_deref(), Some(DOC));
        assert_eq!(r.instance_id.as_deref(), Some("i-0123456789abcdef0"));
        assert_eq!(r.account_id.as_deref(), Some("123456789012"));
        assert_eq!(r.region.as_deref(), Some("eu-west-1"));
        assert_eq!(r.availability_zone.as_deref(), Some("eu-west-1b"));
        assert_eq!(r.availability_zone_id.as_deref(), Some("euw1-az2"));
        assert_eq!(r.ami_id.as_deref(), Some("ami-0abc"));
        assert_eq!(r.instance_type.as_deref(), Some("m6i.large"));
        assert!(r
            .identity_pkcs7
            .as_deref()
            .unwrap()
            .starts_with("MIAGCSqGSIb3"));
        assert_eq!(r.iam_role.as_deref(), Some("web-role"));
        assert_eq!(r.security_groups, vec!["web", "ssh-admin"]);
        assert_eq!(r.network_interfaces.len(), 1);
        let nic = &r.network_interfaces[0];
        assert_eq!(nic.mac, "0a:1b:2c:3d:4e:5f");
        assert_eq!(nic.interface_id.as_deref(), Some("eni-0abc"));
        assert_eq!(nic.local_ipv4s, vec!["10.0.1.5", "10.0.1.6"]);
        assert_eq!(nic.security_group_ids, vec!["sg-1", "sg-2"]);
        let asked = asked.lock().unwrap();
        assert!(
            !asked
                .iter()
                .any(|p| p.contains("security-credentials/web-role")),
            "credentials must never be requested: {asked:?}"
        );
    }

    /// A metadata service without IMDSv2 tokens (405) makes the identity unavailable with the
    /// status, and nothing else is asked.
    #[test]
    fn imdsv1_only_is_unavailable() {
        let (endpoint, asked) = fake_imds(false);
        let imds = Imds::new(&endpoint, Duration::from_secs(5)).unwrap();
        let r = identity(&imds);
        assert!(!r.available);
        assert!(
            r.reason.as_deref().unwrap().contains("405"),
            "{:?}",
            r.reason
        );
        assert_eq!(
            asked.lock().unwrap().len(),
            1,
            "nothing asked without a token"
        );
    }

    /// [fault] A metadata server that accepts and never answers, or one not listening, makes the
    /// identity unavailable within its time budget.
    #[test]
    fn silent_or_absent_server_is_unavailable_within_budget() {
        // Accepts connections and never answers.
        let silent = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", silent.local_addr().unwrap());
        let t0 = Instant::now();
        let r = identity(&Imds::new(&endpoint, Duration::from_millis(300)).unwrap());
        assert!(!r.available);
        assert!(
            t0.elapsed() < Duration::from_millis(800),
            "{:?}",
            t0.elapsed()
        );
        // Nothing listening at all.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t0 = Instant::now();
        let r = identity(
            &Imds::new(&format!("http://127.0.0.1:{port}"), Duration::from_secs(1)).unwrap(),
        );
        assert!(!r.available);
        assert!(t0.elapsed() < Duration::from_secs(1));
        drop(silent);
    }
}
