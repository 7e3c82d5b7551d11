// Browser timings of history by author (not a test) on a spec of 50,000 changes typed by two people through the server: opening the history panel, a diff of the oldest session against now, the blame view. Run with `cargo xtask bench-history`.
import { execFileSync } from "node:child_process"
import { join } from "node:path"
import { root } from "../duet-server.mjs"
import { benchSetup } from "./setup.mjs"

const CHANGES = Number(process.env.CHANGES ?? 50000)
const RUNS = 5

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

  const history = page.getByRole("button", { name: "History" })
  const panel = page.getByRole("complementary", { name: "History" })
  const opens = [], diffs = [], blames = []
  for (let i = 0; i < RUNS; i++) {
    let t = performance.now()
    await history.click()
    await panel.locator("li.session").first().waitFor()
    opens.push(performance.now() - t)

    // The oldest session against the current spec: the two most distant versions.
    t = performance.now()
    await panel.locator("li.session").last().getByRole("button").click()
    const version = page.getByRole("region", { name: "Version" })
    await version.locator('[data-field="problem"] .vtext').waitFor()
    const answered = page.waitForResponse(r => r.url().includes("/diff?"))
    await version.getByLabel("Compare with").selectOption("now")
    await answered
    // The diff is on the page once the frame after the answer is painted.
    await page.evaluate(() => new Promise(ok => requestAnimationFrame(() => setTimeout(ok))))
    diffs.push(performance.now() - t)
    await version.getByRole("button", { name: "Back to the live spec" }).click()

    t = performance.now()
    await panel.getByRole("button", { name: "Blame" }).click()
    await page.getByRole("region", { name: "Blame" }).locator('[data-field="problem"] .vtext .by').first().waitFor()
    blames.push(performance.now() - t)
    await panel.getByRole("button", { name: "Blame" }).click()
    await history.click()
    await panel.waitFor({ state: "detached" })
  }
  console.log(`\n| history by author, ${CHANGES} changes (${RUNS} runs) | median (ms) | max (ms) |`)
  console.log("|---|---:|---:|")
  for (const [name, xs] of [
    ["open the history panel → sessions shown", opens],
    ["oldest session, then compare with now → diff shown", diffs],
    ["blame on → every field coloured", blames],
  ]) console.log(`| ${name} | ${ms(median(xs))} | ${ms(Math.max(...xs))} |`)
} finally {
  await close()
}
