// The officer's key, in this browser only. The PKCS#8 file is imported
// into WebCrypto as a non-extractable key (Ed25519 or ECDSA P-256); the
// CryptoKey object — never its bytes — is kept in IndexedDB so the officer
// can sign requests after a reload. Signing out deletes it.

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
    throw new Error("keys.unsupported");
  }
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
