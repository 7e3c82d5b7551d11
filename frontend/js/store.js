// Duet's local store: every spec opened in this browser, kept in IndexedDB, one database
// per account ("duet-<username>") so the next person on this browser never sees them.
//
// Object stores:
//   chunks  { doc, bytes }  auto-increment key; Automerge incremental saves, or one
//                            full save after a compaction, in the order written
//   docs    { doc, saved, title, updated, local, pending, role }  per spec: the heads the
//                            server is known to hold (hex), the title and time for the list,
//                            whether it was created here and has not reached the server yet,
//                            whether it holds changes the server lacks, this person's role
//
// Every write resolves only when its transaction has committed.

const DB_VERSION = 1;

/// The signed-in account's database (null: none, or deleted at sign-out).
let name = null;
let opening = null;

/// Uses the database of account `user` from now on.
export function useAccount(user) {
  if (name !== `duet-${user}`) {
    name = `duet-${user}`;
    opening = null;
  }
}

/// Deletes the account's database (at sign-out); nothing is stored after this.
export async function wipe() {
  const doomed = name;
  name = null;
  if (opening) {
    try {
      (await opening).close();
    } catch {}
    opening = null;
  }
  if (!doomed) return;
  await new Promise((resolve) => {
    const request = indexedDB.deleteDatabase(doomed);
    // Blocked: another tab holds it; it closes on `versionchange` and the deletion goes on.
    request.onsuccess = request.onerror = request.onblocked = () => resolve();
  });
}

function db() {
  if (!name) return Promise.reject(new Error("nobody is signed in"));
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const request = indexedDB.open(name, DB_VERSION);
      request.onupgradeneeded = () => {
        const d = request.result;
        const chunks = d.createObjectStore("chunks", { autoIncrement: true });
        chunks.createIndex("doc", "doc");
        d.createObjectStore("docs", { keyPath: "doc" });
      };
      request.onsuccess = () => {
        const d = request.result;
        // Another tab signs out (deletes this database): let go of it.
        d.onversionchange = () => {
          d.close();
          opening = null;
        };
        resolve(d);
      };
      request.onerror = () => {
        opening = null;
        reject(request.error);
      };
      request.onblocked = () => reject(new Error("the local store is blocked by another tab"));
    });
  }
  return opening;
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
  });
}

function result(request) {
  return new Promise((resolve, reject) => {
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

/// A spec's chunks in the order written, their keys, and its record (or null).
export async function load(doc) {
  const d = await db();
  const tx = d.transaction(["chunks", "docs"], "readonly");
  const index = tx.objectStore("chunks").index("doc");
  const [values, keys, meta] = await Promise.all([
    result(index.getAll(IDBKeyRange.only(doc))),
    result(index.getAllKeys(IDBKeyRange.only(doc))),
    result(tx.objectStore("docs").get(doc)),
  ]);
  return { chunks: values.map((v) => v.bytes), keys, meta: meta || null };
}

/// Appends one chunk; resolves to its key once committed.
export async function append(doc, bytes) {
  const d = await db();
  const tx = d.transaction("chunks", "readwrite");
  const request = tx.objectStore("chunks").add({ doc, bytes });
  await done(tx);
  return request.result;
}

/// Replaces the chunks with keys in `keys` by one full save, in one transaction.
export async function compact(doc, bytes, keys) {
  const d = await db();
  const tx = d.transaction("chunks", "readwrite");
  const store = tx.objectStore("chunks");
  const request = store.add({ doc, bytes });
  for (const key of keys) store.delete(key);
  await done(tx);
  return request.result;
}

/// Writes a spec's record (merged into what is there).
export async function putMeta(doc, fields) {
  const d = await db();
  const tx = d.transaction("docs", "readwrite");
  const store = tx.objectStore("docs");
  const old = await result(store.get(doc));
  store.put(Object.assign({ doc }, old || {}, fields));
  await done(tx);
}

/// Every spec kept here: its record.
export async function listMeta() {
  const d = await db();
  const tx = d.transaction("docs", "readonly");
  return result(tx.objectStore("docs").getAll());
}

/// Bytes kept for a spec (chunk payloads).
export async function size(doc) {
  const { chunks } = await load(doc);
  return chunks.reduce((n, c) => n + c.byteLength, 0);
}
