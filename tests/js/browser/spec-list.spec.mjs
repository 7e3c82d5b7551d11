// The spec list page: shows specs created anywhere, creates new ones, reads non-ASCII titles.
import { test, expect } from "./fixtures.mjs"

test("the list shows a spec created over REST with its title and author", async ({ page, duet }) => {
  const res = await fetch(`${duet.url}/api/specs`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ title: "Export to CSV" }),
  })
  expect(res.status).toBe(201)
  await page.goto(duet.url)
  const row = page.locator("li.spec", { hasText: "Export to CSV" })
  await expect(row).toBeVisible()
  await expect(row.locator(".authors")).toHaveText("duet-server")
})

test("creating a spec from the page adds it to the list and to the server", async ({ page, duet }) => {
  await page.goto(duet.url)
  await page.getByLabel("Title of the new spec").fill("Offline mode 🛫 離線")
  await page.getByRole("button", { name: "New spec" }).click()
  await expect(page.locator("li.spec", { hasText: "Offline mode 🛫 離線" })).toBeVisible()
  await expect(page.getByLabel("Title of the new spec")).toHaveValue("")
  // Created on the device first, it reaches the server over the sync connection.
  await expect.poll(async () => (await (await fetch(`${duet.url}/api/specs`)).json()).map(s => s.title))
    .toContain("Offline mode 🛫 離線")
})

test("unknown paths load the app and say there is no such page", async ({ page, duet }) => {
  await page.goto(`${duet.url}/no/such/page`)
  await expect(page.getByText("There is no such page.")).toBeVisible()
  await page.goto(`${duet.url}/specs/not-an-id`)
  await expect(page.getByRole("alert")).toHaveText("This is not a link to a spec.")
})

test.describe("a first visit", () => {
  test.use({ personName: null })

  test("asks for a name, remembers it in the browser and shows it as the author", async ({ page, duet }) => {
    await page.goto(duet.url)
    await page.getByRole("button", { name: "Continue" }).click()
    await expect(page.getByRole("alert")).toHaveText("Please enter a name.")
    await page.getByLabel("Your name").fill("Grace Hopper")
    await page.getByRole("button", { name: "Continue" }).click()
    await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    expect(await page.evaluate(() => localStorage.getItem("duet.user"))).toBe("grace-hopper")

    // The name is kept: a reload goes straight to the list, and edits carry the author.
    await page.reload()
    await page.getByLabel("Title of the new spec").fill("Compiler notes")
    await page.getByRole("button", { name: "New spec" }).click()
    await page.getByRole("link", { name: "Compiler notes" }).click()
    await expect(page.locator(".person.me")).toContainText("Grace Hopper (you)")
    await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Bugs")
    await expect.poll(async () => {
      const specs = await (await fetch(`${duet.url}/api/specs`)).json()
      return specs.find(s => s.title === "Compiler notes")?.authors ?? []
    }).toContain("grace-hopper")
  })
})
