-- credex storage, PostgreSQL: natural persons by keyed pseudonym
-- (docs/decisions/0630-pseudonym-key.md). No citizen ID is stored in clear.
-- Keys use the "C" collation so that paging orders them bytewise, as
-- SQLite does.

-- One row per natural person with records here. subject_key is the
-- records' subject_key (a node-local keyed pseudonym, stable across
-- federation key epochs); sealed_id is the citizen ID sealed with
-- AES-256-GCM under the node's vault key (nonce ‖ ciphertext ‖ tag, the
-- subject_key as associated data), opened only to add a new epoch's alias.
CREATE TABLE subject_vault (
    subject_key TEXT COLLATE "C" PRIMARY KEY
        CONSTRAINT subject_vault_key_len CHECK (length(subject_key) BETWEEN 1 AND 256),
    sealed_id BYTEA NOT NULL
        CONSTRAINT subject_vault_sealed_len CHECK (octet_length(sealed_id) BETWEEN 1 AND 256)
);

-- The federation pseudonym of each person under every epoch of the
-- node's key ring: a query naming the person under any of them finds the
-- same records. Rows of an epoch dropped from the ring are deleted.
CREATE TABLE subject_aliases (
    epoch BIGINT NOT NULL
        CONSTRAINT subject_aliases_epoch_range CHECK (epoch BETWEEN 1 AND 4294967295),
    pseudonym BYTEA NOT NULL
        CONSTRAINT subject_aliases_pseudonym_len CHECK (octet_length(pseudonym) = 32),
    subject_key TEXT COLLATE "C" NOT NULL REFERENCES subject_vault (subject_key),
    PRIMARY KEY (epoch, pseudonym)
);
