// Accessibility and small screens: axe-core, run inside the page, finds no serious or critical violation on the sign-in page, the list, the editor and the history panel; at phone width (390 px) nothing is wider than the screen.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { test, expect, createSpec, refused } from "./fixtures.mjs"

const axeSource = readFileSync(createRequire(import.meta.url).resolve("axe-core/axe.min.js"), "utf8")

// axe is injected as an inline script, which the app's Content-Security-Policy forbids.
test.use({ bypassCSP: true })

/// The serious and critical violations axe finds in the page as it is now, one line each.
async function violations(page) {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: axeSource })
  const found = await page.evaluate(async () => (await window.axe.run(document, { resultTypes: ["violations"] })).violations)
  return found
    .filter(v => v.impact === "serious" || v.impact === "critical")
    .map(v => `${v.impact} ${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map(n => n.target.join(" ")).join(" | ")}`)
}

/// A spec with a story, criteria of each kind, a blocker anchored to words, a decision and a question.
async function fullSpec(page, duet, account) {
  const spec = await createSpec(duet, "Accessible exports", account)
  await page.goto(`${duet.url}/specs/${spec.id}`)
  await page.getByRole("textbox", { name: "Problem", exact: true }).fill("Finance exports by hand.")
  await page.getByRole("button", { name: "Add story" }).click()
  await page.keyboard.type("finance lead")
  for (const kind of ["Technical", "UX", "Business"]) {
    await page.getByRole("button", { name: `Add ${kind} criterion` }).click()
    await page.keyboard.type(`${kind} check`)
  }
  await page.locator("article.story .track").getByRole("button", { name: "+ Constraint" }).click()
  await page.keyboard.type("Needs the IdP contract")
  await page.getByRole("combobox", { name: "Severity" }).selectOption("blocker")
  await page.getByRole("button", { name: "Add decision" }).click()
  await page.keyboard.type("CSV first")
  await page.getByRole("button", { name: "Add question" }).click()
  await page.keyboard.type("Which delimiter?")
  return spec
}

test.describe("signed out", () => {
  test.use({ personName: null, allowedConsoleErrors: [[refused(401, "/api/me")]] })

  test("the sign-in and sign-up pages have no serious or critical accessibility violation", async ({ page, duet }) => {
    await page.goto(duet.url)
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible()
    expect(await violations(page)).toEqual([])
    await page.getByRole("button", { name: "Create an account" }).click()
    await expect(page.getByLabel("Discipline")).toBeVisible()
    expect(await violations(page)).toEqual([])
  })
})

test("the list, the editor and the history panel have no serious or critical accessibility violation", async ({ page, duet, account }) => {
  await fullSpec(page, duet, account)
  await expect(page.locator("article.story .done-line")).toBeVisible()
  expect(await violations(page)).toEqual([])
  await page.getByRole("button", { name: "History" }).click()
  await expect(page.locator("aside.history .timeline")).toBeVisible()
  expect(await violations(page)).toEqual([])
  await page.goto(duet.url)
  await expect(page.locator("li.spec")).toHaveCount(1)
  expect(await violations(page)).toEqual([])
})

test.describe("at phone width", () => {
  test.use({ viewport: { width: 390, height: 844 } })

  test("the list and the editor fit 390 px: fields full width, the constraints track under its story, nothing scrolls sideways", async ({ page, duet, account }) => {
    await fullSpec(page, duet, account)
    const wide = () => page.evaluate(() => document.documentElement.scrollWidth)
    expect(await wide()).toBeLessThanOrEqual(390)
    // The track sits under the story's text, not beside it.
    const main = await page.locator("article.story .story-main").boundingBox()
    const track = await page.locator("article.story aside.track").boundingBox()
    expect(track.y).toBeGreaterThanOrEqual(main.y + main.height - 1)
    // Fields take the width of the card.
    const story = await page.locator("article.story").boundingBox()
    const field = await page.getByRole("textbox", { name: "I want" }).boundingBox()
    expect(field.width).toBeGreaterThan(story.width * 0.8)
    await page.screenshot({ path: test.info().outputPath("editor-390.png"), fullPage: true })
    // Scrolled to the bottom, the connection pill is still in view.
    await page.evaluate(() => window.scrollTo(0, document.body.scrollHeight))
    const pill = await page.getByRole("status").boundingBox()
    expect(pill.y).toBeGreaterThanOrEqual(0)
    expect(pill.y + pill.height).toBeLessThanOrEqual(844)
    await page.goto(duet.url)
    await expect(page.locator("li.spec")).toHaveCount(1)
    expect(await wide()).toBeLessThanOrEqual(390)
    await page.screenshot({ path: test.info().outputPath("list-390.png"), fullPage: true })
  })
})
