// Interop check: the JS automerge-repo client creates, finds and edits documents through a Duet server.
//
// Usage: node interop.mjs <ws-url> <automerge-url-of-D1> [api-token]
//
// The server wants credentials on /sync: an API token (POST /api/tokens, or
// `duet token create`) as `?token=` in <ws-url>, or given as the third argument or in
// DUET_TOKEN, in which case it is added to the URL. The token's user needs a role on D1.
//
// D1 was created by another peer and holds { from: "samod", log: ["samod-created"] }.
// Steps:
//   a. Repo A finds D1, checks from === "samod", appends "js-edited" to D1.log.
//   b. Repo A creates D2 = { from: "js", log: ["js-created"] }.
//   c. A fresh Repo B finds D2 and D1 through the server and checks their contents.
//   d. Prints exactly one stdout line "D2 <url>".
//   e. Waits until Repo A's D2.log includes "samod-replied" (added by the other peer),
//      then prints "OK" and exits 0.
// Any failure prints a message to stderr and exits 1. Debug output goes to stderr only.

import { Repo } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

const PHASE_TIMEOUT_MS = 20_000
const POLL_MS = 100

function fail(message) {
  process.stderr.write(`interop.mjs: FAIL: ${message}\n`)
  process.exit(1)
}

function debug(message) {
  if (process.env.INTEROP_VERBOSE) process.stderr.write(`interop.mjs: ${message}\n`)
}

process.on("uncaughtException", err => fail(`uncaught exception: ${err?.stack ?? err}`))
process.on("unhandledRejection", err => fail(`unhandled rejection: ${err?.stack ?? err}`))

const [givenUrl, d1Url, tokenArg] = process.argv.slice(2)
if (!givenUrl || !d1Url) fail("usage: node interop.mjs <ws-url> <automerge-url-of-D1> [api-token]")
const token = tokenArg ?? process.env.DUET_TOKEN
const wsUrl = (() => {
  const url = new URL(givenUrl)
  if (token) url.searchParams.set("token", token)
  if (!url.searchParams.get("token")) fail("no API token: pass ?token= in the URL, a third argument or DUET_TOKEN")
  return url.toString()
})()

const randomSuffix = () => Math.random().toString(36).slice(2, 10)

function makeRepo(name) {
  return new Repo({
    network: [new WebSocketClientAdapter(wsUrl)],
    peerId: `js-${name}-${randomSuffix()}`,
    sharePolicy: async () => true,
  })
}

function remaining(deadline, what) {
  const left = deadline - Date.now()
  if (left <= 0) fail(`timed out (20 s deadline) ${what}`)
  return left
}

// Find a document, retrying (with a fresh repo each time, since a repo caches an unavailable
// handle) until it is ready or the deadline passes. Returns { repo, handle }.
async function findFresh(name, url, deadline, what) {
  let attempt = 0
  let lastError
  for (;;) {
    const left = remaining(deadline, `${what}; last error: ${lastError}`)
    attempt++
    const repo = makeRepo(`${name}${attempt > 1 ? attempt : ""}`)
    try {
      const handle = await repo.find(url, { signal: AbortSignal.timeout(left) })
      return { repo, handle }
    } catch (err) {
      lastError = err?.message ?? String(err)
      debug(`${what}: attempt ${attempt} failed: ${lastError}`)
      await repo.shutdown().catch(() => {})
      await new Promise(r => setTimeout(r, Math.min(250, Math.max(0, deadline - Date.now()))))
    }
  }
}

// Resolve once predicate(handle.doc()) holds, re-checking on every change event and on a
// short poll; fail on the deadline.
function waitForDoc(handle, predicate, deadline, what) {
  return new Promise(resolve => {
    let done = false
    const check = () => {
      if (done) return
      let ok = false
      try {
        const doc = handle.doc()
        ok = doc !== undefined && predicate(doc)
      } catch (err) {
        debug(`${what}: check threw ${err}`)
      }
      if (ok) {
        done = true
        clearInterval(poll)
        clearTimeout(timer)
        handle.off("change", check)
        resolve()
      }
    }
    const poll = setInterval(check, POLL_MS)
    const timer = setTimeout(() => {
      if (done) return
      let doc
      try {
        doc = JSON.stringify(handle.doc())
      } catch {
        doc = "<unreadable>"
      }
      fail(`timed out (20 s deadline) ${what}; last seen doc: ${doc}`)
    }, Math.max(0, deadline - Date.now()))
    handle.on("change", check)
    check()
  })
}

// Rust peers (samod) write scalar strings, which automerge JS reads as ImmutableString objects;
// JS writes collaborative Text, read as plain strings. Compare both as plain strings.
const str = v => (v === undefined || v === null ? v : String(v))
const includes = (list, value) => Array.isArray(list) && Array.from(list, str).includes(value)

async function main() {
  const deadline = Date.now() + PHASE_TIMEOUT_MS

  // a. Repo A finds D1 and edits it.
  const repoA = makeRepo("a")
  let d1A
  try {
    d1A = await repoA.find(d1Url, { signal: AbortSignal.timeout(remaining(deadline, "finding D1")) })
  } catch (err) {
    fail(`repo A could not find D1 ${d1Url}: ${err?.message ?? err}`)
  }
  const d1 = d1A.doc()
  if (str(d1?.from) !== "samod") fail(`D1.from: expected "samod", got ${JSON.stringify(d1?.from)}`)
  if (!includes(d1.log, "samod-created"))
    fail(`D1.log: expected to include "samod-created", got ${JSON.stringify(d1.log)}`)
  d1A.change(d => {
    d.log.push("js-edited")
  })
  debug("edited D1")

  // b. Repo A creates D2.
  const d2A = repoA.create({ from: "js", log: ["js-created"] })
  const d2Url = d2A.url
  debug(`created D2 ${d2Url}`)

  // c. A fresh Repo B sees both documents through the server.
  const { repo: repoB, handle: d2B } = await findFresh("b", d2Url, deadline, "repo B finding D2")
  if (str(d2B.doc()?.from) !== "js") fail(`D2.from via repo B: expected "js", got ${JSON.stringify(d2B.doc()?.from)}`)
  const { handle: d1B } = await (async () => {
    try {
      return { handle: await repoB.find(d1Url, { signal: AbortSignal.timeout(remaining(deadline, "repo B finding D1")) }) }
    } catch (err) {
      fail(`repo B could not find D1: ${err?.message ?? err}`)
    }
  })()
  await waitForDoc(d1B, d => includes(d.log, "js-edited"), deadline, 'waiting for D1.log to include "js-edited" via repo B')
  debug("repo B sees D2 and the D1 edit")
  await repoB.shutdown().catch(() => {})

  // d. Hand D2 to the other side.
  process.stdout.write(`D2 ${d2Url}\n`)

  // e. Wait for the other side's reply on repo A's handle.
  const replyDeadline = Date.now() + PHASE_TIMEOUT_MS
  await waitForDoc(d2A, d => includes(d.log, "samod-replied"), replyDeadline, 'waiting for D2.log to include "samod-replied" on repo A')

  process.stdout.write("OK\n")
  await Promise.race([repoA.shutdown().catch(() => {}), new Promise(r => setTimeout(r, 1000))])
  process.exit(0)
}

main().catch(err => fail(err?.stack ?? String(err)))
