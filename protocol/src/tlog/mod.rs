//! The access log's transparency-log layer (访问日志): RFC 6962 Merkle tree
//! math and the C2SP text and tile formats built around it.
//!
//! What is here:
//! - [`hash`]: SHA-256 leaf and interior hashes (RFC 6962 §2.1), the empty
//!   root, and a streaming root builder ([`CompactTree`]);
//! - [`store`]: the Go `sumdb/tlog` layout of *stored hashes* (every complete
//!   subtree hash, in append order) and the [`HashReader`] trait through
//!   which proofs read them, with an in-memory [`MemoryHashStore`];
//! - [`proof`]: tree hashes, inclusion and consistency proofs — generation
//!   against a [`HashReader`], and allocation-free verification that returns
//!   a typed [`VerifyError`] for any hostile proof;
//! - [`note`]: C2SP signed notes (`c2sp.org/signed-note`), verifier keys and
//!   Ed25519 note signatures;
//! - [`sm2`]: SM2 note signatures for the `sm2-sm3` suite (type `0xff` and
//!   an identifier, the extension the signed-note specification reserves);
//! - [`sm3`]: the `sm2-sm3` suite's SM3 tree over the same leaves, whose
//!   root a checkpoint extension line carries (decision 1100);
//! - [`checkpoint`]: C2SP checkpoints (`c2sp.org/tlog-checkpoint`) and opening
//!   a signed checkpoint against the log's key and its cosigners;
//! - [`cosignature`]: C2SP Ed25519 cosignatures (`c2sp.org/tlog-cosignature`,
//!   `cosignature/v1`);
//! - [`tiles`]: C2SP tiles (`c2sp.org/tlog-tiles`): paths, entry bundles,
//!   computing the tiles of a tree and verifying an exported set of them;
//! - [`tlog_proof`]: C2SP offline inclusion proofs (`c2sp.org/tlog-proof`).
//!
//! What is not here: no files, sockets, clock or randomness. Keys come in as
//! `ring` or `credex-gm` key pairs or verifier-key strings, time as a POSIX timestamp, stored
//! hashes and tiles through the [`HashReader`] and [`TileSource`] traits. The
//! node keeps the hashes in its database; the auditor reads an exported tile
//! directory; both use this module unchanged.
//!
//! The formats were written from the C2SP specifications rather than taken
//! from the `tlog_tiles`/`signed_note` crates; decision 0300 says why.

pub mod checkpoint;
pub mod cosignature;
pub mod hash;
pub mod note;
pub mod proof;
pub mod sm2;
pub mod sm3;
pub mod store;
pub mod tiles;
pub mod tlog_proof;

mod b64;

pub use checkpoint::{
    Checkpoint, CheckpointError, OpenCheckpointError, SignedCheckpoint, credex_origin,
    open_checkpoint,
};
pub use cosignature::{
    COSIGNATURE_V1_HEADER, CosignError, Cosignature, CosignatureFormatError,
    MAX_COSIGNATURE_TIMESTAMP, cosign, cosigned_message,
};
pub use hash::{
    CompactTree, CompactTreeOf, EMPTY_ROOT, HASH_SIZE, Hash, HashDecodeError, Sha256Tree,
    TreeHasher, leaf_hash, node_hash, root_from_leaf_hashes,
};
pub use note::{
    KeyId, KeyName, KeyNameError, MAX_NOTE_BYTES, MAX_NOTE_SIGNATURES, Note, NoteError,
    NoteSignature, NoteVerifyError, SignatureType, VerifiedNote, VerifiedSignature, VerifierKey,
    VerifierKeyError, key_id,
};
pub use proof::{
    MAX_PROOF_HASHES, ProofBytesError, ProveError, VerifyError, consistency_proof_indexes,
    inclusion_proof_indexes, proof_from_bytes, proof_to_bytes, prove_consistency, prove_inclusion,
    root_from_inclusion_proof, tree_hash, tree_hash_indexes, verify_consistency, verify_inclusion,
};
pub use sm2::{SM2_SIGNATURE_LEN, SM2_SM3_IDENTIFIER, sm2_note_message};
pub use sm3::{
    SM3_EMPTY_ROOT, SM3_TREE_LINE, Sm3CompactTree, Sm3LineError, Sm3Tree, sm3_leaf_hash,
    sm3_node_hash, sm3_root_from_leaf_hashes, sm3_tree_line,
};
pub use store::{
    HashReadError, HashReader, MAX_TREE_SIZE, MemoryHashStore, append_indexes,
    split_stored_hash_index, stored_hash_count, stored_hash_index, stored_hashes_for_leaf,
};
pub use tiles::{
    EntryBundleError, EntryBundleId, MAX_ENTRY_BYTES, MemoryTiles, TILE_HEIGHT, TILE_WIDTH,
    TileError, TileHashReader, TileId, TilePath, TilePathError, TileReadError, TileSource,
    decode_entry_bundle, encode_entry_bundle, entry_bundles_for_size, export_entry_bundles,
    export_tiles, new_tiles, read_tile, tile_for_size, tiles_for_size, verify_entry_bundles,
    verify_tiles,
};
pub use tlog_proof::{MAX_PROOF_EXTRA, TLOG_PROOF_HEADER, TlogProof, TlogProofError};
