//! Chain of custody: the keys vestige signs manifests with, the keys it checks signatures
//! against, and the age recipients evidence is encrypted to.
//!
//! Ed25519 comes from ring, the library the TLS stack already links; the age format
//! (X25519 recipients, ChaCha20-Poly1305 streams) from the `age` crate, so `age -d` opens
//! what vestige stores. Key formats are the ones public tools write:
//! - private signing key: PKCS#8 (`openssl genpkey -algorithm ed25519`), PEM or DER, or the
//!   DER as one line of base64;
//! - public key: PEM SubjectPublicKeyInfo (`openssl pkey -pubout`), its DER, or the raw 32
//!   bytes in base64 (what the summary line prints);
//! - recipients: `age1…` (`age-keygen`); identities: an age identity file.

use base64::Engine;
use ring::signature::{self, Ed25519KeyPair, KeyPair, UnparsedPublicKey};
use std::fmt;
use std::str::FromStr;

/// Object path of the manifest's signature: the 64 raw signature bytes over the exact bytes
/// of `manifest.json` (`openssl pkeyutl -verify -rawin` checks it).
pub const SIGNATURE_PATH: &str = "manifest.json.sig";

/// Environment variable holding the signing key (PEM text, or base64 of the DER).
pub const SIGNING_KEY_ENV: &str = "VESTIGE_SIGNING_KEY";

/// Suffix of encrypted objects.
pub const AGE_SUFFIX: &str = ".age";

/// Largest key file read (keys are a few hundred bytes).
const MAX_KEY_FILE: u64 = 64 * 1024;

/// DER prefix of an Ed25519 SubjectPublicKeyInfo (RFC 8410): SEQUENCE { SEQUENCE { OID
/// 1.3.101.112 }, BIT STRING (0 unused bits) } followed by the 32 key bytes.
const ED25519_SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// The base64 body of the first PEM block labelled `label`, decoded.
fn pem_block(text: &str, label: &str) -> Option<Result<Vec<u8>, String>> {
    let begin = format!("-----BEGIN {label}-----");
    let end = format!("-----END {label}-----");
    let start = text.find(&begin)? + begin.len();
    let rest = text.get(start..)?;
    let Some(stop) = rest.find(&end) else {
        return Some(Err(format!("PEM block `{label}` has no END line")));
    };
    let body: String = rest
        .get(..stop)
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    Some(
        b64()
            .decode(body)
            .map_err(|e| format!("PEM block `{label}`: {e}")),
    )
}

fn looks_like_base64(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// A key that signs manifests.
pub struct SigningKey {
    pair: Ed25519KeyPair,
    origin: KeyOrigin,
}

/// Where the signing key came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyOrigin {
    /// The response team's key (file or environment).
    Provided,
    /// Generated for this collection only; its public key is in the summary line.
    Ephemeral,
}

impl KeyOrigin {
    /// `provided` or `ephemeral`, as the manifest and summary name it.
    pub fn as_str(self) -> &'static str {
        match self {
            KeyOrigin::Provided => "provided",
            KeyOrigin::Ephemeral => "ephemeral",
        }
    }
}

impl fmt::Debug for SigningKey {
    // Never prints key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key().to_string())
            .field("origin", &self.origin)
            .finish()
    }
}

impl SigningKey {
    /// Parses a PKCS#8 Ed25519 private key: PEM (`-----BEGIN PRIVATE KEY-----`), DER, or
    /// the DER as base64 text.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) => match pem_block(text, "PRIVATE KEY") {
                Some(der) => der?,
                None if text.contains("-----BEGIN") => {
                    return Err(
                        "not a PKCS#8 `PRIVATE KEY` PEM block (an encrypted or legacy key? \
                         write one with `openssl genpkey -algorithm ed25519`)"
                            .into(),
                    )
                }
                None if looks_like_base64(text.trim()) => b64()
                    .decode(text.trim())
                    .map_err(|e| format!("base64: {e}"))?,
                None => bytes.to_vec(),
            },
            Err(_) => bytes.to_vec(),
        };
        // v1 (what `openssl genpkey` writes) or v2 (with the public key, checked).
        let pair = Ed25519KeyPair::from_pkcs8_maybe_unchecked(&der)
            .map_err(|e| format!("not a PKCS#8 Ed25519 private key: {e}"))?;
        Ok(Self {
            pair,
            origin: KeyOrigin::Provided,
        })
    }

    /// Reads a key file (at most 64 KiB).
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE).read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Self::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }

    /// A fresh key pair for one collection.
    pub fn ephemeral() -> Result<Self, String> {
        let fail = "cannot generate an Ed25519 key pair";
        let doc = Ed25519KeyPair::generate_pkcs8(&ring::rand::SystemRandom::new())
            .map_err(|_| fail.to_owned())?;
        let pair = Ed25519KeyPair::from_pkcs8(doc.as_ref()).map_err(|_| fail.to_owned())?;
        Ok(Self {
            pair,
            origin: KeyOrigin::Ephemeral,
        })
    }

    /// Where it came from.
    pub fn origin(&self) -> KeyOrigin {
        self.origin
    }

    /// Its public half.
    pub fn public_key(&self) -> PublicKey {
        let mut raw = [0u8; 32];
        let bytes = self.pair.public_key().as_ref();
        if let Some(src) = bytes.get(..32) {
            raw.copy_from_slice(src);
        }
        PublicKey(raw)
    }

    /// The 64-byte Ed25519 signature of `message`.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair.sign(message).as_ref().to_vec()
    }
}

/// An Ed25519 public key. Displays as base64 of the raw 32 bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey([u8; 32]);

impl fmt::Display for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&b64().encode(self.0))
    }
}

impl PublicKey {
    /// Parses PEM SPKI (`-----BEGIN PUBLIC KEY-----`), SPKI DER, or base64 of the raw 32
    /// bytes or of the SPKI DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, String> {
        let der = match std::str::from_utf8(bytes) {
            Ok(text) => match pem_block(text, "PUBLIC KEY") {
                Some(der) => der?,
                None if looks_like_base64(text.trim()) => b64()
                    .decode(text.trim())
                    .map_err(|e| format!("base64: {e}"))?,
                None => bytes.to_vec(),
            },
            Err(_) => bytes.to_vec(),
        };
        let raw = match der.len() {
            32 => der.as_slice(),
            44 if der.starts_with(&ED25519_SPKI_PREFIX) => der.get(12..).unwrap_or_default(),
            _ => {
                return Err(
                    "not an Ed25519 public key (want PEM from `openssl pkey -pubout`, or the \
                     base64 key printed in the summary line)"
                        .into(),
                )
            }
        };
        let mut key = [0u8; 32];
        key.copy_from_slice(raw);
        Ok(Self(key))
    }

    /// `--public-key` takes the key itself (base64) or a file holding it.
    pub fn from_arg(arg: &str) -> Result<Self, String> {
        if looks_like_base64(arg) {
            if let Ok(k) = Self::from_bytes(arg.as_bytes()) {
                return Ok(k);
            }
        }
        use std::io::Read;
        let path = std::path::Path::new(arg);
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE).read_to_end(&mut bytes))
            .map_err(|e| format!("{arg}: neither a base64 Ed25519 public key nor a file: {e}"))?;
        Self::from_bytes(&bytes).map_err(|e| format!("{arg}: {e}"))
    }

    /// The raw 32 bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `sig` is this key's signature of `message`.
    pub fn verifies(&self, message: &[u8], sig: &[u8]) -> bool {
        UnparsedPublicKey::new(&signature::ED25519, &self.0)
            .verify(message, sig)
            .is_ok()
    }
}

impl FromStr for PublicKey {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::from_bytes(s.as_bytes())
    }
}

/// The age recipients a collection is encrypted to.
#[derive(Clone)]
pub struct Recipients {
    keys: Vec<age::x25519::Recipient>,
    text: Vec<String>,
}

impl fmt::Debug for Recipients {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.text).finish()
    }
}

impl Recipients {
    /// Parses `age1…` recipients; duplicates are dropped, order kept.
    pub fn parse<'a>(list: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut keys = Vec::new();
        let mut text: Vec<String> = Vec::new();
        for r in list {
            let r = r.trim();
            let key = age::x25519::Recipient::from_str(r).map_err(|e| {
                format!(
                    "`{}` is not an age X25519 recipient (age1…): {e}",
                    r.escape_debug()
                )
            })?;
            if !text.iter().any(|t| t == r) {
                keys.push(key);
                text.push(r.to_owned());
            }
        }
        Ok(Self { keys, text })
    }

    /// No recipients: nothing is encrypted.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The recipients as given.
    pub fn as_strings(&self) -> &[String] {
        &self.text
    }

    /// An age encryptor for one object (each object gets its own file key).
    pub fn encryptor(&self) -> Result<age::Encryptor, String> {
        age::Encryptor::with_recipients(self.keys.iter().map(|k| k as &dyn age::Recipient))
            .map_err(|e| format!("age: {e}"))
    }
}

/// Identities that open age objects (an age identity file: `AGE-SECRET-KEY-1…` lines).
pub struct Identities(Vec<Box<dyn age::Identity + Send + Sync>>);

impl fmt::Debug for Identities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identities({} keys)", self.0.len())
    }
}

impl Identities {
    /// Reads an identity file.
    pub fn from_file(path: &std::path::Path) -> Result<Self, String> {
        use std::io::Read;
        let mut bytes = Vec::new();
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_KEY_FILE).read_to_end(&mut bytes))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        let file = age::IdentityFile::from_buffer(&bytes[..])
            .map_err(|e| format!("{}: not an age identity file: {e}", path.display()))?;
        let ids = file
            .into_identities()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if ids.is_empty() {
            return Err(format!("{}: holds no age identity", path.display()));
        }
        Ok(Self(ids))
    }

    /// A reader of the plaintext of an age stream.
    pub fn decrypt<'a, R: std::io::Read + 'a>(
        &self,
        input: R,
    ) -> Result<Box<dyn std::io::Read + 'a>, String> {
        let d = age::Decryptor::new(input).map_err(|e| format!("not an age object: {e}"))?;
        let r = d
            .decrypt(self.0.iter().map(|i| i.as_ref() as &dyn age::Identity))
            .map_err(|e| format!("cannot decrypt: {e}"))?;
        Ok(Box::new(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // `openssl genpkey -algorithm ed25519` and `openssl pkey -pubout` of it.
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJXuVS7joHY/tbgGWnqyjy1PD3wS50t4yR/gNEQbWHDc\n-----END PRIVATE KEY-----\n";
    const PUB_PEM: &str = "-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEAzsDSLw2+uR6MklA8jJ5qDdel/xEBN4WK7UUBM1mgOCg=\n-----END PUBLIC KEY-----\n";

    /// [security] An OpenSSL Ed25519 key (PEM, DER, base64) signs, its public key verifies only the
    /// signed bytes, and the printed public key parses back.
    #[test]
    fn openssl_keys_parse_and_sign() {
        let key = SigningKey::from_bytes(PEM.as_bytes()).unwrap();
        assert_eq!(key.origin(), KeyOrigin::Provided);
        let public = PublicKey::from_bytes(PUB_PEM.as_bytes()).unwrap();
        assert_eq!(key.public_key(), public);
        let sig = key.sign(b"manifest");
        assert_eq!(sig.len(), 64);
        assert!(public.verifies(b"manifest", &sig));
        assert!(!public.verifies(b"manifesT", &sig));
        // The printed form parses back.
        let printed = public.to_string();
        assert_eq!(printed.len(), 44);
        assert_eq!(PublicKey::from_arg(&printed).unwrap(), public);
        // DER and base64-of-DER forms of the private key.
        let der = pem_block(PEM, "PRIVATE KEY").unwrap().unwrap();
        assert!(SigningKey::from_bytes(&der).is_ok());
        assert!(SigningKey::from_bytes(b64().encode(&der).as_bytes()).is_ok());
    }

    /// [security] Empty, RSA, non-base64, truncated and binary private keys and bad public keys are
    /// refused.
    #[test]
    fn bad_keys_are_refused_with_a_reason() {
        for bad in [
            &b""[..],
            b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nnot base64!\n-----END PRIVATE KEY-----\n",
            b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n",
            b"\xff\xfe",
        ] {
            assert!(SigningKey::from_bytes(bad).is_err(), "{bad:?}");
        }
        assert!(PublicKey::from_bytes(b"AAAA").is_err());
        assert!(PublicKey::from_arg("/nonexistent/key.pem").is_err());
    }

    /// [security] Two ephemeral signing keys differ, say they are ephemeral, and their debug form
    /// holds no private key.
    #[test]
    fn ephemeral_keys_differ() {
        let a = SigningKey::ephemeral().unwrap();
        let b = SigningKey::ephemeral().unwrap();
        assert_ne!(a.public_key(), b.public_key());
        assert_eq!(a.origin(), KeyOrigin::Ephemeral);
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }

    /// [security] age recipients parse (duplicates kept once, bad ones refused) and what is
    /// encrypted to them decrypts with the identity.
    #[test]
    fn recipients_parse_and_round_trip() {
        let id = age::x25519::Identity::generate();
        let r = id.to_public().to_string();
        let rs = Recipients::parse([r.as_str(), r.as_str()]).unwrap();
        assert_eq!(rs.as_strings(), std::slice::from_ref(&r));
        assert!(Recipients::parse(["age1notakey"]).is_err());
        assert!(Recipients::parse(["ssh-ed25519 AAAA"]).is_err());
        let mut out = Vec::new();
        let mut w = rs.encryptor().unwrap().wrap_output(&mut out).unwrap();
        std::io::Write::write_all(&mut w, b"evidence").unwrap();
        w.finish().unwrap();
        let ids = Identities(vec![Box::new(id)]);
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut ids.decrypt(&out[..]).unwrap(), &mut back).unwrap();
        assert_eq!(back, b"evidence");
    }
}
