// Offline editing: edits kept on the device through reloads, the app shell without network, reconnect and converge, the merge review, specs created offline, a server restart mid-edit.
import { test, expect, createSpec, markdown, person, share, specList } from "./fixtures.mjs"

const field = (page, name) => page.getByRole("textbox", { name, exact: true })
const status = page => page.getByRole("status")
// An offline page's failed requests and refused sockets are logged by Chromium: expected here.
const offlineNoise = [/ERR_INTERNET_DISCONNECTED/, /WebSocket connection to .* failed/, /Failed to load resource/]

/// Opens `url` and waits until the page is live and its service worker holds the shell.
async function openLive(page, url) {
  await page.goto(url)
  await expect(status(page)).toHaveText("Live")
  await page.evaluate(() => navigator.serviceWorker.ready.then(() => true))
}

/// Opens `spec` live and waits until its content has arrived (Live comes first).
async function openSpec(page, duet, spec) {
  await openLive(page, `${duet.url}/specs/${spec.id}`)
  await expect(field(page, "Spec title")).toHaveValue(spec.title)
}

/// Waits until this device's store (the account's database) holds `spec` together with
/// the heads the server has of it (what a reload with the server unreachable shows).
async function keptOnDevice(page, spec, who) {
  const kept = () =>
    page.evaluate(
      ([doc, db]) =>
        new Promise(resolve => {
          const open = indexedDB.open(db)
          open.onerror = () => resolve(false)
          open.onsuccess = () => {
            const db = open.result
            const read = db.transaction("docs").objectStore("docs").get(doc)
            read.onerror = () => resolve(false)
            read.onsuccess = () => {
              db.close()
              resolve((read.result?.saved ?? []).length > 0)
            }
          }
        }),
      [spec.id, `duet-${who.username}`],
    )
  await expect.poll(kept).toBe(true)
}

/// Adds a story whose "As a" is `asA`, with one technical criterion.
async function addStory(page, asA, criterion) {
  await page.getByRole("button", { name: "Add story" }).click()
  await page.keyboard.type(asA)
  const story = page.locator("article.story").last()
  await story.getByRole("button", { name: "Add Technical criterion" }).click()
  await page.keyboard.type(criterion)
}

/// Every text field's value on the page, sorted: two pages showing the same spec agree.
const allTexts = page => page.locator("main textarea").evaluateAll(els => els.map(e => e.value).sort())

test("offline edits survive a reload, merge with concurrent edits on reconnect, and the review lists exactly the field both changed", async ({ browser, duet }) => {
  const ada = await person(browser, duet, "Ada Lovelace", offlineNoise)
  const bo = await person(browser, duet, "Bo Builder")
  const spec = await createSpec(duet, "Trip", ada)
  await share(duet, spec.id, ada, bo, "editor")
  for (const p of [ada, bo]) await openSpec(p.page, duet, spec)
  await field(ada.page, "Problem").click()
  await ada.page.keyboard.type("Base.")
  await expect(field(bo.page, "Problem")).toHaveValue("Base.")
  // Bo may see it before the server's fsync; Ada is told only after it.
  await expect(status(ada.page)).toHaveText("Live")

  await ada.page.context().setOffline(true)
  await expect(status(ada.page)).toHaveText("Offline")
  // Ada, offline: the problem (Bo edits it too), the title (only she does), a story.
  await field(ada.page, "Problem").press("End")
  await ada.page.keyboard.type(" Ada on a plane ✈.")
  await field(ada.page, "Spec title").click()
  await field(ada.page, "Spec title").press("End")
  await ada.page.keyboard.type(" to Lisbon")
  await addStory(ada.page, "pilot", "Works at 10 km")
  await expect(status(ada.page)).toHaveText(/^Offline — unsent edits in \d+ fields?, kept on this device$/)
  // Bo, online meanwhile: the problem too, and a story of his own.
  await field(bo.page, "Problem").click()
  await field(bo.page, "Problem").press("Home")
  await bo.page.keyboard.type("Bo 結帳: ")
  await addStory(bo.page, "navigator", "Maps offline 🗺")
  await expect(status(bo.page)).toHaveText("Live")

  // A reload with no network: the shell comes from the service worker, the spec and every
  // offline edit from this device.
  await ada.page.reload()
  await expect(field(ada.page, "Spec title")).toHaveValue("Trip to Lisbon")
  await expect(field(ada.page, "Problem")).toHaveValue("Base. Ada on a plane ✈.")
  await expect(field(ada.page, "As a")).toHaveValue("pilot")
  await expect(field(ada.page, "Criterion")).toHaveValue("Works at 10 km")
  await expect(status(ada.page)).toHaveText(/^Offline — unsent edits in \d+ fields?, kept on this device$/)

  // Back online: Ada, Bo and the server converge on every keystroke from both sides.
  await ada.page.context().setOffline(false)
  await expect(status(ada.page)).toHaveText("Live", { timeout: 30_000 })
  const problem = "Bo 結帳: Base. Ada on a plane ✈."
  for (const p of [ada, bo]) {
    await expect(field(p.page, "Problem")).toHaveValue(problem)
    await expect(field(p.page, "Spec title")).toHaveValue("Trip to Lisbon")
    await expect(p.page.locator("article.story")).toHaveCount(2)
  }
  await expect.poll(async () => JSON.stringify(await allTexts(ada.page))).toBe(JSON.stringify(await allTexts(bo.page)))
  const md = await markdown(duet, spec.id, bo)
  for (const typed of [problem, "Trip to Lisbon", "pilot", "Works at 10 km", "navigator", "Maps offline 🗺"]) {
    expect(md).toContain(typed)
  }

  // The merge review lists the problem and nothing else, each side's characters marked.
  const review = ada.page.locator("section.review")
  await expect(review.locator("li.overlap")).toHaveCount(1)
  await expect(review.locator("li.overlap")).toHaveAttribute("data-place", "problem")
  const marked = side => review.locator(`mark.${side}`).evaluateAll(ms => ms.map(m => m.textContent).join(""))
  expect(await marked("ours")).toBe(" Ada on a plane ✈.")
  expect(await marked("theirs")).toBe("Bo 結帳: ")
  await review.getByRole("button", { name: "Jump to it" }).click()
  await expect(field(ada.page, "Problem")).toBeFocused()
  await review.getByRole("button", { name: "Mark reviewed" }).click()
  await expect(review).toHaveCount(0)
  // Bo changed nothing concurrently with his own offline work: no review for him.
  await expect(bo.page.locator("section.review")).toHaveCount(0)
  await ada.close()
  await bo.close()
})

test("a spec created offline gets its id on the device, reaches the server on reconnect as its creator's, and shows in the list of whoever it is shared with", async ({ browser, duet }) => {
  const ada = await person(browser, duet, "Ada Lovelace", offlineNoise)
  await openLive(ada.page, duet.url)
  await ada.page.context().setOffline(true)
  await ada.page.reload()
  await expect(ada.page.getByRole("heading", { name: "Specs" })).toBeVisible()
  await ada.page.getByLabel("Title of the new spec").fill("Written on a plane 🛫")
  await ada.page.getByRole("button", { name: "New spec", exact: true }).click()
  // It opens at once; the list shows it as on this device.
  await expect(field(ada.page, "Spec title")).toHaveValue("Written on a plane 🛫")
  await ada.page.goBack()
  const row = ada.page.locator("li.spec", { hasText: "Written on a plane 🛫" })
  await expect(row.locator(".here-only")).toHaveText("on this device")
  await row.getByRole("link").click()
  await field(ada.page, "Problem").click()
  await ada.page.keyboard.type("Drafted offline")
  await expect(status(ada.page)).toHaveText(/^Offline — unsent edits in \d+ fields?, kept on this device$/)

  await ada.page.context().setOffline(false)
  await expect(status(ada.page)).toHaveText("Live", { timeout: 30_000 })
  const id = await ada.page.locator("main.spec").getAttribute("data-id")
  // The first to push a document owns it.
  await expect.poll(async () => (await specList(duet, ada)).find(s => s.id === id)?.role).toBe("owner")
  await expect.poll(() => markdown(duet, id, ada)).toContain("Drafted offline")

  const bo = await person(browser, duet, "Bo Builder")
  await share(duet, id, ada, bo, "viewer")
  await bo.page.goto(duet.url)
  const boRow = bo.page.locator("li.spec", { hasText: "Written on a plane 🛫" })
  await expect(boRow.locator(".authors")).toHaveText(ada.display_name)
  await expect(boRow.locator(".here-only")).toHaveCount(0)
  await ada.close()
  await bo.close()
})

test.describe("with the network off", () => {
  test.use({ allowedConsoleErrors: [offlineNoise] })

  test("after one online visit the app shell loads with the network off", async ({ page, context, duet }) => {
    await openLive(page, duet.url)
    await context.setOffline(true)
    await page.reload()
    await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    await expect(status(page)).toHaveText("Offline")
    // Client-side routes come from the same shell.
    await page.goto(`${duet.url}/specs/not-an-id`)
    await expect(page.getByRole("alert")).toHaveText("This is not a link to a spec.")
  })
})

test("when the server restarts while both are editing, both reconnect by themselves and converge", async ({ browser, duet }) => {
  const refused = [/WebSocket connection to .* failed/, /Failed to load resource/]
  const ada = await person(browser, duet, "Ada Lovelace", refused)
  const bo = await person(browser, duet, "Bo Builder", refused)
  const spec = await createSpec(duet, "Restart", ada)
  await share(duet, spec.id, ada, bo, "editor")
  for (const p of [ada, bo]) await openSpec(p.page, duet, spec)
  await field(ada.page, "Problem").click()
  await ada.page.keyboard.type("Before. ")
  await expect(field(bo.page, "Problem")).toHaveValue("Before. ")

  await duet.restart(async () => {
    await expect(status(ada.page)).toHaveText(/Reconnecting/)
    await field(ada.page, "Problem").press("End")
    await ada.page.keyboard.type("Ada while down. ")
    await field(bo.page, "Spec title").click()
    await field(bo.page, "Spec title").press("End")
    await bo.page.keyboard.type(" — Bo while down")
    await expect(status(bo.page)).toHaveText(/unsent edits in \d+ fields?, kept on this device/)
  })
  for (const p of [ada, bo]) {
    await expect(status(p.page)).toHaveText("Live", { timeout: 40_000 })
    await expect(field(p.page, "Problem")).toHaveValue("Before. Ada while down. ")
    await expect(field(p.page, "Spec title")).toHaveValue("Restart — Bo while down")
  }
  const md = await markdown(duet, spec.id, ada)
  expect(md).toContain("Before. Ada while down.")
  expect(md).toContain("Restart — Bo while down")
  await ada.close()
  await bo.close()
})

test("a connection that stops answering is noticed from the missing acknowledgement, and the edits wait on the device until it answers again", async ({ browser, duet }) => {
  const ada = await person(browser, duet, "Ada Lovelace", [/WebSocket connection to .* failed/])
  const spec = await createSpec(duet, "Silent network", ada)
  await openSpec(ada.page, duet, spec)
  await duet.freeze(async () => {
    await field(ada.page, "Problem").click()
    await ada.page.keyboard.type("Typed into silence")
    // The socket is open and the browser online: only the missing acknowledgement
    // (10 s) tells the page, which gives up on the socket and tries again.
    await expect(status(ada.page)).toHaveText(/^Reconnecting.* — unsent edits in \d+ fields?, kept on this device$/, { timeout: 20_000 })
  })
  await expect(status(ada.page)).toHaveText("Live", { timeout: 40_000 })
  await expect.poll(() => markdown(duet, spec.id, ada)).toContain("Typed into silence")
  await ada.close()
})

test("a page loaded while the server hangs shows the spec kept on the device, gives up on the unanswered handshake, and connects once the server answers", async ({ browser, duet }) => {
  const ada = await person(browser, duet, "Ada Lovelace", [/WebSocket connection to .* failed/])
  const spec = await createSpec(duet, "Hung handshake", ada)
  await openSpec(ada.page, duet, spec)
  await keptOnDevice(ada.page, spec, ada)
  await duet.freeze(async () => {
    // The shell comes from the service worker and the spec from the device; the socket's
    // TCP connection is accepted by the kernel but the upgrade is never answered.
    await ada.page.reload()
    await expect(field(ada.page, "Spec title")).toHaveValue("Hung handshake")
    await expect(status(ada.page)).toHaveText("Connecting…")
    await expect(status(ada.page)).toHaveText(/^Reconnecting/, { timeout: 20_000 })
    await field(ada.page, "Problem").click()
    await ada.page.keyboard.type("Written while it hung")
  })
  await expect(status(ada.page)).toHaveText("Live", { timeout: 40_000 })
  await expect.poll(() => markdown(duet, spec.id, ada)).toContain("Written while it hung")
  await ada.close()
})
