// What the browser benchmarks share: headless Chromium, a release `duet serve` on a fresh data folder, people as signed-up accounts, new specs every one of them may edit.
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
  // Specs are created by one owner and shared with every person, whenever either appears.
  const owner = await signUp(duet.url, "bench-owner")
  const people = []
  const specs = []
  const share = (spec, username) =>
    call(duet.url, owner.token, "PUT", `/api/specs/${spec}/roles/${username}`, { role: "editor" })
  let n = 0
  return {
    browser,
    duet,
    /// A page in its own browser context, signed in as a new account shown as `name`.
    async personPage(name) {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
      const username = `bench-${++n}`
      const res = await context.request.post(`${duet.url}/api/auth/signup`, {
        data: { username, password: PASSWORD, display_name: name },
      })
      if (res.status() !== 201) throw new Error(`signing up ${name}: ${res.status()} ${await res.text()}`)
      people.push(username)
      for (const spec of specs) await share(spec, username)
      return context.newPage()
    },
    /// A spec created over REST (by the owner, shared with every person); its summary.
    async newSpec(title) {
      const spec = await call(duet.url, owner.token, "POST", "/api/specs", { title })
      specs.push(spec.id)
      for (const username of people) await share(spec.id, username)
      return spec
    },
    async close() {
      await browser.close()
      await duet.stop()
      rmSync(data, { recursive: true, force: true })
    },
  }
}

const PASSWORD = "benchmark password"

/// Signs up `username` with Node's fetch; returns an API token for it.
async function signUp(url, username) {
  const res = await fetch(`${url}/api/auth/signup`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username, password: PASSWORD }),
  })
  if (res.status !== 201) throw new Error(`signing up ${username}: ${res.status} ${await res.text()}`)
  const cookie = res.headers.get("set-cookie").split(";")[0]
  const token = await fetch(`${url}/api/tokens`, { method: "POST", headers: { cookie } })
  return { token: (await token.json()).token }
}

/// One REST call with an API token; the parsed JSON answer.
async function call(url, token, method, path, body) {
  const res = await fetch(`${url}${path}`, {
    method,
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: body === undefined ? undefined : JSON.stringify(body),
  })
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
  return res.json()
}
