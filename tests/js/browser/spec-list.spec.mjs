// The spec list page: shows the specs the person has a role on, creates new ones, reads non-ASCII titles; a visitor signs up first.
import { readFileSync } from "node:fs"
import { test, expect, createSpec, markdown, person, refused, share, specList } from "./fixtures.mjs"

test("the list shows a spec created over REST with its title, author and the person's role", async ({ page, duet, account, browser }) => {
  await createSpec(duet, "Export to CSV", account)
  await page.goto(duet.url)
  const row = page.locator("li.spec", { hasText: "Export to CSV" })
  await expect(row).toBeVisible()
  await expect(row.locator(".authors")).toHaveText(account.display_name) // people by their display names
  await expect(row.locator(".role")).toHaveCount(0) // the owner's own specs say nothing

  // Someone else sees it only once it is shared with them, with their role.
  const bo = await person(browser, duet, "Bo Builder")
  await bo.page.goto(duet.url)
  await expect(bo.page.getByText("No specs yet.")).toBeVisible()
  const spec = (await specList(duet, account)).find(s => s.title === "Export to CSV")
  await share(duet, spec.id, account, bo, "viewer")
  await bo.page.reload()
  await expect(bo.page.locator("li.spec", { hasText: "Export to CSV" }).locator(".role")).toHaveText("Can view")
  await bo.close()
})

test("creating a spec from the page opens it, lists it and sends it to the server; an empty title makes an Untitled spec", async ({ page, duet, account }) => {
  const title = page.getByRole("textbox", { name: "Spec title" })
  await page.goto(duet.url)
  await expect(page.getByRole("status")).toHaveText("Live")
  await page.getByLabel("Title of the new spec").fill("Offline mode 🛫 離線")
  await page.getByRole("button", { name: "New spec", exact: true }).click()
  await expect(title).toHaveValue("Offline mode 🛫 離線")
  await expect(page).toHaveURL(/\/specs\/[^/]+$/)
  // Created on the device first, it reaches the server over the sync connection.
  await expect.poll(async () => (await specList(duet, account)).map(s => s.title)).toContain("Offline mode 🛫 離線")
  await page.goBack()
  await expect(page.getByLabel("Title of the new spec")).toHaveValue("")
  await expect(page.locator("li.spec", { hasText: "Offline mode 🛫 離線" })).toBeVisible()
  await expect(page.locator("li.spec", { hasText: "Offline mode 🛫 離線" }).locator(".here-only")).toHaveCount(0)
  // Several in a row, each opened as soon as it is made; nothing typed: "Untitled spec".
  for (const name of ["Second", "Third", ""]) {
    await page.getByLabel("Title of the new spec").fill(name)
    await page.getByRole("button", { name: "New spec", exact: true }).click()
    await expect(title).toHaveValue(name || "Untitled spec")
    await page.goBack()
    await expect(page.locator("li.spec", { hasText: name || "Untitled spec" })).toBeVisible()
  }
})

test.describe("without the service worker", () => {
  // Requests a service worker makes escape `page.route`: on a first visit the worker may or
  // may not control the page yet, so this test runs without it.
  test.use({ serviceWorkers: "block" })

  test("a spec created from the page stays listed when the server's list was read just before the server had it", async ({ page, duet, account }) => {
    await page.goto(duet.url)
    await expect(page.getByRole("status")).toHaveText("Live")
    // The next read of the list gets the server's answer from before the spec existed, and
    // only once the page has heard that the server has the spec (its record on the device
    // no longer says "created here").
    const stale = await (await page.request.get(`${duet.url}/api/specs`)).text()
    const acknowledged = () =>
      page.evaluate(
        db =>
          new Promise(resolve => {
            const open = indexedDB.open(db)
            open.onsuccess = () => {
              const all = open.result.transaction("docs").objectStore("docs").getAll()
              all.onsuccess = () => resolve(all.result.some(r => r.title === "Raced" && !r.local && !r.pending))
            }
            open.onerror = () => resolve(false)
          }),
        `duet-${account.username}`,
      )
    let armed = false
    await page.route("**/api/specs?*", async route => {
      if (route.request().method() !== "GET" || !armed) return route.continue()
      armed = false
      await expect.poll(acknowledged).toBe(true)
      await route.fulfill({ status: 200, contentType: "application/json", body: stale })
    })
    // The server is held still while the spec is made (it opens) and the list is shown
    // again: the list's read is in flight before the server has the spec.
    await duet.freeze(async () => {
      await page.getByLabel("Title of the new spec").fill("Raced")
      armed = true
      await page.getByRole("button", { name: "New spec", exact: true }).click()
      await expect(page.getByRole("textbox", { name: "Spec title" })).toHaveValue("Raced")
      await page.goBack()
      await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    })
    await expect.poll(() => armed).toBe(false)
    await expect(page.locator("li.spec", { hasText: "Raced" })).toBeVisible()
    await expect(page.locator("li.spec", { hasText: "Raced" }).locator(".here-only")).toHaveCount(0)
  })
})

test("the app has a favicon, not the app's page, at /favicon.ico", async ({ page, duet }) => {
  for (const [path, type] of [["/favicon.ico", "image/x-icon"], ["/favicon.svg", "image/svg+xml"]]) {
    const res = await page.request.get(`${duet.url}${path}`)
    expect(res.status()).toBe(200)
    expect(res.headers()["content-type"]).toContain(type)
  }
  await page.goto(duet.url)
  await expect(page.locator('link[rel="icon"]').first()).toHaveAttribute("href", "/favicon.svg")
})

test("the app arrives brotli-compressed under content-hashed names kept for good, the page revalidated, under a Content-Security-Policy it keeps to", async ({ page, duet }) => {
  const wasm = page.waitForResponse(r => /\/duet_frontend_bg\.[0-9a-f]{16}\.wasm$/.test(r.url()))
  const shell = page.waitForResponse(r => r.url() === `${duet.url}/`)
  await page.goto(duet.url)
  const res = await wasm
  const headers = res.headers()
  expect(headers["content-encoding"]).toBe("br")
  expect(headers["cache-control"]).toBe("public, max-age=31536000, immutable")
  expect((await shell).headers()["cache-control"]).toBe("no-cache")
  expect(headers["content-security-policy"]).toContain("script-src 'self' 'wasm-unsafe-eval'")
  // The page runs under it: the list loads (any refusal would be a console error, which
  // fails the test).
  await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
})

test("unknown paths load the app and say there is no such page", async ({ page, duet }) => {
  await page.goto(`${duet.url}/no/such/page`)
  await expect(page.getByText("There is no such page.")).toBeVisible()
  await page.goto(`${duet.url}/specs/not-an-id`)
  await expect(page.getByRole("alert")).toHaveText("This is not a link to a spec.")
})

test.describe("a visitor without an account", () => {
  test.use({ personName: null, allowedConsoleErrors: [[refused(401, "/api/me"), refused(400, "/api/auth/signup")]] })

  test("signs up on the sign-in page, is remembered by the browser and authors edits as their username", async ({ page, duet }) => {
    await page.goto(duet.url)
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible()
    await page.getByRole("button", { name: "Create an account" }).click()
    await expect(page.getByRole("heading", { name: "Create your Duet account" })).toBeVisible()
    const username = `grace-${Date.now().toString(36)}`
    await page.getByLabel("Username").fill(username)
    await page.getByLabel("Password").fill("short")
    await page.getByLabel("Display name").fill("Grace Hopper")
    await page.getByRole("button", { name: "Create account" }).click()
    // The server's reason, in its words.
    await expect(page.getByRole("alert")).toContainText(/password/i)
    await page.getByLabel("Password").fill("a long enough password")
    await page.getByRole("button", { name: "Create account" }).click()
    await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    await expect(page.getByRole("link", { name: "Grace Hopper" })).toHaveAttribute("href", "/me")
    expect(JSON.parse(await page.evaluate(() => localStorage.getItem("duet.account"))).username).toBe(username)

    // The session is kept: a reload goes straight to the list, and edits carry the author.
    await page.reload()
    await page.getByLabel("Title of the new spec").fill("Compiler notes")
    await page.getByRole("button", { name: "New spec", exact: true }).click()
    await expect(page.locator(".person.me")).toContainText("Grace Hopper (you)")
    await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Bugs")
    await expect.poll(async () => {
      const specs = await (await page.request.get(`${duet.url}/api/specs`)).json()
      return specs.find(s => s.title === "Compiler notes")?.authors ?? []
    }).toContain(username)
  })
})

test("owners rename, archive, delete (asked first, with Undo) and bring back specs from the list; the list searches titles and text and filters; others get no such controls", async ({ page, duet, account, browser }) => {
  const exports = await createSpec(duet, "Quarterly exports", account)
  await createSpec(duet, "Login page", account)
  const bo = await person(browser, duet, "Bo Builder")
  await share(duet, exports.id, account, bo, "editor")
  const row = title => page.locator("li.spec", { hasText: title })

  // Some text to search for, typed into the spec.
  await page.goto(`${duet.url}/specs/${exports.id}`)
  await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Auditors reconcile the ledger by hand")
  await expect.poll(() => markdown(duet, exports.id, account)).toContain("ledger")
  await page.goto(duet.url)

  // Rename in place.
  await row("Quarterly exports").getByRole("button", { name: "Rename" }).click()
  await page.getByLabel("New title").fill("Quarterly CSV exports")
  await page.getByLabel("New title").press("Enter")
  await expect(row("Quarterly CSV exports")).toBeVisible()
  await expect.poll(async () => (await specList(duet, account)).map(s => s.title).sort()).toEqual(["Login page", "Quarterly CSV exports"])

  // Search: titles and text, any case.
  const search = page.getByLabel("Search specs")
  await search.fill("LEDGER")
  await expect(page.locator("li.spec")).toHaveCount(1)
  await expect(row("Quarterly CSV exports")).toBeVisible()
  await search.fill("login")
  await expect(page.locator("li.spec")).toHaveCount(1)
  await expect(row("Login page")).toBeVisible()
  await search.fill("nowhere to be found")
  await expect(page.getByText("No spec holds these words.")).toBeVisible()
  await search.fill("")

  // Archive: out of the list, under Archived, and back.
  await row("Login page").getByRole("button", { name: "Archive" }).click()
  await expect(page.getByText("Archived “Login page”: find it under Archived.")).toBeVisible()
  await expect(row("Login page")).toHaveCount(0)
  const show = page.getByLabel("Show")
  await show.selectOption("archived")
  await expect(row("Login page").locator(".archived")).toHaveText("archived")
  await row("Login page").getByRole("button", { name: "Unarchive" }).click()
  await expect(row("Login page")).toHaveCount(0)
  await show.selectOption("")
  await expect(row("Login page")).toBeVisible()

  // Delete: asked first; Undo brings it back; under Deleted, Bring back does too.
  await row("Login page").getByRole("button", { name: "Delete…" }).click()
  const ask = page.getByRole("group", { name: "Delete this spec?" })
  await expect(ask).toContainText("you can bring it back for 30 days")
  await ask.getByRole("button", { name: "Cancel" }).click()
  await expect(row("Login page")).toBeVisible()
  await row("Login page").getByRole("button", { name: "Delete…" }).click()
  await ask.getByRole("button", { name: "Delete spec" }).click()
  await expect(row("Login page")).toHaveCount(0)
  await page.getByRole("button", { name: "Undo" }).click()
  await expect(row("Login page")).toBeVisible()
  await row("Login page").getByRole("button", { name: "Delete…" }).click()
  await ask.getByRole("button", { name: "Delete spec" }).click()
  await expect(row("Login page")).toHaveCount(0)
  await show.selectOption("deleted")
  await expect(row("Login page").locator(".deleted")).toContainText("gone for good")
  await expect(row("Login page").getByRole("link")).toHaveCount(0)
  await page.screenshot({ path: test.info().outputPath("deleted-specs.png"), fullPage: true })
  await row("Login page").getByRole("button", { name: "Bring back" }).click()
  await show.selectOption("mine")
  await expect(row("Login page")).toBeVisible()

  // Bo, an editor of one of them, finds it under "Shared with me", without owner controls.
  await bo.page.goto(duet.url)
  await bo.page.getByLabel("Show").selectOption("shared")
  const shared = bo.page.locator("li.spec", { hasText: "Quarterly CSV exports" })
  await expect(shared).toBeVisible()
  await expect(shared.getByRole("button")).toHaveCount(0)
  await bo.close()
})

test.describe("importing Markdown", () => {
  test.use({ acceptDownloads: true })

  test("Export downloads the spec as Markdown, New spec from Markdown… makes the same spec from it, and a file it cannot read is refused naming the line", async ({ page, duet, account }) => {
    const spec = await createSpec(duet, "Exports round trip", account)
    await page.goto(`${duet.url}/specs/${spec.id}`)
    await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Finance needs the ledger — «ready» by Q3")
    await page.getByRole("button", { name: "Add story" }).click()
    await page.keyboard.type("analyst")
    await page.getByRole("button", { name: "Add UX criterion" }).click()
    await page.keyboard.type("One click")
    await expect.poll(() => markdown(duet, spec.id, account)).toContain("One click")

    await page.getByRole("button", { name: "Export" }).click()
    const downloading = page.waitForEvent("download")
    await page.getByRole("button", { name: "Download Markdown" }).click()
    const download = await downloading
    expect(download.suggestedFilename()).toBe("exports-round-trip.md")
    const file = test.info().outputPath("exported.md")
    await download.saveAs(file)
    const exported = readFileSync(file, "utf8")
    expect(exported).toBe(await markdown(duet, spec.id, account))

    // Back on the list: a new spec from that file reads exactly the same.
    await page.goto(duet.url)
    await page.getByLabel("New spec from Markdown…").setInputFiles({ name: "spec.md", mimeType: "text/markdown", buffer: Buffer.from(exported) })
    await expect(page).toHaveURL(/\/specs\/[^/]+$/)
    await expect(page.getByRole("textbox", { name: "Problem", exact: true })).toHaveValue("Finance needs the ledger — «ready» by Q3")
    const id = await page.locator("main.spec").getAttribute("data-id")
    expect(id).not.toBe(spec.id)
    await expect.poll(() => markdown(duet, id, account).catch(() => "")).toBe(exported)

    await page.goto(duet.url)
    await page.getByLabel("New spec from Markdown…").setInputFiles({ name: "notes.md", mimeType: "text/markdown", buffer: Buffer.from("# Trip\n\nhello there\n") })
    await expect(page.getByRole("alert")).toHaveText("Line 3: expected `## Problem` after the title.")
    await expect(page).toHaveURL(`${duet.url}/`)
  })
})
