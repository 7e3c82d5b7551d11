// Two-role sign-off: a product person and an engineer sign a story; the product person edits a criterion; the engineer sees the stale badge at once and exactly what changed (coloured by author); signing again clears it, and the spec list counts what is stale.
import { test, expect, api, createSpec, person, share, markdown } from "./fixtures.mjs"

const slot = (p, name) => p.page.locator(`article.story .signoff[data-slot="${name}"]`)

async function withDiscipline(browser, duet, name, discipline) {
  const p = await person(browser, duet, name)
  await api(duet, p, "PATCH", "/api/me", { discipline })
  return p
}

test("product and engineering sign a story; an edited criterion makes both stale, the engineer sees what changed, and signing again clears it", async ({ browser, duet }) => {
  const pam = await withDiscipline(browser, duet, "Pam Product", "product")
  const eli = await withDiscipline(browser, duet, "Eli Engineer", "engineering")
  const spec = await createSpec(duet, "CSV export", pam)
  await share(duet, spec.id, pam, eli, "editor")

  // Pam writes a story with one criterion.
  await pam.page.goto(`${duet.url}/specs/${spec.id}`)
  await pam.page.getByRole("button", { name: "Add story" }).click()
  await pam.page.keyboard.type("analyst")
  await pam.page.getByRole("button", { name: "Add UX criterion" }).click()
  await pam.page.keyboard.type("One click")
  await expect.poll(() => markdown(duet, spec.id, pam)).toContain("One click")

  await eli.page.goto(`${duet.url}/specs/${spec.id}`)
  await expect(eli.page.locator("li.criterion textarea")).toHaveValue("One click")

  // Nobody signed yet; each sees only the button of their own discipline.
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "unsigned")
  await expect(slot(pam, "product").getByRole("button", { name: "Sign as Product" })).toBeVisible()
  await expect(slot(pam, "engineering").getByRole("button")).toHaveCount(0)
  await expect(slot(eli, "product").getByRole("button")).toHaveCount(0)

  await slot(pam, "product").getByRole("button", { name: "Sign as Product" }).click()
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "signed")
  await expect(slot(pam, "product")).toContainText("Pam Product")
  // Eli hears of it without reloading, then signs his slot; Pam hears of that.
  await expect(slot(eli, "product")).toHaveAttribute("data-state", "signed")
  await slot(eli, "engineering").getByRole("button", { name: "Sign as Engineering" }).click()
  await expect(slot(eli, "engineering")).toHaveAttribute("data-state", "signed")
  await expect(slot(pam, "engineering")).toHaveAttribute("data-state", "signed")
  expect((await api(duet, pam, "GET", "/api/specs")).find(s => s.id === spec.id).signs).toEqual({ signed: 1, partly: 0, stale: 0, done: 0, stories: 1 })

  // Pam edits the criterion: Eli's badges turn stale as soon as the edit arrives.
  const crit = pam.page.locator("li.criterion textarea")
  await crit.click()
  await crit.press("End")
  await pam.page.keyboard.type(" to CSV")
  await expect(eli.page.locator("li.criterion textarea")).toHaveValue("One click to CSV")
  await expect(slot(eli, "engineering")).toHaveAttribute("data-state", "stale")
  await expect(slot(eli, "product")).toHaveAttribute("data-state", "stale")
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "stale")

  // One click shows exactly what changed since he signed, in Pam's colour.
  await slot(eli, "engineering").getByRole("button", { name: "What changed" }).click()
  const diff = eli.page.getByRole("region", { name: "What changed since it was signed" })
  await expect(diff.locator("ins")).toHaveText(" to CSV")
  await expect(diff.locator("ins")).toHaveAttribute("title", "by Pam Product")
  await expect(diff).toContainText("One click")
  await eli.page.screenshot({ path: test.info().outputPath("stale-signoff.png"), fullPage: true })

  // Eli signs again: his slot is current, Pam's is still stale until she signs again.
  await slot(eli, "engineering").getByRole("button", { name: "Sign again as Engineering" }).click()
  await expect(slot(eli, "engineering")).toHaveAttribute("data-state", "signed")
  await expect(slot(eli, "product")).toHaveAttribute("data-state", "stale")
  await expect(diff).toHaveCount(0)

  // The spec list counts the story as stale.
  await eli.page.goto(`${duet.url}/`)
  await expect(eli.page.locator(`li.spec[data-id="${spec.id}"] .signs`)).toHaveText("0 of 1 story done, 1 stale")

  await slot(pam, "product").getByRole("button", { name: "Sign again as Product" }).click()
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "signed")
  await eli.page.reload()
  await expect(eli.page.locator(`li.spec[data-id="${spec.id}"] .signs`)).toHaveText("0 of 1 story done, 1 signed")

  await pam.close()
  await eli.close()
})

test("a decision remembers the story it concerns: an edit there shows 'context changed' with the diff, and 'Still holds' clears it", async ({ browser, duet }) => {
  const pam = await withDiscipline(browser, duet, "Pam Product", "product")
  const eli = await withDiscipline(browser, duet, "Eli Engineer", "engineering")
  const spec = await createSpec(duet, "Exports", pam)
  await share(duet, spec.id, pam, eli, "editor")
  await pam.page.goto(`${duet.url}/specs/${spec.id}`)
  await pam.page.getByRole("button", { name: "Add story" }).click()
  await pam.page.keyboard.type("analyst")
  await pam.page.getByRole("button", { name: "Add decision" }).click()
  await pam.page.keyboard.type("CSV only")
  await pam.page.locator("article.decision fieldset.concerns").getByRole("checkbox").check()
  await expect.poll(() => markdown(duet, spec.id, pam)).toContain("CSV only")
  const badge = p => p.page.locator("article.decision .context-changed")
  await expect(badge(pam)).toHaveCount(0)

  // Eli, elsewhere, changes the story the decision is about.
  await eli.page.goto(`${duet.url}/specs/${spec.id}`)
  const asA = eli.page.getByRole("textbox", { name: "As a", exact: true })
  await expect(asA).toHaveValue("analyst")
  await asA.click()
  await asA.press("End")
  await eli.page.keyboard.type(" in finance")
  await expect(badge(pam)).toContainText("Context changed since decided")
  await badge(pam).getByRole("button", { name: "What changed" }).click()
  const diff = badge(pam).getByRole("region", { name: "What changed since it was decided" })
  await expect(diff.locator("ins")).toHaveText(" in finance")
  await expect(diff.locator("ins")).toHaveAttribute("title", "by Eli Engineer")
  await pam.page.screenshot({ path: test.info().outputPath("context-changed.png"), fullPage: true })

  // Pam reads it and says the decision still holds: the badge goes, for Eli too.
  await badge(pam).getByRole("button", { name: "Still holds" }).click()
  await expect(badge(pam)).toHaveCount(0)
  await expect(badge(eli)).toHaveCount(0)
  await pam.close()
  await eli.close()
})

test("a story's definition of done: signing over an open blocker is asked and shown, the line says what is missing until it is done, and the list's count follows live", async ({ browser, duet }) => {
  const pam = await withDiscipline(browser, duet, "Pam Product", "product")
  const eli = await withDiscipline(browser, duet, "Eli Engineer", "engineering")
  const spec = await createSpec(duet, "Single sign-on", pam)
  await share(duet, spec.id, pam, eli, "editor")
  const line = p => p.page.locator("article.story .done-line")

  await pam.page.goto(`${duet.url}/specs/${spec.id}`)
  await pam.page.getByRole("button", { name: "Add story" }).click()
  await pam.page.keyboard.type("admin")
  await pam.page.getByRole("button", { name: "Add UX criterion" }).click()
  await pam.page.keyboard.type("One click to sign in")
  await expect(line(pam)).toHaveText("Not done: no technical criterion · no business criterion · 1 criterion not done · no product sign-off · no engineering sign-off")
  await expect(line(pam)).toHaveAttribute("data-done", "false")

  // Eli raises a blocker beside the story.
  await eli.page.goto(`${duet.url}/specs/${spec.id}`)
  await eli.page.locator("article.story .track").getByRole("button", { name: "+ Constraint" }).click()
  await eli.page.keyboard.type("Needs the IdP contract")
  await eli.page.getByRole("combobox", { name: "Severity" }).selectOption("blocker")
  await expect(line(pam)).toContainText("1 open blocker")

  // Signing over it is a choice, asked first and shown on the badge.
  await slot(pam, "product").getByRole("button", { name: "Sign as Product" }).click()
  const ask = pam.page.getByRole("group", { name: "Sign over open blockers" })
  await expect(ask).toContainText("This story has 1 open blocker: “Needs the IdP contract”")
  await ask.getByRole("button", { name: "Cancel" }).click()
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "unsigned")
  await slot(pam, "product").getByRole("button", { name: "Sign as Product" }).click()
  await ask.getByRole("button", { name: "Sign as Product with 1 open blocker" }).click()
  await expect(slot(pam, "product")).toHaveAttribute("data-state", "signed")
  await expect(slot(eli, "product")).toContainText("signed with 1 open blocker")
  await slot(eli, "engineering").getByRole("button", { name: "Sign as Engineering" }).click()
  await eli.page.getByRole("button", { name: "Sign as Engineering with 1 open blocker" }).click()
  await expect(slot(pam, "engineering")).toHaveAttribute("data-state", "signed")
  // Two green ticks, yet not done: the line says why.
  await expect(line(pam)).toHaveText("Not done: no technical criterion · no business criterion · 1 criterion not done · 1 open blocker")

  // Eli keeps the list open in a second tab: its count follows without a reload.
  const list = await eli.context.newPage()
  await list.goto(duet.url)
  const counts = list.locator(`li.spec[data-id="${spec.id}"] .signs`)
  await expect(counts).toHaveText("0 of 1 story done, 1 signed")

  // The team meets the definition.
  for (const kind of ["Technical", "Business"]) {
    await pam.page.getByRole("button", { name: `Add ${kind} criterion` }).click()
    await pam.page.keyboard.type(`${kind} check`)
  }
  for (const box of await pam.page.locator("li.criterion").getByRole("checkbox", { name: "Done" }).all()) await box.check()
  await eli.page.locator("article.story .track").getByRole("combobox", { name: "Status" }).selectOption("addressed")
  // What was signed changed (a criterion, the blocker's status): both sign-offs are stale.
  await expect(line(pam)).toHaveText("Not done: product sign-off stale · engineering sign-off stale")
  await slot(pam, "product").getByRole("button", { name: "Sign again as Product" }).click()
  await slot(eli, "engineering").getByRole("button", { name: "Sign again as Engineering" }).click()
  await expect(line(pam)).toHaveText("Done: meets the definition (its status still says Draft)")
  await expect(line(pam)).toHaveAttribute("data-done", "true")
  await expect(slot(pam, "product")).not.toContainText("open blocker")
  await pam.page.getByRole("combobox", { name: "Story status" }).selectOption("done")
  await expect(line(eli)).toHaveText("Done")
  await expect(counts).toHaveText("1 of 1 story done, 1 signed")
  await pam.page.screenshot({ path: test.info().outputPath("definition-of-done.png"), fullPage: true })

  // Unticking a criterion: the status still says Done, and the page says why it is not.
  await pam.page.locator("li.criterion").getByRole("checkbox", { name: "Done" }).first().uncheck()
  await expect(line(eli)).toHaveText("Marked Done, but not done: 1 criterion not done")
  await expect(counts).toHaveText("0 of 1 story done, 1 signed")
  await pam.close()
  await eli.close()
})
