// The officer's key, in this browser only. The PKCS#8 file is imported
// into WebCrypto as a non-extractable key (Ed25519 or ECDSA P-256); the
// CryptoKey object — never its bytes — is kept in IndexedDB so the officer
// can sign requests after a reload. Signing out deletes it.
//
// WebCrypto has no SM2. An SM2 key (a federation under sm2-sm3) is kept
// sealed under a non-extractable AES-GCM key WebCrypto makes for it, and
// opened only for the moment of a signature, which the vendored SM2 signer
// makes (vendor/sm2.js, decision 1120).

import { sm2 } from "../vendor/sm2.js";

const DB = "credex-console";
const STORE = "officer";

function pemBlocks(text, label) {
  const re = new RegExp(`-----BEGIN ${label}-----([\\s\\S]*?)-----END ${label}-----`, "g");
  return [...text.matchAll(re)].map((m) => m[1].replace(/\s+/g, ""));
}

export function fromBase64(b64) {
  return Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
}

export function toBase64(bytes) {
  let s = "";
  for (const b of new Uint8Array(bytes)) s += String.fromCharCode(b);
  return btoa(s);
}

// The certificates of a PEM file, base64 DER, in file order.
export function readChain(text) {
  const chain = pemBlocks(text, "CERTIFICATE");
  if (chain.length === 0) throw new Error("keys.noCertificate");
  return chain;
}

// Import a PKCS#8 PEM private key as a non-extractable signing key.
export async function importKey(text) {
  const blocks = pemBlocks(text, "PRIVATE KEY");
  if (blocks.length !== 1) throw new Error("keys.noKey");
  const der = fromBase64(blocks[0]);
  try {
    const key = await crypto.subtle.importKey("pkcs8", der, { name: "Ed25519" }, false, ["sign"]);
    return { key, algorithm: "ed25519" };
  } catch (_) {
    // not Ed25519: try P-256 below
  }
  try {
    const key = await crypto.subtle.importKey(
      "pkcs8", der, { name: "ECDSA", namedCurve: "P-256" }, false, ["sign"]);
    return { key, algorithm: "ecdsa-p256-sha256" };
  } catch (_) {
    // not P-256: try SM2 below
  }
  const scalar = sm2Scalar(der);
  if (!scalar) throw new Error("keys.unsupported");
  const wrap = await crypto.subtle.generateKey({ name: "AES-GCM", length: 256 }, false,
    ["encrypt", "decrypt"]);
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv }, wrap, scalar));
  scalar.fill(0);
  return { key: { wrap, iv, sealed }, algorithm: "sm2-sm3" };
}

// DER: the element at `at` ({tag, start, end} of its contents), or null.
function derElement(bytes, at) {
  if (at + 2 > bytes.length) return null;
  const tag = bytes[at];
  let len = bytes[at + 1];
  let p = at + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n < 1 || n > 2 || p + n > bytes.length) return null;
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + bytes[p++];
  }
  if (p + len > bytes.length) return null;
  return { tag, start: p, end: p + len };
}

// The DER of the SM2 curve's OID (GM/T 0006 sm2p256v1, 1.2.156.10197.1.301).
const SM2_CURVE = [0x06, 0x08, 0x2a, 0x81, 0x1c, 0xcf, 0x55, 0x01, 0x82, 0x2d];

function contains(bytes, start, end, needle) {
  outer: for (let i = start; i + needle.length <= end; i++) {
    for (let j = 0; j < needle.length; j++) if (bytes[i + j] !== needle[j]) continue outer;
    return true;
  }
  return false;
}

// The 32-byte private scalar of a PKCS#8 SM2 key (PrivateKeyInfo on the
// SM2 curve holding an RFC 5915 ECPrivateKey, as OpenSSL and credex write
// it), or null when the key is anything else.
function sm2Scalar(der) {
  const info = derElement(der, 0);
  if (!info || info.tag !== 0x30) return null;
  const version = derElement(der, info.start);
  if (!version || version.tag !== 0x02) return null;
  const algorithm = derElement(der, version.end);
  if (!algorithm || algorithm.tag !== 0x30) return null;
  if (!contains(der, algorithm.start, algorithm.end, SM2_CURVE)) return null;
  const wrapped = derElement(der, algorithm.end);
  if (!wrapped || wrapped.tag !== 0x04) return null;
  const ec = derElement(der, wrapped.start);
  if (!ec || ec.tag !== 0x30) return null;
  const ecVersion = derElement(der, ec.start);
  if (!ecVersion || ecVersion.tag !== 0x02) return null;
  const secret = derElement(der, ecVersion.end);
  if (!secret || secret.tag !== 0x04 || secret.end - secret.start !== 32) return null;
  return der.slice(secret.start, secret.end);
}

function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function fromHex(hex) {
  return Uint8Array.from(hex.match(/../g), (h) => parseInt(h, 16));
}

// SM2 with SM3 over `bytes` under the default signer identity of GM/T 0009
// (1234567812345678): r ‖ s, 64 bytes, as credex carries it.
async function signSm2(sealedKey, bytes) {
  const scalar = new Uint8Array(await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: sealedKey.iv }, sealedKey.wrap, sealedKey.sealed));
  const hex = toHex(scalar);
  scalar.fill(0);
  return fromHex(sm2.doSignature(bytes, hex, { hash: true }));
}

// ECDSA in WebCrypto gives r ‖ s; credex (like OpenSSL) carries ASN.1 DER.
function derInteger(bytes) {
  let i = 0;
  while (i < bytes.length - 1 && bytes[i] === 0) i++;
  let v = bytes.slice(i);
  if (v[0] & 0x80) v = Uint8Array.of(0, ...v);
  return Uint8Array.of(0x02, v.length, ...v);
}

function p1363ToDer(sig) {
  const half = sig.length / 2;
  const r = derInteger(sig.slice(0, half));
  const s = derInteger(sig.slice(half));
  return Uint8Array.of(0x30, r.length + s.length, ...r, ...s);
}

// Sign `bytes` exactly as given (the node sends the full signed bytes).
export async function sign(officer, bytes) {
  if (officer.algorithm === "sm2-sm3") return signSm2(officer.key, bytes);
  if (officer.algorithm === "ed25519") {
    return new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" }, officer.key, bytes));
  }
  const raw = new Uint8Array(
    await crypto.subtle.sign({ name: "ECDSA", hash: "SHA-256" }, officer.key, bytes));
  return p1363ToDer(raw);
}

function open() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function transact(mode, action) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, mode);
    const req = action(tx.objectStore(STORE));
    tx.oncomplete = () => { db.close(); resolve(req.result); };
    tx.onerror = () => { db.close(); reject(tx.error); };
  });
}

// Keep the signed-in officer's key and chain for this browser profile.
export function remember(officer) {
  return transact("readwrite", (s) => s.put(officer, "current"));
}

// The remembered officer ({key, algorithm, chain}), or undefined.
export function recall() {
  return transact("readonly", (s) => s.get("current"));
}

export function forget() {
  return transact("readwrite", (s) => s.delete("current"));
}
