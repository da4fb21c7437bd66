//! Content encryption for crypto-shredding: every item's texts are sealed in its events with
//! a data key of its own (XChaCha20-Poly1305). The keys live in a write-side table, not in the
//! event log; destroying an item's key erases its content from every replay of the log.
//!
//! The associated data binds a ciphertext to its item and field, so a ciphertext copied into
//! another item or field does not open.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One item's data key (256 bits). It never prints.
#[derive(Clone)]
pub struct ContentKey([u8; 32]);

impl ContentKey {
    /// A fresh random key.
    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng).into())
    }

    /// The key from its stored bytes.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    /// The bytes to store.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Seals `text` as field `field` of the item `kind`/`item`.
    pub fn seal(&self, kind: &str, item: Uuid, field: &str, text: &str) -> Sealed {
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        let aad = associated_data(kind, item, field);
        // Encryption fails only for inputs beyond 2^38 bytes; Ward's texts are kilobytes.
        let ciphertext = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: text.as_bytes(),
                    aad: &aad,
                },
            )
            .unwrap_or_default();
        Sealed {
            nonce: STANDARD.encode(nonce),
            ciphertext: STANDARD.encode(ciphertext),
        }
    }

    /// Opens what [`ContentKey::seal`] sealed for the same item and field.
    pub fn open(
        &self,
        kind: &str,
        item: Uuid,
        field: &str,
        sealed: &Sealed,
    ) -> Result<String, Unreadable> {
        let nonce = STANDARD.decode(&sealed.nonce).map_err(|_| Unreadable)?;
        if nonce.len() != 24 {
            return Err(Unreadable);
        }
        let ciphertext = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| Unreadable)?;
        let cipher = XChaCha20Poly1305::new((&self.0).into());
        let aad = associated_data(kind, item, field);
        let plain = cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: &ciphertext,
                    aad: &aad,
                },
            )
            .map_err(|_| Unreadable)?;
        String::from_utf8(plain).map_err(|_| Unreadable)
    }
}

impl std::fmt::Debug for ContentKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ContentKey(<redacted>)")
    }
}

fn associated_data(kind: &str, item: Uuid, field: &str) -> Vec<u8> {
    format!("ward:{kind}:{item}:{field}").into_bytes()
}

/// A sealed text as it appears in an event payload.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sealed {
    /// The 24-byte nonce, base64.
    pub nonce: String,
    /// Ciphertext and tag, base64.
    pub ciphertext: String,
}

/// A text inside an event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventText {
    /// Sealed with the item's content key (every event written since content encryption).
    Sealed(Sealed),
    /// Plain text, from events written before content encryption existed.
    Legacy(String),
}

/// The text cannot be opened: wrong key, wrong item or field, or tampered with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the sealed text cannot be opened")]
pub struct Unreadable;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_text_opens_with_its_key_item_and_field_only() {
        let (key, item) = (ContentKey::generate(), Uuid::new_v4());
        let sealed = key.seal("post", item, "body", "야간 근무 이야기");
        assert!(!sealed.ciphertext.contains("야간"));
        assert_eq!(
            key.open("post", item, "body", &sealed).as_deref(),
            Ok("야간 근무 이야기")
        );
        assert_eq!(key.open("post", item, "title", &sealed), Err(Unreadable));
        assert_eq!(
            key.open("post", Uuid::new_v4(), "body", &sealed),
            Err(Unreadable)
        );
        assert_eq!(
            ContentKey::generate().open("post", item, "body", &sealed),
            Err(Unreadable)
        );
    }

    #[test]
    fn sealing_twice_gives_different_ciphertexts() {
        let (key, item) = (ContentKey::generate(), Uuid::new_v4());
        assert_ne!(
            key.seal("post", item, "t", "same"),
            key.seal("post", item, "t", "same")
        );
    }

    #[test]
    fn a_tampered_text_does_not_open() {
        let (key, item) = (ContentKey::generate(), Uuid::new_v4());
        let mut sealed = key.seal("post", item, "t", "text");
        sealed.ciphertext = STANDARD.encode(b"garbage garbage garbage");
        assert_eq!(key.open("post", item, "t", &sealed), Err(Unreadable));
        assert!(ContentKey::from_bytes(&[0; 31]).is_none());
    }
}
