//! uid → user name, from /etc/passwd (no NSS: a static binary cannot load its modules).

use std::collections::HashMap;
use std::path::Path;

/// Names of local users by uid.
#[derive(Debug, Default, Clone)]
pub struct UserNames(HashMap<u32, String>);

impl UserNames {
    /// Reads a passwd file; an unreadable file gives an empty table.
    pub fn load(path: &Path) -> Self {
        match crate::procfs::read::read_small(path) {
            Ok(buf) => Self::parse(&buf),
            Err(_) => Self::default(),
        }
    }

    /// Parses passwd lines (`name:x:uid:gid:...`); the first name for a uid wins.
    pub fn parse(buf: &[u8]) -> Self {
        let mut map = HashMap::new();
        for line in String::from_utf8_lossy(buf).lines() {
            let mut parts = line.split(':');
            let (Some(name), Some(_), Some(uid)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if let Ok(uid) = uid.parse::<u32>() {
                map.entry(uid).or_insert_with(|| name.to_owned());
            }
        }
        Self(map)
    }

    /// The name of `uid`, if listed.
    pub fn name(&self, uid: u32) -> Option<&str> {
        self.0.get(&uid).map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_passwd() {
        let u = UserNames::parse(b"root:x:0:0:root:/root:/bin/bash\n# comment\nbroken\nalice:x:1000:1000::/home/alice:/bin/sh\ntoor:x:0:0::/:/bin/sh\n");
        assert_eq!(u.name(0), Some("root"));
        assert_eq!(u.name(1000), Some("alice"));
        assert_eq!(u.name(5), None);
    }
}
