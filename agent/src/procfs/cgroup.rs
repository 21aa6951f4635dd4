//! /proc/PID/cgroup and the container id it reveals.

/// The cgroup path: the v2 line (`0::/path`) when present, else the first v1 line's path.
pub fn path(buf: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(buf);
    let mut first = None;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(_), Some(p)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        if id == "0" {
            return Some(p.to_owned());
        }
        first.get_or_insert_with(|| p.to_owned());
    }
    first
}

/// Container runtime and id when a cgroup path names one (docker, containerd/CRI, podman,
/// ECS, kubepods), e.g. `/system.slice/docker-<64 hex>.scope` or `/docker/<64 hex>`.
pub fn container(path: &str) -> Option<(String, String)> {
    // The segment holding the id names the runtime (`docker-<id>.scope`); else the path does
    // (`/docker/<id>`).
    let runtime_for = |segment: &str| -> &'static str {
        let named = |needle: &str| segment.contains(needle) || path.contains(&format!("/{needle}"));
        if named("docker") {
            "docker"
        } else if named("libpod") || named("podman") {
            "podman"
        } else if named("cri-containerd") || named("containerd") {
            "containerd"
        } else if named("crio") {
            "cri-o"
        } else if path.contains("/ecs/") {
            "ecs"
        } else if path.contains("kubepods") {
            "kubernetes"
        } else {
            "unknown"
        }
    };
    for segment in path.split('/').rev() {
        // Strip `prefix-` and `.scope` around a 64-hex id.
        let core = segment.strip_suffix(".scope").unwrap_or(segment);
        let id = core.rsplit(['-', ':']).next().unwrap_or(core);
        if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Some((runtime_for(segment).to_owned(), id.to_owned()));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "3f9a1c2b3f9a1c2b3f9a1c2b3f9a1c2b3f9a1c2b3f9a1c2b3f9a1c2b3f9a1c2b";

    /// The cgroup path is read from v2, v1 and hybrid /proc/PID/cgroup; empty or garbage content
    /// gives none.
    #[test]
    fn v2_and_v1_paths() {
        assert_eq!(
            path(b"0::/user.slice/session-3.scope\n").as_deref(),
            Some("/user.slice/session-3.scope")
        );
        let v1 = b"12:pids:/docker/abc\n11:memory:/docker/abc\n";
        assert_eq!(path(v1).as_deref(), Some("/docker/abc"));
        let hybrid = b"1:name=systemd:/init.scope\n0::/init.scope\n";
        assert_eq!(path(hybrid).as_deref(), Some("/init.scope"));
        assert_eq!(path(b""), None);
        assert_eq!(path(b"garbage"), None);
    }

    /// Docker, containerd and podman container ids are read from cgroup paths; a login session's
    /// path has none.
    #[test]
    fn container_ids() {
        let docker = format!("/system.slice/docker-{ID}.scope");
        assert_eq!(container(&docker), Some(("docker".into(), ID.into())));
        assert_eq!(
            container(&format!("/docker/{ID}")),
            Some(("docker".into(), ID.into()))
        );
        let cri = format!("/kubepods/burstable/pod1/cri-containerd-{ID}.scope");
        assert_eq!(container(&cri), Some(("containerd".into(), ID.into())));
        let podman = format!("/machine.slice/libpod-{ID}.scope/container");
        assert_eq!(container(&podman), Some(("podman".into(), ID.into())));
        assert_eq!(
            container("/user.slice/user-1000.slice/session-3.scope"),
            None
        );
    }
}
