-- credex storage: the region's duties lease (docs/decisions/1020-a-region-over-several-processes.md).
-- Every process of a region writes the journal; one at a time does the
-- region's duties (outbox delivery, upward reporting, witnessing, the
-- watches). It holds this row until expires_at_ms; token, the fencing
-- token, grows by one at every change of holder.
CREATE TABLE region_lease (
    duty TEXT PRIMARY KEY
        CONSTRAINT region_lease_duty_len CHECK (length(duty) BETWEEN 1 AND 64),
    holder TEXT NOT NULL
        CONSTRAINT region_lease_holder_len CHECK (length(holder) BETWEEN 1 AND 256),
    token BIGINT NOT NULL
        CONSTRAINT region_lease_token_range CHECK (token >= 1),
    expires_at_ms BIGINT NOT NULL
);
