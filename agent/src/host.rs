//! Who is this host: EC2 instance identity over IMDSv2 (short timeouts, no retries), else
//! the hostname.
//!
//! Honours the AWS SDK's variables: `AWS_EC2_METADATA_DISABLED=true` skips IMDS, and
//! `AWS_EC2_METADATA_SERVICE_ENDPOINT` points it elsewhere (tests use a loopback server).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Default IMDS endpoint.
pub const IMDS_ENDPOINT: &str = "http://169.254.169.254";

/// What IMDS told us.
#[derive(Debug, Clone, Default)]
pub struct InstanceIdentity {
    /// `i-…`.
    pub instance_id: Option<String>,
    /// Account id.
    pub account_id: Option<String>,
    /// Region.
    pub region: Option<String>,
    /// The identity document as served.
    pub document: Option<String>,
}

/// A minimal IMDSv2 client: one connection per request, hard time budget.
#[derive(Debug, Clone)]
pub struct Imds {
    addr: SocketAddr,
    host_header: String,
    deadline: Instant,
}

impl Imds {
    /// A client for the configured endpoint with a total time budget, or `None` when IMDS is
    /// disabled or the endpoint does not parse.
    pub fn from_env(budget: Duration) -> Option<Self> {
        if imds_disabled() {
            return None;
        }
        Self::new(&endpoint_from_env(), budget)
    }

    /// A client for `endpoint` (`http://host[:port]`) with a total time budget.
    pub fn new(endpoint: &str, budget: Duration) -> Option<Self> {
        let hostport = endpoint.strip_prefix("http://")?.trim_end_matches('/');
        let with_port = if hostport.contains(':') && !hostport.ends_with(']') {
            hostport.to_owned()
        } else {
            format!("{hostport}:80")
        };
        let addr = with_port.to_socket_addrs().ok()?.next()?;
        Some(Self {
            addr,
            host_header: hostport.to_owned(),
            deadline: Instant::now() + budget,
        })
    }

    fn request(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<String> {
        match self.exchange(method, path, headers) {
            Ok((200, body)) => Some(body),
            _ => None,
        }
    }

    /// One HTTP exchange: the status and body, or why there was none.
    fn exchange(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Result<(u16, String), String> {
        self.exchange_inner(method, path, headers)
            .ok_or_else(|| format!("no answer from {} within the time budget", self.addr))
    }

    fn exchange_inner(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Option<(u16, String)> {
        let left = self.deadline.checked_duration_since(Instant::now())?;
        if left < Duration::from_millis(5) {
            return None;
        }
        let mut s = TcpStream::connect_timeout(&self.addr, left).ok()?;
        let left = self
            .deadline
            .checked_duration_since(Instant::now())?
            .max(Duration::from_millis(5));
        s.set_read_timeout(Some(left)).ok()?;
        s.set_write_timeout(Some(left)).ok()?;
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Length: 0\r\n",
            self.host_header
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        s.write_all(req.as_bytes()).ok()?;
        let mut resp = Vec::new();
        s.take(1 << 20).read_to_end(&mut resp).ok()?;
        let text = String::from_utf8_lossy(&resp);
        let (head, body) = text.split_once("\r\n\r\n")?;
        let status: u16 = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, body.to_owned()))
    }

    /// An IMDSv2 session token, or why there is none (no answer in time, or refused: an
    /// IMDSv1-only service).
    pub fn token_or_reason(&self) -> Result<String, String> {
        match self.exchange(
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
        )? {
            (200, body) if !body.trim().is_empty() => Ok(body.trim().to_owned()),
            (status, _) => Err(format!(
                "IMDSv2 token request answered HTTP {status}: no IMDSv2 (IMDSv1 is not used)"
            )),
        }
    }

    /// An IMDSv2 session token; `None` when IMDSv2 does not answer (IMDSv1-only or absent).
    pub fn token(&self) -> Option<String> {
        self.request(
            "PUT",
            "/latest/api/token",
            &[("X-aws-ec2-metadata-token-ttl-seconds", "300")],
        )
        .map(|t| t.trim().to_owned())
        .filter(|t| !t.is_empty())
    }

    /// GETs a metadata path with a token.
    pub fn get(&self, token: &str, path: &str) -> Option<String> {
        self.request("GET", path, &[("X-aws-ec2-metadata-token", token)])
    }
}

/// Whether `AWS_EC2_METADATA_DISABLED=true`.
pub fn imds_disabled() -> bool {
    std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true"))
}

/// `AWS_EC2_METADATA_SERVICE_ENDPOINT`, else the default endpoint.
pub fn endpoint_from_env() -> String {
    std::env::var("AWS_EC2_METADATA_SERVICE_ENDPOINT").unwrap_or_else(|_| IMDS_ENDPOINT.to_owned())
}

/// Reads the instance identity document; empty when not on EC2 (within the budget).
pub fn instance_identity(budget: Duration) -> InstanceIdentity {
    let Some(imds) = Imds::from_env(budget) else {
        return InstanceIdentity::default();
    };
    let Some(token) = imds.token() else {
        return InstanceIdentity::default();
    };
    let Some(doc) = imds.get(&token, "/latest/dynamic/instance-identity/document") else {
        return InstanceIdentity::default();
    };
    let parsed: serde_json::Value = serde_json::from_str(&doc).unwrap_or_default();
    let field = |k: &str| parsed.get(k).and_then(|v| v.as_str()).map(str::to_owned);
    InstanceIdentity {
        instance_id: field("instanceId"),
        account_id: field("accountId"),
        region: field("region"),
        document: Some(doc),
    }
}

/// Makes a host id safe as one path component / key segment.
pub fn sanitize_host_id(raw: &str) -> String {
    let cleaned: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .take(128)
        .collect();
    let cleaned = cleaned.trim_start_matches('.').to_owned();
    if cleaned.is_empty() {
        "unknown-host".to_owned()
    } else {
        cleaned
    }
}

/// The kernel hostname.
pub fn hostname() -> Option<String> {
    nix::unistd::gethostname()
        .ok()
        .map(|h| h.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [security] Host ids become safe path components: slashes and newlines replaced, `..` and
    /// empty made unknown-host.
    #[test]
    fn host_ids_are_safe_path_components() {
        assert_eq!(sanitize_host_id("i-0abc123"), "i-0abc123");
        assert_eq!(sanitize_host_id("web-1.example.com"), "web-1.example.com");
        assert_eq!(sanitize_host_id("../../etc"), "_.._etc");
        assert_eq!(sanitize_host_id("a/b\nc"), "a_b_c");
        assert_eq!(sanitize_host_id(""), "unknown-host");
        assert_eq!(sanitize_host_id(".."), "unknown-host");
    }
}
