// Test fixtures: a real `duet serve` (fresh data folder, free port, the built app) per test file.
import { test as base, expect } from "@playwright/test"
import { mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { spawnDuet } from "../duet-server.mjs"

async function startDuet() {
  const data = mkdtempSync(join(tmpdir(), "duet-browser-"))
  let server = await spawnDuet("127.0.0.1:0", data)
  const url = server.url
  return {
    url,
    /// Stops the server (SIGTERM), runs `meanwhile`, starts it again on the same port and data.
    async restart(meanwhile = async () => {}) {
      await server.stop()
      await meanwhile()
      server = await spawnDuet(new URL(url).host, data)
    },
    /// Freezes the server (SIGSTOP) while `meanwhile` runs: sockets stay open, nothing is
    /// answered — a network that died without saying so. Then lets it go on (SIGCONT).
    async freeze(meanwhile) {
      process.kill(server.pid, "SIGSTOP")
      try {
        await meanwhile()
      } finally {
        process.kill(server.pid, "SIGCONT")
      }
    },
    async stop() {
      await server.stop()
      rmSync(data, { recursive: true, force: true })
    },
  }
}

/// Creates a spec over REST; returns its summary ({ id, url, title, … }).
export async function createSpec(duet, title) {
  const res = await fetch(`${duet.url}/api/specs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title }),
  })
  expect(res.status).toBe(201)
  return res.json()
}

/// The server's Markdown export of a spec.
export async function markdown(duet, id) {
  return (await fetch(`${duet.url}/api/specs/${id}/markdown`)).text()
}

/// Makes a page remember `name` as its person before the app loads (null: a first visit).
export async function rememberName(pageOrContext, name) {
  if (name === null) return
  await pageOrContext.addInitScript(n => {
    if (!localStorage.getItem("duet.name")) localStorage.setItem("duet.name", n)
  }, name)
}

/// Watches a page for console errors and uncaught exceptions.
export function watchConsole(page, allowed = []) {
  const problems = []
  const patterns = [allowed].flat(Infinity)
  const ok = text => patterns.some(re => re.test(text))
  page.on("console", m => m.type() === "error" && !ok(m.text()) && problems.push(m.text()))
  page.on("pageerror", e => problems.push(String(e)))
  return problems
}

/// A second person in their own browser context, named `name`; `close()` checks their
/// console (`allowed`: patterns of console errors the test expects).
export async function person(browser, name, allowed = []) {
  const context = await browser.newContext()
  await rememberName(context, name)
  const page = await context.newPage()
  const problems = watchConsole(page, allowed)
  return {
    page,
    async close() {
      await context.close()
      expect(problems, `errors in ${name}'s browser console`).toEqual([])
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
  // Console errors a test expects (e.g. the failed reconnects while the server is down):
  // `test.use({ allowedConsoleErrors: [[/pattern/, …]] })` (the outer array is Playwright's).
  allowedConsoleErrors: [[], { option: true }],
  // The name the page's person has chosen (null: the page is a first visit).
  personName: ["Ada Lovelace", { option: true }],
  // Every page fails its test on a console error or an uncaught exception.
  page: async ({ page, allowedConsoleErrors, personName }, use) => {
    await rememberName(page, personName)
    const problems = watchConsole(page, allowedConsoleErrors)
    await use(page)
    expect(problems, "errors in the browser console").toEqual([])
  },
})

export { expect }
