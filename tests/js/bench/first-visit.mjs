// What a visit transfers (not a test): a first visit — the sign-in page, then signing in and the spec list — and a repeat visit, summed from Chromium's network events (bytes on the wire: headers and compressed bodies). Run with `cargo xtask bench-first-visit`.
import { benchSetup } from "./setup.mjs"

/// Bytes received while `during` runs in `page`, by URL path.
async function transferred(page, during) {
  const cdp = await page.context().newCDPSession(page)
  await cdp.send("Network.enable")
  const urls = new Map()
  const bytes = new Map()
  cdp.on("Network.requestWillBeSent", e => urls.set(e.requestId, new URL(e.request.url).pathname))
  cdp.on("Network.loadingFinished", e => bytes.set(e.requestId, e.encodedDataLength))
  await during()
  await page.waitForLoadState("networkidle")
  const byPath = new Map()
  for (const [id, n] of bytes) {
    const path = urls.get(id) ?? "?"
    byPath.set(path, (byPath.get(path) ?? 0) + n)
  }
  await cdp.detach()
  return byPath
}

const total = m => [...m.values()].reduce((a, b) => a + b, 0)
const kb = n => `${(n / 1000).toFixed(1)} KB`

const { browser, duet, close } = await benchSetup()
try {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
  const page = await context.newPage()
  const username = `visitor-${Date.now().toString(36)}`
  await page.request.post(`${duet.url}/api/auth/signup`, { data: { username, password: "a long password" } })
  await page.request.post(`${duet.url}/api/auth/signout`)
  const first = await transferred(page, async () => {
    await page.goto(duet.url)
    await page.getByRole("heading", { name: "Sign in to Duet" }).waitFor()
    await page.getByLabel("Username").fill(username)
    await page.getByLabel("Password").fill("a long password")
    await page.getByRole("button", { name: "Sign in" }).click()
    await page.getByRole("heading", { name: "Specs" }).waitFor()
  })
  console.log(`first visit (sign-in page, sign in, the list): ${kb(total(first))}`)
  for (const [path, n] of [...first].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${kb(n).padStart(10)}  ${path}`)
  const again = await transferred(page, async () => {
    await page.reload()
    await page.getByRole("heading", { name: "Specs" }).waitFor()
  })
  console.log(`repeat visit (reload of the list): ${kb(total(again))}`)
  for (const [path, n] of [...again].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${kb(n).padStart(10)}  ${path}`)
  // The browser's HTTP cache alone (no service worker, as in a browser that blocks them):
  // content-hashed files are kept for good, the page is revalidated.
  const plain = await browser.newContext({ viewport: { width: 1280, height: 900 }, serviceWorkers: "block" })
  await plain.addCookies(await context.cookies())
  const tab = await plain.newPage()
  const cold = await transferred(tab, async () => {
    await tab.goto(duet.url)
    await tab.getByRole("heading", { name: "Specs" }).waitFor()
  })
  const warm = await transferred(tab, async () => {
    await tab.goto(duet.url)
    await tab.getByRole("heading", { name: "Specs" }).waitFor()
  })
  console.log(`without a service worker: first ${kb(total(cold))}, repeat ${kb(total(warm))}`)
  for (const [path, n] of [...warm].sort((a, b) => b[1] - a[1]).slice(0, 8)) console.log(`  ${kb(n).padStart(10)}  ${path}`)
} finally {
  await close()
}
