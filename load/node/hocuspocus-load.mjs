// duet-load's workload for Hocuspocus: USERS Hocuspocus providers (one websocket each) over DOCS
// Yjs documents type one character at RATE edits/s each into the text "problem"; every other user
// of the document records when it sees each edit (by the inserted item's client id and clock), and
// each user records when the server confirms it applied its update (Hocuspocus's SyncStatus reply).
// Usage: node hocuspocus-load.mjs '{"url":"ws://…","users":20,"docs":1,"rate":2,
//   "duration_ms":10000,"history":0,"drain_ms":30000}'
// Prints `typing` when typing starts, `drained` when it is over, then one line of JSON.
import { performance } from "node:perf_hooks";
import WebSocket from "ws";
import * as Y from "yjs";
import { HocuspocusProvider } from "@hocuspocus/provider";

const cfg = JSON.parse(process.argv[2]);
const now = () => Math.round(performance.now() * 1000); // µs
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** `${client}:${clock}` of every timed edit → when it was made (µs). */
const sentAt = new Map();

function connect(name, doc) {
  return new HocuspocusProvider({
    url: cfg.url,
    name,
    document: doc,
    awareness: null,
    WebSocketPolyfill: WebSocket,
    // Fail loudly rather than reconnect quietly mid-run.
    maxAttempts: 1,
  });
}

async function until(cond, limitMs) {
  const end = performance.now() + limitMs;
  while (!cond()) {
    if (performance.now() > end) return false;
    await sleep(5);
  }
  return true;
}

class User {
  constructor(n, docIndex, doc) {
    this.n = n;
    this.docIndex = docIndex;
    this.doc = doc;
    this.text = doc.getText("problem");
    this.sent = 0;
    this.received = 0;
    this.latencies = [];
    this.acks = [];
    this.pending = [];
    this.unsynced = 0;
    this.provider = connect(`spec-${docIndex}`, doc);
    this.provider.on("unsyncedChanges", ({ number }) => {
      // Each SyncStatus reply confirms the oldest update still waiting.
      const confirmed = this.unsynced - number;
      this.unsynced = number;
      const t = now();
      for (let i = 0; i < confirmed && this.pending.length > 0; i++) {
        this.acks.push(t - this.pending.shift());
      }
    });
    doc.on("update", (update, origin) => {
      if (origin !== this.provider) return;
      const t = now();
      for (const s of Y.decodeUpdate(update).structs) {
        if (s.id.client === doc.clientID) continue;
        for (let k = 0; k < s.length; k++) {
          const at = sentAt.get(`${s.id.client}:${s.id.clock + k}`);
          if (at !== undefined) {
            this.received++;
            this.latencies.push(t - at);
          }
        }
      }
    });
  }

  typeOne() {
    const at = Math.floor(Math.random() * (this.text.length + 1));
    const clock = Y.getState(this.doc.store, this.doc.clientID);
    const t = now();
    sentAt.set(`${this.doc.clientID}:${clock}`, t);
    this.pending.push(t);
    this.sent++;
    this.text.insert(at, String.fromCharCode(97 + (this.sent % 26)));
  }
}

const users = [];
// The first user of each document creates it, with `history` one-character edits in it.
for (let d = 0; d < cfg.docs; d++) {
  const doc = new Y.Doc();
  const text = doc.getText("problem");
  for (let i = 0; i < cfg.history; i++) {
    text.insert((i * 7919) % (text.length + 1), i % 5 === 4 ? " " : "h");
  }
  const u = new User(d, d, doc);
  users.push(u);
  if (!(await until(() => u.provider.isSynced && u.provider.unsyncedChanges === 0, 300_000))) {
    throw new Error(`the server never took document ${d}`);
  }
}
for (let n = cfg.docs; n < cfg.users; n++) {
  users.push(new User(n, n % cfg.docs, new Y.Doc()));
  if (n % 64 === 63) await until(() => users.every((u) => u.provider.isSynced), 120_000);
}
if (!(await until(() => users.every((u) => u.provider.isSynced), 120_000))) {
  throw new Error("some users never received their document");
}
const seeded = users.slice(0, cfg.docs).map((u) => u.text.length);
if (!(await until(() => users.every((u) => u.text.length === seeded[u.docIndex]), 120_000))) {
  throw new Error("some users never received the whole document");
}

console.log("typing");
const started = performance.now();
const period = 1000 / cfg.rate;
const timers = users.map((u) =>
  setTimeout(() => {
    u.typeOne();
    u.timer = setInterval(() => u.typeOne(), period);
  }, Math.random() * period),
);
await sleep(cfg.duration_ms);
timers.forEach(clearTimeout);
users.forEach((u) => clearInterval(u.timer));
const stopped = performance.now();

const sentPerDoc = new Array(cfg.docs).fill(0);
users.forEach((u) => (sentPerDoc[u.docIndex] += u.sent));
const expectedOf = (u) => sentPerDoc[u.docIndex] - u.sent;
const drained = await until(
  () => users.every((u) => u.received >= expectedOf(u) && u.pending.length === 0),
  cfg.drain_ms,
);
const drainMs = performance.now() - stopped;
const wallMs = performance.now() - started;
console.log("drained");

// Convergence: every replica and a fresh reader of each document hold the same text and state.
let converged = true;
for (let d = 0; d < cfg.docs; d++) {
  const reader = new Y.Doc();
  const p = connect(`spec-${d}`, reader);
  const want = users[d].text.toString();
  await until(() => p.isSynced && reader.getText("problem").toString() === want, 60_000);
  const sv = Buffer.from(Y.encodeStateVector(reader)).toString("base64");
  for (const u of users.filter((u) => u.docIndex === d)) {
    converged &&=
      u.text.toString() === reader.getText("problem").toString() &&
      Buffer.from(Y.encodeStateVector(u.doc)).toString("base64") === sv;
  }
  p.destroy();
}
users.forEach((u) => u.provider.destroy());

const out = { sent: 0, received: 0, expected: 0, unacked: 0, latencies_us: [], acks_us: [] };
for (const u of users) {
  out.sent += u.sent;
  out.received += u.received;
  out.expected += expectedOf(u);
  out.unacked += u.pending.length;
  for (const l of u.latencies) out.latencies_us.push(l);
  for (const a of u.acks) out.acks_us.push(a);
}
Object.assign(out, { drain_ms: drainMs, drained, converged, wall_ms: wallMs });
// Piped stdout is written asynchronously: exit only once the (large) line is out.
process.stdout.write(`${JSON.stringify(out)}\n`, () => process.exit(0));
