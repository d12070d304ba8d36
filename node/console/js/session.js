// Signing in and out: the node's challenge is signed here with the
// officer's key, which never leaves the browser.

import * as api from "./api.js";
import * as keys from "./keys.js";

// Sign in with the chosen certificate and key files; the session.
export async function signIn(certFile, keyFile) {
  const chain = keys.readChain(await certFile.text());
  const officer = await keys.importKey(await keyFile.text());
  const challenge = await api.post("/console/api/challenges");
  const signature = await keys.sign(officer, keys.fromBase64(challenge.to_sign));
  const session = await api.post("/console/api/sessions", {
    challenge: challenge.challenge,
    chain,
    algorithm: officer.algorithm,
    signature: keys.toBase64(signature),
  });
  await keys.remember({ ...officer, chain });
  api.setCsrf(session.csrf);
  return session;
}

// The open session, or null.
export async function current() {
  try {
    const session = await api.get("/console/api/session");
    api.setCsrf(session.csrf);
    return session;
  } catch (e) {
    if (e instanceof api.Problem && e.status === 401) return null;
    throw e;
  }
}

export async function signOut() {
  try {
    await api.del("/console/api/session");
  } finally {
    api.setCsrf(null);
    await keys.forget();
  }
}

// Sign `toSign` (base64, from the node) as the signed-in officer: the
// body the node's signature endpoints take.
export async function signature(toSign) {
  const officer = await keys.recall();
  if (!officer) throw new Error("keys.missing");
  const sig = await keys.sign(officer, keys.fromBase64(toSign));
  return { chain: officer.chain, algorithm: officer.algorithm, signature: keys.toBase64(sig) };
}
