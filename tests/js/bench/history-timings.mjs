// Browser timings of history by author (not a test) on a spec of 50,000 changes typed by two people through the server: opening the history panel, a diff of the oldest session against now, the blame view, and an undo (Ctrl+Z → painted). Run with `cargo xtask bench-history`.
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { root } from "../duet-server.mjs"
import { benchSetup } from "./setup.mjs"

const CHANGES = Number(process.env.CHANGES ?? 50000)
const RUNS = 5

/// Clicks in the page (`history`: the History button; `compare:now`: compare with the
/// current spec; else a CSS selector), then resolves with the milliseconds until `done`
/// matches (and, if given, the version's caption starts with `caption`) and that frame is
/// painted, all timed inside the page: the harness's own work is not counted.
const timed = (page, click, done, caption = "") => page.evaluate(([click, done, caption]) =>
  new Promise((ok, fail) => {
    const ready = () => document.querySelector(done) &&
      (!caption || document.querySelector(".version-caption")?.textContent.startsWith(caption))
    const t0 = performance.now()
    const settle = () => requestAnimationFrame(() => setTimeout(() => ok(performance.now() - t0)))
    const seen = new MutationObserver(() => { if (ready()) { seen.disconnect(); settle() } })
    seen.observe(document.body, { subtree: true, childList: true, attributes: true, characterData: true })
    setTimeout(() => { seen.disconnect(); fail(new Error(`${done} did not appear after ${click}`)) }, 60_000)
    if (click === "history") {
      [...document.querySelectorAll("button")].find(b => b.textContent.trim() === "History").click()
    } else if (click === "compare:now") {
      const select = document.querySelector("section.version select[data-act=compare]")
      select.value = "now"
      select.dispatchEvent(new Event("change", { bubbles: true }))
    } else {
      document.querySelector(click).click()
    }
  }), [click, done, caption])

const median = xs => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const ms = x => x.toFixed(0)

const { duet, personPage, close } = await benchSetup()
try {
  const page = await personPage("Reviewer")
  // The first person of the setup is `bench-1`: the spec is shared with them.
  const out = execFileSync(join(root, "target/release/duet-history-bench"), [
    "--url", `${duet.url.replace("http", "ws")}/sync`, "--changes", String(CHANGES),
    "--share", "bench-1", "--repeat", "1",
  ], { encoding: "utf8" })
  const id = out.match(/^spec (\S+)/m)?.[1]
  if (!id) throw new Error(`no spec id in: ${out}`)
  await page.goto(`${duet.url}/specs/${id}`)
  await page.getByRole("textbox", { name: "Problem", exact: true }).waitFor({ timeout: 120_000 })

  // The spec's own opening (the browser reads 50,000 changes) is done once its editor
  // answers; the history is timed from there.
  await page.waitForTimeout(1000)
  const opens = [], sessions = [], diffs = [], blames = []
  for (let i = 0; i < RUNS; i++) {
    opens.push(await timed(page, "history", "aside.history li.session"))
    // The oldest session, then the same against the current spec: the two most distant versions.
    sessions.push(await timed(page, "aside.history li.session:last-child button",
      'section.version [data-field="problem"] .vtext'))
    diffs.push(await timed(page, "compare:now", 'section.version [data-field="problem"] .vtext',
      "Changes since"))
    await timed(page, "button[data-act=back]", "main.spec .live:not([hidden])")
    blames.push(await timed(page, "button[data-act=blame]",
      'section.version [data-field="problem"] .vtext .by'))
    await timed(page, "button[data-act=blame]", "main.spec .live:not([hidden])")
    await timed(page, "history", "aside.history:empty")
  }
  // Undo: type a word into the problem, then Ctrl+Z; timed inside the page from the
  // keydown to the first frame painted after the field lost the word.
  const undos = [], keys = []
  const problem = page.getByRole("textbox", { name: "Problem", exact: true })
  for (let i = 0; i < RUNS * 2; i++) {
    await problem.click()
    await page.keyboard.press("End")
    await page.keyboard.type(" undone", { delay: 30 })
    await page.waitForTimeout(700)
    await problem.evaluate(el => {
      window.__undo = new Promise(ok => {
        const len = el.value.length
        const down = e => {
          if (e.key.toLowerCase() !== "z") return
          const t0 = e.timeStamp
          const check = () => el.value.length < len
            ? requestAnimationFrame(() => setTimeout(() => ok(performance.now() - t0)))
            : requestAnimationFrame(check)
          requestAnimationFrame(check)
          window.removeEventListener("keydown", down, true)
        }
        window.addEventListener("keydown", down, true)
      })
    })
    await page.keyboard.press("Control+z")
    undos.push(await page.evaluate(() => window.__undo))
    // The same measure for one typed character, for comparison.
    await page.waitForTimeout(300)
    await problem.evaluate(el => {
      window.__key = new Promise(ok => {
        const len = el.value.length
        el.addEventListener("keydown", e => {
          const t0 = e.timeStamp
          const check = () => el.value.length > len
            ? requestAnimationFrame(() => setTimeout(() => ok(performance.now() - t0)))
            : requestAnimationFrame(check)
          requestAnimationFrame(check)
        }, { once: true })
      })
    })
    await page.keyboard.press("x")
    keys.push(await page.evaluate(() => window.__key))
    await page.keyboard.press("Backspace")
    await page.waitForTimeout(700)
  }
  console.log(`\n| history by author, ${CHANGES} changes (${RUNS} runs) | median (ms) | max (ms) |`)
  console.log("|---|---:|---:|")
  for (const [name, xs] of [
    ["open the history panel → sessions shown", opens],
    ["oldest session → its version and diff shown", sessions],
    ["compare that version with now → diff shown", diffs],
    ["blame on → every field coloured", blames],
    ["Ctrl+Z of a typed word → painted (rAF + task after it)", undos],
    ["one typed character → painted (the same measure)", keys],
  ]) console.log(`| ${name} | ${ms(median(xs))} | ${ms(Math.max(...xs))} |`)
} finally {
  await close()
}
