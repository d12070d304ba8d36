//! C2SP tiles: path vectors from the spec, the tile sets the spec describes
//! for sizes 256 and 70,000, entry bundles, and exports of sizes 1, 255,
//! 256, 257 and 65,539 whose every tile and bundle must match the digests an
//! independent generator (data/tlog/gen_vectors.py) computed — then verify,
//! serve proofs, and catch tampering.

use ring::digest::{SHA256, digest};
use serde_json::Value;

use credex_protocol::tlog::{
    EntryBundleError, EntryBundleId, Hash, MemoryHashStore, MemoryTiles, TileError, TileHashReader,
    TileId, TilePath, TileReadError, decode_entry_bundle, encode_entry_bundle,
    entry_bundles_for_size, export_entry_bundles, export_tiles, leaf_hash, new_tiles,
    prove_consistency, prove_inclusion, tiles_for_size, tree_hash, verify_entry_bundles,
    verify_inclusion, verify_tiles,
};

fn tile(level: u8, index: u64, width: u16) -> TileId {
    TileId::new(level, index, width).expect("tile")
}

#[test]
fn tile_paths_follow_the_spec_examples() {
    let cases = [
        (tile(0, 1_234_067, 8), "tile/0/x001/x234/067.p/8"),
        (tile(0, 1_234_067, 256), "tile/0/x001/x234/067"),
        (tile(1, 0, 1), "tile/1/000.p/1"),
        (tile(0, 1, 256), "tile/0/001"),
        (tile(5, 123_456_078, 2), "tile/5/x123/x456/078.p/2"),
        (tile(0, 3_057_500, 256), "tile/0/x003/x057/500"),
        (tile(0, 1000, 255), "tile/0/x001/000.p/255"),
        (
            tile(63, u64::MAX, 256),
            "tile/63/x018/x446/x744/x073/x709/x551/615",
        ),
    ];
    for (t, path) in cases {
        assert_eq!(t.path(), path);
        assert_eq!(TilePath::parse(path), Ok(TilePath::Hashes(t)), "{path}");
    }
    let bundle = EntryBundleId::new(1_234_067, 8).expect("bundle");
    assert_eq!(bundle.path(), "tile/entries/x001/x234/067.p/8");
    assert_eq!(
        TilePath::parse("tile/entries/x001/x234/067.p/8"),
        Ok(TilePath::Entries(bundle))
    );
    assert_eq!(
        TilePath::parse("tile/entries/000"),
        Ok(TilePath::Entries(
            EntryBundleId::new(0, 256).expect("bundle")
        ))
    );
}

#[test]
fn non_canonical_tile_paths_are_refused() {
    for path in [
        "tile/0/x13/x4/5",
        "tile/0/x001/x234/67",
        "tile/0/001/234/067",
        "tile/0/x001",
        "tile/00/000",
        "tile/01/000",
        "tile/-1/000",
        "tile/64/000",
        "tile/0/000.p/256",
        "tile/0/000.p/0",
        "tile/0/000.p/08",
        "tile/0/000.p/",
        "tile/0/000.p",
        "tile/0/000/",
        "tile/0/",
        "tile/0",
        "tile/entries/000.p/300",
        "tile/entries/x000/001",
        "tile/data/000",
        // Go sumdb's tile/H/L/N form is not C2SP.
        "tile/8/0/000",
        "tile/8/0/x001/x234/067.p/8",
        // u64::MAX + 1.
        "tile/0/x018/x446/x744/x073/x709/x551/616",
        "tiles/0/000",
        "/tile/0/000",
        "tile/0/000 ",
        "tile/0/+00",
        "tile/0/x018/x446/x744/x073/x709/x551/x615/000/000/000/000",
    ] {
        assert!(TilePath::parse(path).is_err(), "{path} accepted");
    }
    assert!(TileId::new(64, 0, 1).is_err());
    assert!(TileId::new(0, 0, 0).is_err());
    assert!(TileId::new(0, 0, 257).is_err());
}

fn paths(tiles: impl IntoIterator<Item = TileId>) -> Vec<String> {
    tiles.into_iter().map(|t| t.path()).collect()
}

#[test]
fn tile_sets_match_the_spec_examples() {
    // "a tree of size 256 will be represented by a full level 0 tile and a
    // partial level 1 tile of width 1"
    assert_eq!(paths(tiles_for_size(256)), ["tile/0/000", "tile/1/000.p/1"]);
    // "a tree of size 70,000 will be represented by 273 full level 0 tiles,
    // one partial level 0 tile of width 112, one full level 1 tile, one
    // partial level 1 tile of width 17, and one partial level 2 tile of width 1"
    let t: Vec<TileId> = tiles_for_size(70_000).collect();
    let count = |level: u8, partial: bool| {
        t.iter()
            .filter(|x| x.level() == level && x.is_partial() == partial)
            .count()
    };
    assert_eq!(count(0, false), 273);
    assert_eq!(count(0, true), 1);
    assert_eq!(count(1, false), 1);
    assert_eq!(count(1, true), 1);
    assert_eq!(count(2, false), 0);
    assert_eq!(count(2, true), 1);
    assert_eq!(t.len(), 277);
    assert!(t.contains(&tile(0, 273, 112)));
    assert!(t.contains(&tile(1, 1, 17)));
    assert!(t.contains(&tile(2, 0, 1)));
    assert!(tiles_for_size(0).next().is_none());
    assert_eq!(entry_bundles_for_size(70_000).count(), 274);
}

#[test]
fn new_tiles_are_what_growth_writes() {
    assert_eq!(paths(new_tiles(256, 257)), ["tile/0/001.p/1"]);
    assert_eq!(paths(new_tiles(255, 256)), ["tile/0/000", "tile/1/000.p/1"]);
    assert_eq!(paths(new_tiles(0, 1)), ["tile/0/000.p/1"]);
    assert_eq!(
        paths(new_tiles(100, 1000)),
        [
            "tile/0/000",
            "tile/0/001",
            "tile/0/002",
            "tile/0/003.p/232",
            "tile/1/000.p/3"
        ]
    );
    assert!(new_tiles(300, 300).next().is_none());
    assert!(new_tiles(0, 70_000).eq(tiles_for_size(70_000)));
}

#[test]
fn entry_bundles_encode_and_decode_strictly() {
    let entries: Vec<&[u8]> = vec![b"", b"a", &[0u8; 300], b"last"];
    let bytes = encode_entry_bundle(entries.iter().copied()).expect("encode");
    assert_eq!(&bytes[..5], &[0, 0, 0, 1, b'a']);
    assert_eq!(decode_entry_bundle(&bytes, 4), Ok(entries.clone()));
    assert_eq!(
        decode_entry_bundle(&bytes, 5),
        Err(EntryBundleError::Truncated(4))
    );
    assert_eq!(
        decode_entry_bundle(&bytes, 3),
        Err(EntryBundleError::TrailingBytes(6))
    );
    assert_eq!(
        decode_entry_bundle(&bytes[..bytes.len() - 1], 4),
        Err(EntryBundleError::Truncated(3))
    );
    assert_eq!(
        decode_entry_bundle(&[0x00], 1),
        Err(EntryBundleError::Truncated(0))
    );
    assert_eq!(
        decode_entry_bundle(&[0xff, 0xff, 1, 2, 3], 1),
        Err(EntryBundleError::Truncated(0))
    );
    let max = vec![7u8; 65_535];
    let one = encode_entry_bundle([max.as_slice()]).expect("largest entry");
    assert_eq!(decode_entry_bundle(&one, 1), Ok(vec![max.as_slice()]));
    let too_big = vec![7u8; 65_536];
    assert_eq!(
        encode_entry_bundle([too_big.as_slice()]),
        Err(EntryBundleError::EntryTooLarge {
            index: 0,
            len: 65_536
        })
    );
    let many = vec![&b"x"[..]; 257];
    assert_eq!(
        encode_entry_bundle(many.iter().copied()),
        Err(EntryBundleError::TooManyEntries)
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    Hash::from_slice(digest(&SHA256, bytes).as_ref())
        .expect("32 bytes")
        .to_hex()
}

fn entry(i: u64) -> Vec<u8> {
    format!("credex test entry {i}\n").into_bytes()
}

struct Export {
    size: u64,
    root: Hash,
    store: MemoryHashStore,
    tiles: MemoryTiles,
}

fn export(size: u64) -> Export {
    let mut store = MemoryHashStore::new();
    let entries: Vec<Vec<u8>> = (0..size).map(entry).collect();
    for e in &entries {
        store.append(e).expect("append");
    }
    let root = tree_hash(size, &store).expect("root");
    let mut tiles = MemoryTiles::new();
    for (id, bytes) in export_tiles(size, &store).expect("tiles") {
        tiles.insert_tile(id, bytes);
    }
    for (id, bytes) in export_entry_bundles(&entries).expect("bundles") {
        tiles.insert_entry_bundle(id, bytes);
    }
    Export {
        size,
        root,
        store,
        tiles,
    }
}

#[test]
fn exports_match_the_independent_generator() {
    let v: Value =
        serde_json::from_str(include_str!("data/tlog/generated_vectors.json")).expect("JSON");
    for case in v["tiles"].as_array().expect("tiles") {
        let size = case["size"].as_u64().expect("size");
        let mut store = MemoryHashStore::new();
        let entries: Vec<Vec<u8>> = (0..size).map(entry).collect();
        for e in &entries {
            store.append(e).expect("append");
        }
        let root = tree_hash(size, &store).expect("root");
        assert_eq!(
            root.to_hex(),
            case["root"].as_str().expect("root"),
            "root of {size}"
        );

        let ours: Vec<(String, String)> = export_tiles(size, &store)
            .expect("tiles")
            .iter()
            .map(|(id, bytes)| (id.path(), sha256_hex(bytes)))
            .collect();
        let theirs: Vec<(String, String)> = case["tiles"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| {
                (
                    t["path"].as_str().expect("path").to_owned(),
                    t["sha256"].as_str().expect("digest").to_owned(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "tiles of {size}");

        let ours: Vec<(String, String)> = export_entry_bundles(&entries)
            .expect("bundles")
            .iter()
            .map(|(id, bytes)| (id.path(), sha256_hex(bytes)))
            .collect();
        let theirs: Vec<(String, String)> = case["bundles"]
            .as_array()
            .expect("list")
            .iter()
            .map(|t| {
                (
                    t["path"].as_str().expect("path").to_owned(),
                    t["sha256"].as_str().expect("digest").to_owned(),
                )
            })
            .collect();
        assert_eq!(ours, theirs, "bundles of {size}");
    }
}

#[test]
fn exports_verify_and_serve_proofs() {
    for size in [1u64, 255, 256, 257, 65_536 + 3] {
        let e = export(size);
        verify_tiles(e.size, &e.root, &e.tiles).unwrap_or_else(|err| panic!("{size}: {err}"));
        let mut seen = 0u64;
        verify_entry_bundles(e.size, &e.tiles, |index, bytes| {
            assert_eq!(index, seen);
            assert_eq!(bytes, entry(index).as_slice());
            seen += 1;
        })
        .expect("bundles");
        assert_eq!(seen, size);

        // The tiles alone answer for roots and proofs, like the store does.
        let reader = TileHashReader::new(size, &e.tiles);
        assert_eq!(tree_hash(size, &reader).expect("root"), e.root);
        for index in [0, size / 2, size - 1] {
            let from_tiles = prove_inclusion(index, size, &reader).expect("proof");
            assert_eq!(
                from_tiles,
                prove_inclusion(index, size, &e.store).expect("proof")
            );
            verify_inclusion(&leaf_hash(&entry(index)), index, size, &from_tiles, &e.root)
                .expect("verifies");
        }
        for old in [1, size / 3, size - 1] {
            let old = old.max(1);
            assert_eq!(
                prove_consistency(old, size, &reader).expect("proof"),
                prove_consistency(old, size, &e.store).expect("proof")
            );
        }
    }
}

#[test]
fn tampered_exports_are_caught() {
    let size = 65_536 + 3;
    let fresh = || export(size);

    // A leaf hash changed in a full level-0 tile: the level-1 tile disagrees.
    let mut e = fresh();
    e.tiles.tile_mut(&tile(0, 7, 256)).expect("tile")[100] ^= 1;
    assert!(matches!(
        verify_tiles(size, &e.root, &e.tiles),
        Err(TileError::ParentMismatch { position: 7, .. })
    ));

    // A leaf hash changed in the partial tile: the root disagrees.
    let mut e = fresh();
    e.tiles.tile_mut(&tile(0, 256, 3)).expect("tile")[0] ^= 1;
    assert!(matches!(
        verify_tiles(size, &e.root, &e.tiles),
        Err(TileError::RootMismatch { .. })
    ));

    // A checkpoint root that is not this tree's.
    let e = fresh();
    assert!(matches!(
        verify_tiles(size, &leaf_hash(b"other"), &e.tiles),
        Err(TileError::RootMismatch { .. })
    ));
    // A checkpoint that claims more entries than exported.
    assert!(matches!(
        verify_tiles(size + 1, &e.root, &e.tiles),
        Err(TileError::Read(TileReadError::Missing(_)))
    ));

    // A missing tile, a truncated tile.
    let mut e = fresh();
    e.tiles.remove_tile(&tile(1, 0, 256));
    assert!(matches!(
        verify_tiles(size, &e.root, &e.tiles),
        Err(TileError::Read(TileReadError::Missing(path))) if path == "tile/1/000"
    ));
    let mut e = fresh();
    e.tiles.tile_mut(&tile(0, 3, 256)).expect("tile").pop();
    assert!(matches!(
        verify_tiles(size, &e.root, &e.tiles),
        Err(TileError::WrongLength {
            len: 8191,
            want: 8192,
            ..
        })
    ));

    // An entry changed in its bundle: its leaf hash no longer matches.
    let mut e = fresh();
    let bundle = EntryBundleId::new(2, 256).expect("bundle");
    let bytes = e.tiles.entry_bundle_mut(&bundle).expect("bundle");
    // Entry 512 starts after its 2-byte length; change its first byte.
    bytes[2] ^= 0x20;
    verify_tiles(size, &e.root, &e.tiles).expect("hash tiles are intact");
    assert!(matches!(
        verify_entry_bundles(size, &e.tiles, |_, _| {}),
        Err(TileError::EntryMismatch { index: 512 })
    ));

    // Two entries swapped within a bundle.
    let mut e = fresh();
    let bundle = EntryBundleId::new(0, 256).expect("bundle");
    let entries: Vec<Vec<u8>> = (0..256).map(entry).collect();
    let mut swapped = entries.clone();
    swapped.swap(3, 4);
    *e.tiles.entry_bundle_mut(&bundle).expect("bundle") =
        encode_entry_bundle(swapped.iter().map(Vec::as_slice)).expect("encode");
    assert!(matches!(
        verify_entry_bundles(size, &e.tiles, |_, _| {}),
        Err(TileError::EntryMismatch { index: 3 })
    ));

    // An entry deleted from a bundle.
    let mut e = fresh();
    let bundle = EntryBundleId::new(256, 3).expect("bundle");
    *e.tiles.entry_bundle_mut(&bundle).expect("bundle") =
        encode_entry_bundle([entry(65_536).as_slice(), entry(65_538).as_slice()]).expect("encode");
    assert!(matches!(
        verify_entry_bundles(size, &e.tiles, |_, _| {}),
        Err(TileError::Bundle { .. }) | Err(TileError::EntryMismatch { .. })
    ));
}

#[test]
fn memory_tiles_list_their_paths() {
    let e = export(257);
    assert_eq!(
        e.tiles.paths(),
        [
            "tile/0/000",
            "tile/0/001.p/1",
            "tile/1/000.p/1",
            "tile/entries/000",
            "tile/entries/001.p/1"
        ]
    );
}

#[test]
fn a_hostile_size_fails_fast_without_allocating() {
    // A checkpoint claiming 2^62 entries over a 257-entry export: the first
    // missing tile ends verification; nothing is sized by the claim.
    let e = export(257);
    let huge = 1u64 << 62;
    assert!(matches!(
        verify_tiles(huge, &e.root, &e.tiles),
        Err(TileError::Read(TileReadError::Missing(_)))
    ));
    assert!(matches!(
        verify_entry_bundles(huge, &e.tiles, |_, _| {}),
        Err(TileError::Read(TileReadError::Missing(_)))
    ));
    assert!(matches!(
        verify_tiles(u64::MAX, &e.root, &e.tiles),
        Err(TileError::TreeTooLarge(u64::MAX))
    ));
    let first: Vec<String> = paths(tiles_for_size(u64::MAX).take(2));
    assert_eq!(first, ["tile/0/000", "tile/0/001"]);
}
