//! The PostgreSQL schema migrations embedded in the binary (`../migrations/postgres/`).

use crate::storage::engine::EmbeddedMigration;

/// Schema migrations, in order. Never edit an applied one; add a new one.
pub(super) const MIGRATIONS: &[EmbeddedMigration] = &[
    (
        1,
        "journal and peers",
        include_str!("../migrations/postgres/0001_journal_and_peers.sql"),
    ),
    (
        2,
        "access records",
        include_str!("../migrations/postgres/0002_access_records.sql"),
    ),
    (
        3,
        "merkle log",
        include_str!("../migrations/postgres/0003_merkle_log.sql"),
    ),
    (
        4,
        "flow state",
        include_str!("../migrations/postgres/0004_flow_state.sql"),
    ),
    (
        5,
        "subject pseudonyms",
        include_str!("../migrations/postgres/0005_subject_pseudonyms.sql"),
    ),
    (
        6,
        "gateway feed",
        include_str!("../migrations/postgres/0006_gateway_feed.sql"),
    ),
    (
        7,
        "region duties",
        include_str!("../migrations/postgres/0007_region_duties.sql"),
    ),
    (
        8,
        "records by import",
        include_str!("../migrations/postgres/0008_records_by_import.sql"),
    ),
    (
        9,
        "record copies",
        include_str!("../migrations/postgres/0009_record_copies.sql"),
    ),
    (
        10,
        "data keys",
        include_str!("../migrations/postgres/0010_data_keys.sql"),
    ),
    (
        11,
        "attachment parts",
        include_str!("../migrations/postgres/0011_attachment_parts.sql"),
    ),
    (
        12,
        "entry attachments",
        include_str!("../migrations/postgres/0012_entry_attachments.sql"),
    ),
];
