// Offline merge timings (not a test): one person makes EDITS keystrokes offline while another types online in the same field; time from reconnect to converged, and the IndexedDB size against the spec's compact size. Run with `cargo xtask bench-offline`.
import * as Automerge from "@automerge/automerge"
import { benchSetup } from "./setup.mjs"

const EDITS = Number(process.env.EDITS ?? 1000)
const OTHER_EDITS = Number(process.env.OTHER_EDITS ?? 100)
const RUNS = Number(process.env.RUNS ?? 3)

const { duet, personPage, newSpec, close } = await benchSetup()
const sleep = ms => new Promise(r => setTimeout(r, ms))


/// Text of `n` keystrokes: words, so the field stays readable.
const words = (n, tag) => Array.from({ length: n }, (_, i) => (i % 8 === 7 ? " " : tag[i % tag.length])).join("")

/// The spec's chunks in this page's IndexedDB.
const storedChunks = (page, doc) => page.evaluate(doc => new Promise((resolve, reject) => {
  const open = indexedDB.open("duet")
  open.onerror = () => reject(open.error)
  open.onsuccess = () => {
    const req = open.result.transaction("chunks").objectStore("chunks").index("doc").getAll(IDBKeyRange.only(doc))
    req.onsuccess = () => resolve(req.result.map(c => Array.from(c.bytes)))
    req.onerror = () => reject(req.error)
  }
}), doc)

const results = []
try {
  for (let run = 0; run < RUNS; run++) {
    const spec = await newSpec(`Offline ${run}`)
    const a = await personPage("Offline A")
    const b = await personPage("Online B")
    for (const p of [a, b]) {
      await p.goto(`${duet.url}/specs/${spec.id}`)
      await p.getByRole("status").filter({ hasText: "Live" }).waitFor()
    }
    const field = p => p.getByRole("textbox", { name: "Problem", exact: true })
    await a.context().setOffline(true)
    await a.getByRole("status").filter({ hasText: /^Offline/ }).waitFor()
    const aText = words(EDITS, "offline")
    const bText = words(OTHER_EDITS, "ONLINE")
    await field(a).click()
    await a.keyboard.type(aText)
    await field(b).click()
    await b.keyboard.type(bText)
    // Everything A typed is on the device before the network returns.
    await a.getByRole("status").filter({ hasText: new RegExp(`^Offline — ${EDITS} changes`) }).waitFor({ timeout: 120_000 })
    let chunks, doc
    for (;;) {
      chunks = await storedChunks(a, spec.id)
      doc = Automerge.init()
      for (const c of chunks) doc = Automerge.loadIncremental(doc, Uint8Array.from(c))
      if (String(doc.problem ?? "") === aText) break
      await sleep(50)
    }
    const stored = chunks.reduce((n, c) => n + c.length, 0)
    const compact = Automerge.save(doc).byteLength

    // Both typed into an empty field: Automerge orders the two runs by their op ids.
    const merged = v => v === bText + aText || v === aText + bText
    const t0 = performance.now()
    await a.context().setOffline(false)
    let acked = null
    let converged = null
    while (converged === null || acked === null) {
      const now = performance.now() - t0
      if (now > 120_000) {
        const [va, vb] = await Promise.all([field(a).inputValue(), field(b).inputValue()])
        throw new Error(`no convergence within 2 minutes: A ${va.length} chars, B ${vb.length}, A's status ${await a.getByRole("status").textContent()}`)
      }
      if (acked === null && (await a.getByRole("status").textContent()) === "Live") acked = now
      if (converged === null) {
        const [va, vb] = await Promise.all([field(a).inputValue(), field(b).inputValue()])
        if (va === vb && merged(va)) converged = now
      }
      await sleep(5)
    }
    results.push({ acked, converged, stored, compact, chunks: chunks.length })
    console.log(`run ${run + 1}: reconnect → A's ${EDITS} edits acknowledged ${acked.toFixed(0)} ms, both pages converged ${converged.toFixed(0)} ms; IndexedDB ${stored} bytes in ${chunks.length} chunks, compact save ${compact} bytes`)
    await a.context().close()
    await b.context().close()
  }
  const median = key => [...results.map(r => r[key])].sort((x, y) => x - y)[Math.floor(results.length / 2)]
  console.log(`\n| measure (${EDITS} offline keystrokes, ${OTHER_EDITS} concurrent online, ${RUNS} runs) | median |`)
  console.log("|---|---|")
  console.log(`| reconnect → all offline edits acknowledged by the server | ${median("acked").toFixed(0)} ms |`)
  console.log(`| reconnect → both pages show the same merged text | ${median("converged").toFixed(0)} ms |`)
  console.log(`| IndexedDB bytes for the spec (incremental chunks) | ${median("stored")} |`)
  console.log(`| the same spec as one compact Automerge save | ${median("compact")} |`)
} finally {
  await close()
}
