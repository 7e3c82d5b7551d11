// What the browser benchmarks share: headless Chromium, a release `duet serve` on a fresh data folder, named people, new specs.
import { chromium } from "@playwright/test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnDuet } from "../duet-server.mjs"

/// Starts Chromium and Duet; `close()` stops both and removes the data folder.
export async function benchSetup() {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  })
  const data = mkdtempSync(join(tmpdir(), "duet-bench-"))
  const duet = await spawnDuet("127.0.0.1:0", data)
  return {
    browser,
    duet,
    /// A page in its own browser context whose person is `name`.
    async personPage(name) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
      await context.addInitScript(n => localStorage.setItem("duet.name", n), name)
      return context.newPage()
    },
    /// A spec created over REST; its summary.
    async newSpec(title) {
      const res = await fetch(`${duet.url}/api/specs`, {
        method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ title }),
      })
      return res.json()
    },
    async close() {
      await browser.close()
      await duet.stop()
      rmSync(data, { recursive: true, force: true })
    },
  }
}
