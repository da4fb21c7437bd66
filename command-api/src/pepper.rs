//! The identity pepper: the secret keying the only traces Ward keeps of an OAuth identity
//! (`identities`) and of a verified work address (`verified_emails`). Neither the subject
//! nor the address is stored, so hashes cannot be recomputed under a new pepper; rotation is
//! lazy instead. With `previous_identity_pepper` set, a value not found under the current
//! pepper is looked up under the previous one, and an identity found there is re-stored
//! under the current pepper at that sign-in (docs/operations.md, "Rotating keys").

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use ward_platform::config::CommandApiConfig;

/// The pepper in force and, during a rotation, the one it replaces.
#[derive(Clone)]
pub struct Peppers {
    current: Vec<u8>,
    previous: Option<Vec<u8>>,
}

impl Peppers {
    /// The configured peppers; `None` without a current one (sign-in is then unavailable).
    pub fn from_config(config: &CommandApiConfig) -> Option<Self> {
        let bytes = |secret: &secrecy::SecretString| secret.expose_secret().as_bytes().to_vec();
        Some(Self {
            current: config.identity_pepper.as_ref().map(bytes)?,
            previous: config.previous_identity_pepper.as_ref().map(bytes),
        })
    }

    /// Test and tool use: peppers from raw bytes.
    pub fn new(current: &[u8], previous: Option<&[u8]>) -> Self {
        Self {
            current: current.to_vec(),
            previous: previous.map(<[u8]>::to_vec),
        }
    }

    /// `HMAC-SHA256(current pepper, parts concatenated)`, hex.
    pub fn current(&self, parts: &[&[u8]]) -> String {
        hash(&self.current, parts)
    }

    /// The same under the previous pepper, during a rotation.
    pub fn previous(&self, parts: &[&[u8]]) -> Option<String> {
        self.previous.as_deref().map(|pepper| hash(pepper, parts))
    }

    /// The hash under every configured pepper, current first.
    pub fn all(&self, parts: &[&[u8]]) -> Vec<String> {
        std::iter::once(self.current(parts))
            .chain(self.previous(parts))
            .collect()
    }
}

fn hash(pepper: &[u8], parts: &[&[u8]]) -> String {
    // HMAC takes a key of any length; new_from_slice cannot fail for it.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(pepper)
        .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
    for part in parts {
        mac.update(part);
    }
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_differ_per_pepper_and_list_the_current_first() {
        let peppers = Peppers::new(b"new-pepper", Some(b"old-pepper"));
        let parts: [&[u8]; 3] = [b"kakao", &[0], b"12345"];
        let all = peppers.all(&parts);
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], peppers.current(&parts));
        assert_eq!(Some(all[1].clone()), peppers.previous(&parts));
        assert_ne!(all[0], all[1]);
        assert_eq!(
            Peppers::new(b"old-pepper", None).current(&parts),
            all[1],
            "the previous pepper hashes as it did when it was current"
        );
        assert_eq!(Peppers::new(b"x", None).all(&parts).len(), 1);
    }
}
