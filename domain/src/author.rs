//! Author references: `HMAC-SHA256(key, item kind ‖ item id ‖ member id)`.
//!
//! The reference is stored in the item's events. Given the member and the item, the write
//! side recomputes it to check authorship; without the key nobody can tell whether two
//! references (two posts) belong to the same member, because each mixes in its own item id.

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use uuid::Uuid;

use crate::member::MemberId;

/// The server-side secret behind author references. It never prints.
#[derive(Clone)]
pub struct AuthorKey(Vec<u8>);

impl AuthorKey {
    /// Wraps the secret; at least 32 bytes of key material are required.
    pub fn new(secret: &[u8]) -> Result<Self, WeakKey> {
        if secret.len() < 32 {
            return Err(WeakKey);
        }
        Ok(Self(secret.to_vec()))
    }

    /// The reference of `member` as the author of the item `kind`/`item`.
    pub fn author_ref(&self, kind: &str, item: Uuid, member: MemberId) -> AuthorRef {
        // Construction fails only for invalid key lengths, and HMAC accepts any length.
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
        mac.update(kind.as_bytes());
        mac.update(&[0]);
        mac.update(item.as_bytes());
        mac.update(member.0.as_bytes());
        AuthorRef(hex::encode(mac.finalize().into_bytes()))
    }
}

impl AuthorKey {
    /// A stable pseudonym of `member`, for the member's own aggregate: the same member always
    /// gets the same value, and nothing else in the log is derived the same way.
    pub fn member_ref(&self, member: MemberId) -> AuthorRef {
        self.author_ref("member", Uuid::nil(), member)
    }

    /// A deterministic, unlinkable id for the one item of `kind` that `member` may have in
    /// `scope` (e.g. a review per hospital, a claim per hospital): a second attempt addresses
    /// the same aggregate, and the id reveals nothing without the key.
    pub fn derive_id(&self, kind: &str, scope: Uuid, member: MemberId) -> Uuid {
        let reference = self.author_ref(kind, scope, member);
        let mut bytes = [0u8; 16];
        for (i, byte) in bytes.iter_mut().enumerate() {
            *byte = u8::from_str_radix(&reference.0[2 * i..2 * i + 2], 16).unwrap_or_default();
        }
        uuid::Builder::from_custom_bytes(bytes).into_uuid()
    }
}

impl AuthorKey {
    /// The key that seals `member`'s rows in the private member -> items index.
    pub fn index_key(&self, member: MemberId) -> crate::sealed::ContentKey {
        // No member has the nil id: the nil member's key sealed `item_authors` (ADR 0014).
        self.derived_key("index-key", member)
    }

    /// The key that seals every member's read mark in the member read model (each bound to
    /// its owner by associated data).
    pub fn read_mark_key(&self) -> crate::sealed::ContentKey {
        self.derived_key(READ_MARK_SEAL, MemberId(Uuid::nil()))
    }

    /// The key that seals the member read model's item rows and the notifications addressed
    /// to each item's author (ADR 0014): one key for every item, derived from no member, so
    /// that the projector seals without knowing who wrote anything.
    pub fn item_key(&self) -> crate::sealed::ContentKey {
        self.derived_key("member-item-key", MemberId(Uuid::nil()))
    }

    /// `author_ref(kind, nil, member)` as a 32-byte key.
    fn derived_key(&self, kind: &str, member: MemberId) -> crate::sealed::ContentKey {
        let reference = self.author_ref(kind, Uuid::nil(), member);
        let bytes = hex::decode(&reference.0).unwrap_or_default();
        crate::sealed::ContentKey::from_bytes(&bytes)
            .unwrap_or_else(|| unreachable!("an HMAC-SHA256 is 32 bytes"))
    }
}

/// The associated-data kind (and key derivation) of members' read marks.
pub const READ_MARK_SEAL: &str = "member-read-mark";

impl std::fmt::Debug for AuthorKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorKey(<redacted>)")
    }
}

/// The author key was shorter than 32 bytes.
#[derive(Debug, thiserror::Error)]
#[error("the author key must be at least 32 bytes long")]
pub struct WeakKey;

/// A per-item keyed hash of the author (hex).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuthorRef(pub String);

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(
        clippy::expect_used,
        reason = "a 32-byte key is long enough: AuthorKey::new cannot fail"
    )]
    fn key() -> AuthorKey {
        AuthorKey::new(&[7; 32]).expect("a 32-byte key")
    }

    #[test]
    fn the_same_member_and_item_give_the_same_reference() {
        let (member, item) = (MemberId(Uuid::new_v4()), Uuid::new_v4());
        assert_eq!(
            key().author_ref("post", item, member),
            key().author_ref("post", item, member)
        );
    }

    #[test]
    fn two_items_by_one_member_get_unrelated_references() {
        let member = MemberId(Uuid::new_v4());
        let first = key().author_ref("post", Uuid::new_v4(), member);
        let second = key().author_ref("post", Uuid::new_v4(), member);
        assert_ne!(first, second);
        assert_eq!(first.0.len(), 64);
    }

    #[test]
    fn derived_ids_are_stable_per_scope_and_differ_across_scopes() {
        let (member, hospital) = (MemberId(Uuid::new_v4()), Uuid::new_v4());
        let id = key().derive_id("review", hospital, member);
        assert_eq!(id, key().derive_id("review", hospital, member));
        assert_ne!(id, key().derive_id("review", Uuid::new_v4(), member));
        assert_ne!(id, key().derive_id("affiliation", hospital, member));
        assert_ne!(
            key().member_ref(member),
            key().member_ref(MemberId(Uuid::new_v4()))
        );
    }

    #[test]
    fn a_short_key_is_refused() {
        assert!(AuthorKey::new(b"short").is_err());
    }
}
