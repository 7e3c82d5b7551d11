// The spec list page: shows the specs the person has a role on, creates new ones, reads non-ASCII titles; a visitor signs up first.
import { test, expect, createSpec, person, refused, share, specList } from "./fixtures.mjs"

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
  await page.getByRole("button", { name: "New spec" }).click()
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
    await page.getByRole("button", { name: "New spec" }).click()
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
      await page.getByRole("button", { name: "New spec" }).click()
      await expect(page.getByRole("textbox", { name: "Spec title" })).toHaveValue("Raced")
      await page.goBack()
      await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    })
    await expect.poll(() => armed).toBe(false)
    await expect(page.locator("li.spec", { hasText: "Raced" })).toBeVisible()
    await expect(page.locator("li.spec", { hasText: "Raced" }).locator(".here-only")).toHaveCount(0)
  })
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
    await page.getByRole("button", { name: "New spec" }).click()
    await expect(page.locator(".person.me")).toContainText("Grace Hopper (you)")
    await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Bugs")
    await expect.poll(async () => {
      const specs = await (await page.request.get(`${duet.url}/api/specs`)).json()
      return specs.find(s => s.title === "Compiler notes")?.authors ?? []
    }).toContain(username)
  })
})
