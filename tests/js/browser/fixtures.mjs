// Test fixtures: a real `duet serve` (fresh data folder, free port, the built app) per test file.
import { test as base, expect } from "@playwright/test"
import { spawn } from "node:child_process"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"

const root = resolve(import.meta.dirname, "../../..")

async function startDuet() {
  const bin = process.env.DUET_BIN ?? join(root, "target/debug/duet")
  const data = mkdtempSync(join(tmpdir(), "duet-browser-"))
  const child = spawn(
    bin,
    ["serve", "--addr", "127.0.0.1:0", "--data", data, "--frontend", join(root, "frontend/dist")],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } },
  )
  const line = await new Promise((ok, fail) => {
    const lines = createInterface({ input: child.stdout })
    lines.once("line", ok)
    child.once("exit", code => fail(new Error(`duet exited with ${code} before listening`)))
  })
  const url = line.match(/http:\/\/\S+/)?.[0]
  if (!url) throw new Error(`duet printed no address: ${line}`)
  return {
    url,
    async stop() {
      child.kill("SIGTERM")
      await new Promise(ok => child.once("exit", ok))
      rmSync(data, { recursive: true, force: true })
    },
  }
}

export const test = base.extend({
  duet: [
    async ({}, use) => {
      const duet = await startDuet()
      await use(duet)
      await duet.stop()
    },
    { scope: "worker" },
  ],
  // Every page fails its test on a console error or an uncaught exception.
  page: async ({ page }, use) => {
    const problems = []
    page.on("console", m => m.type() === "error" && problems.push(m.text()))
    page.on("pageerror", e => problems.push(String(e)))
    await use(page)
    expect(problems, "errors in the browser console").toEqual([])
  },
})

export { expect }
