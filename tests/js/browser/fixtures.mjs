// Test fixtures: a real `duet serve` (fresh data folder, free port, the built app) per test file; people as signed-up accounts, each in their own browser context.
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

export const PASSWORD = "correct horse battery staple"

let serial = 0
/// A username no other test uses on the shared server: "Ada Lovelace" → "ada-lovelace-4k2x".
export function usernameFor(name) {
  const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "")
  return `${slug}-${(++serial).toString(36)}${Math.random().toString(36).slice(2, 5)}`
}

/// Signs up an account named `name` from a browser context: the session cookie stays in
/// the context, so its pages are signed in. Returns { username, password, display_name, request }.
export async function signUp(context, duet, name) {
  const account = { username: usernameFor(name), password: PASSWORD, display_name: name }
  const res = await context.request.post(`${duet.url}/api/auth/signup`, { data: account })
  expect(res.status(), await res.text()).toBe(201)
  return { ...account, request: context.request }
}

/// `who` (an account from `signUp`) calls the REST API: the parsed JSON, or null for 204.
export async function api(duet, who, method, path, data) {
  const res = await who.request.fetch(`${duet.url}${path}`, { method, data })
  expect(res.ok(), `${method} ${path}: ${res.status()} ${await res.text()}`).toBe(true)
  return res.status() === 204 ? null : res.json()
}

/// `owner` creates a spec over REST; returns its summary ({ id, url, title, role, … }).
export async function createSpec(duet, title, owner) {
  const res = await owner.request.post(`${duet.url}/api/specs`, { data: { title } })
  expect(res.status()).toBe(201)
  return res.json()
}

/// `owner` gives `someone` a role ("owner", "editor", "viewer") on spec `id`.
export async function share(duet, id, owner, someone, role) {
  return api(duet, owner, "PUT", `/api/specs/${id}/roles/${someone.username}`, { role })
}

/// The server's Markdown export of a spec, read as `who`.
export async function markdown(duet, id, who) {
  return (await who.request.get(`${duet.url}/api/specs/${id}/markdown`)).text()
}

/// The specs `who` sees over REST.
export async function specList(duet, who) {
  return api(duet, who, "GET", "/api/specs")
}

/// An API token of `who`, for scripts and other Automerge clients (`?token=` on /sync).
export async function apiToken(duet, who) {
  return (await api(duet, who, "POST", "/api/tokens")).token
}

/// Watches a page for console errors and uncaught exceptions. `allowed` patterns are
/// matched against "<message> <url>" (Chromium logs every 4xx answer as "Failed to load
/// resource: … status of 401 …"; the URL says which request).
export function watchConsole(page, allowed = []) {
  const problems = []
  const patterns = [allowed].flat(Infinity)
  const ok = text => patterns.some(re => re.test(text))
  page.on("console", m => {
    const text = `${m.text()} ${m.location()?.url ?? ""}`
    if (m.type() === "error" && !ok(text)) problems.push(text)
  })
  page.on("pageerror", e => problems.push(String(e)))
  return problems
}

/// A person in their own browser context, signed up as `name` (null: no account yet);
/// `close()` checks their console (`allowed`: patterns of console errors the test expects).
export async function person(browser, duet, name, allowed = []) {
  const context = await browser.newContext()
  const account = name === null ? null : await signUp(context, duet, name)
  const page = await context.newPage()
  const problems = watchConsole(page, allowed)
  return {
    page,
    context,
    account,
    ...account,
    async close() {
      await context.close()
      expect(problems, `errors in ${name}'s browser console`).toEqual([])
    },
  }
}

/// The console error of a request the server answers with `status` (a 401 from /api/me
/// for a visitor, a 404 for a spec without a role…): `refused(401, "/api/me")`.
export const refused = (status, path) => new RegExp(`status of ${status} .*${path.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`)

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
  // The display name of the page's account (null: a visitor without an account).
  personName: ["Ada Lovelace", { option: true }],
  // The page's account, signed up before the page loads (null for a visitor).
  account: async ({ context, duet, personName }, use) => {
    await use(personName === null ? null : await signUp(context, duet, personName))
  },
  // Every page fails its test on a console error or an uncaught exception.
  page: async ({ page, account, allowedConsoleErrors }, use) => {
    void account
    const problems = watchConsole(page, allowedConsoleErrors)
    await use(page)
    expect(problems, "errors in the browser console").toEqual([])
  },
})

export { expect }
