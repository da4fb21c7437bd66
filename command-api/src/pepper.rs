//! The identity pepper: the secret keying the only traces Ward keeps of an OAuth identity
//! (`identities`) and of a verified work address (`verified_emails`). Neither the subject
//! nor the address is stored, so hashes cannot be recomputed under a new pepper; rotation is
//! lazy instead. With `previous_identity_pepper` set, a value not found under the current
//! pepper is looked up under the previous one, and an identity found there is re-stored
//! under the current pepper at that sign-in (docs/operations.md, "Rotating keys").

use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::Sha256;
use ward_domain::sealed::ContentKey;
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

impl Peppers {
    /// The keys of a sign-in identity under every configured pepper, current first: each is
    /// derived with Argon2id from the pepper and `parts` (ADR 0014).
    pub fn identity_keys(&self, parts: &[&[u8]]) -> anyhow::Result<Vec<IdentityKeys>> {
        std::iter::once(&self.current)
            .chain(self.previous.as_ref())
            .map(|pepper| IdentityKeys::derive(pepper, parts))
            .collect()
    }
}

/// What Ward keeps of a sign-in identity is found by `lookup` and opened with `seal`; both
/// come from one Argon2id evaluation of the provider's subject under the pepper, so without
/// the subject neither can be computed, and guessing subjects (Kakao's are numbers) costs a
/// memory-hard evaluation per guess even with the pepper.
pub struct IdentityKeys {
    /// The identity's row key (hex).
    pub lookup: String,
    /// The key that seals the row's member id.
    pub seal: ContentKey,
}

/// Argon2id's cost: 19 MiB, two passes, one lane (OWASP's first recommendation). Changing
/// these changes every identity's keys: they are fixed.
const ARGON2_MEMORY_KIB: u32 = 19 * 1024;
const ARGON2_PASSES: u32 = 2;
/// Argon2 needs a salt; the pepper (its secret input) makes the derivation Ward's own.
const ARGON2_SALT: &[u8] = b"ward-identity-v2";

impl IdentityKeys {
    fn derive(pepper: &[u8], parts: &[&[u8]]) -> anyhow::Result<Self> {
        use argon2::{Algorithm, Argon2, Params, Version};
        let params = Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, 1, Some(32))
            .map_err(|e| anyhow::anyhow!("Argon2 parameters: {e}"))?;
        let argon = Argon2::new_with_secret(pepper, Algorithm::Argon2id, Version::V0x13, params)
            .map_err(|e| anyhow::anyhow!("Argon2 with the pepper: {e}"))?;
        let mut secret = [0u8; 32];
        argon
            .hash_password_into(&parts.concat(), ARGON2_SALT, &mut secret)
            .map_err(|e| anyhow::anyhow!("Argon2: {e}"))?;
        let seal = hex::decode(hash(&secret, &[b"member-seal"]))?;
        Ok(Self {
            lookup: hash(&secret, &[b"identity"]),
            seal: ContentKey::from_bytes(&seal)
                .ok_or_else(|| anyhow::anyhow!("an HMAC-SHA256 is 32 bytes"))?,
        })
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
