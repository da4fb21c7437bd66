-- Identities in their second form (ADR 0014): the row key and a sealed member id, both
-- derived with Argon2id from the provider's subject, so that without the subject no row
-- names a member. Rows of the first form (a keyed hash beside a clear member id) move to the
-- second at the member's next sign-in; until then member_id stays. The first sign-in's time
-- is not kept.
ALTER TABLE identities
    ALTER COLUMN member_id DROP NOT NULL,
    ADD COLUMN nonce text,
    ADD COLUMN ciphertext text,
    DROP COLUMN created_at,
    ADD CONSTRAINT identities_one_form CHECK ((member_id IS NULL) = (nonce IS NOT NULL)
                                             AND (nonce IS NULL) = (ciphertext IS NULL));
