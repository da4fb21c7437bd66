-- Work addresses that verified a claim, kept only as HMAC-SHA256(identity pepper, "email" ‖
-- 0x00 ‖ lowercase address): one address verifies one claim (one member at one hospital),
-- and the table holds no address. The claim id links to no member without the author key.
CREATE TABLE verified_emails
(
    address_hash text PRIMARY KEY,
    claim_id     text        NOT NULL,
    verified_at  timestamptz NOT NULL DEFAULT now()
);
