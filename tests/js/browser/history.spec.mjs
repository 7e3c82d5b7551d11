// History by author: two accounts edit one spec; the timeline shows both sessions and filters by author, a version's diff and the blame colour each person's text, a restore brings old text back as a new entry by the restorer, and "since you last looked" lists the other person's edits.
import { test, expect, createSpec, markdown, person, share } from "./fixtures.mjs"

const field = (page, name) => page.getByRole("textbox", { name, exact: true })

/// Opens the spec and waits for its title.
async function open(p, duet, spec) {
  await p.page.goto(`${duet.url}/specs/${spec.id}`)
  await expect(field(p.page, "Spec title")).toHaveValue(spec.title)
}

/// The text of every element `loc` matches, joined.
const textOf = async loc => (await loc.allTextContents()).join("")

/// Waits until the server holds `text` in the spec.
async function onServer(duet, spec, who, text) {
  await expect.poll(() => markdown(duet, spec.id, who)).toContain(text)
}

/// `ownerName` creates a spec shared with `[otherName, role]` and types `problem` into it;
/// returns both people and the spec.
async function ownerWrites(browser, duet, ownerName, [otherName, role], problem) {
  const owner = await person(browser, duet, ownerName)
  const other = await person(browser, duet, otherName)
  const spec = await createSpec(duet, "Export to CSV", owner)
  await share(duet, spec.id, owner, other, role)
  await open(owner, duet, spec)
  await field(owner.page, "Problem").click()
  await owner.page.keyboard.type(problem)
  await onServer(duet, spec, owner, problem)
  return [owner, other, spec]
}

/// Leaves the spec for the list inside the app: the page tells the server what was seen.
async function leave(p) {
  const seen = p.page.waitForResponse(r => r.url().endsWith("/seen") && r.request().method() === "POST")
  await p.page.getByRole("link", { name: "Duet" }).click()
  await seen
}

test("two people's edits: timeline, author filter, coloured diff and blame, restore as a new change, and what changed since the last visit", async ({ browser, duet }) => {
  // Ada writes the problem, then goes back to her list.
  const [ada, bo, spec] = await ownerWrites(browser, duet, "Ada Lovelace", ["Bo Builder", "editor"], "Analysts copy tables by hand.")
  await leave(ada)

  // Bo replaces her full stop and goes on.
  await open(bo, duet, spec)
  await field(bo.page, "Problem").click()
  await bo.page.keyboard.press("End")
  await bo.page.keyboard.press("Backspace")
  await bo.page.keyboard.type(": it takes hours.")
  await onServer(duet, spec, bo, "by hand: it takes hours.")
  await leave(bo)

  // Ada comes back: Bo's edit of the problem is listed, and its link focuses the field.
  await open(ada, duet, spec)
  const since = ada.page.getByRole("region", { name: "Since you last looked" })
  const boThere = since.locator(`li.since-person[data-author="${bo.username}"]`)
  await expect(boThere).toContainText("Bo Builder")
  await expect(since.locator(`li.since-person[data-author="${ada.username}"]`)).toHaveCount(0)
  await boThere.getByRole("button").first().click()
  await expect(field(ada.page, "Problem")).toBeFocused()
  await since.getByRole("button", { name: "Dismiss" }).click()
  await expect(since).toHaveCount(0)

  // The history: both people's sessions, newest (Bo's) first.
  await ada.page.getByRole("button", { name: "History" }).click()
  const panel = ada.page.getByRole("complementary", { name: "History" })
  const sessions = panel.locator("li.session")
  await expect(sessions.first()).toHaveAttribute("data-author", bo.username)
  await expect(panel.locator(`li.session[data-author="${ada.username}"]`)).not.toHaveCount(0)
  await expect(sessions.first()).toContainText("Bo Builder")

  // Only Bo's sessions when his chip is pressed; everyone's again when it is released.
  const boChip = panel.locator(`button.chip[data-author="${bo.username}"]`)
  await boChip.click()
  await expect(boChip).toHaveAttribute("aria-pressed", "true")
  await expect(panel.locator(`li.session[data-author="${ada.username}"]`)).toHaveCount(0)
  await expect(sessions).not.toHaveCount(0)
  await boChip.click()
  await expect(panel.locator(`li.session[data-author="${ada.username}"]`)).not.toHaveCount(0)

  // Only the sessions that touched the title (Ada's: she named the spec) when the part
  // filter says so; everyone's again for the whole spec.
  const part = panel.getByLabel("Part of the spec")
  await part.selectOption("title")
  await expect(panel.locator(`li.session[data-author="${bo.username}"]`)).toHaveCount(0)
  await expect(panel.locator(`li.session[data-author="${ada.username}"]`)).not.toHaveCount(0)
  await part.selectOption("problem")
  await expect(panel.locator(`li.session[data-author="${bo.username}"]`)).toHaveCount(1)
  await part.selectOption("")
  await expect(sessions.first()).toHaveAttribute("data-author", bo.username)

  // Bo's session against the version before it: his deletion and insertion in his name;
  // against the empty spec: Ada's words and Bo's, each in its author's name; against
  // another session's version: what changed from there.
  await sessions.first().getByRole("button").click()
  const version = ada.page.getByRole("region", { name: "Version" })
  const problem = version.locator('[data-field="problem"] .vtext')
  await expect(problem).toHaveText("Analysts copy tables by hand.: it takes hours.")
  await expect.poll(() => textOf(problem.locator(`.del[data-author="${bo.username}"]`))).toBe(".")
  await expect.poll(() => textOf(problem.locator(`.ins[data-author="${bo.username}"]`))).toBe(": it takes hours.")
  await expect(problem.locator(`.ins[data-author="${bo.username}"]`).first()).toHaveAttribute("title", /Bo Builder/)
  await expect(problem.locator(`[data-author="${ada.username}"]`)).toHaveCount(0)
  await version.getByLabel("Compare with").selectOption("start")
  await expect.poll(() => textOf(problem.locator(`.ins[data-author="${ada.username}"]`))).toBe("Analysts copy tables by hand")
  await expect.poll(() => textOf(problem.locator(`.ins[data-author="${bo.username}"]`))).toBe(": it takes hours.")
  await expect(problem.locator(".del")).toHaveCount(0)
  // Against any other version of the timeline: from Ada's last session to Bo's, only Bo's
  // changes are coloured.
  const adaLast = await panel.locator(`li.session[data-author="${ada.username}"] button`).first().getAttribute("data-arg")
  await version.getByLabel("Compare with").selectOption(`s:${adaLast}`)
  await expect(version.locator(".version-caption")).toContainText("From Ada Lovelace")
  await expect.poll(() => textOf(problem.locator(`.del[data-author="${bo.username}"]`))).toBe(".")
  await expect.poll(() => textOf(problem.locator(`.ins[data-author="${bo.username}"]`))).toBe(": it takes hours.")
  await expect(problem.locator(`[data-author="${ada.username}"]`)).toHaveCount(0)
  await version.getByRole("button", { name: "Back to the live spec" }).click()
  await expect(field(ada.page, "Problem")).toBeVisible()

  // Blame: the live text, each character in the colour of whoever wrote it.
  await panel.getByRole("button", { name: "Blame" }).click()
  const blame = ada.page.getByRole("region", { name: "Blame" }).locator('[data-field="problem"] .vtext')
  await expect(blame.locator(`.by[data-author="${ada.username}"]`).first()).toHaveAttribute("title", /Ada Lovelace/)
  await expect.poll(() => textOf(blame.locator(`.by[data-author="${ada.username}"]`))).toBe("Analysts copy tables by hand")
  await expect.poll(() => textOf(blame.locator(`.by[data-author="${bo.username}"]`))).toBe(": it takes hours.")
  await panel.getByRole("button", { name: "Blame" }).click()

  // Ada restores her version: the editor reads it again, and the newest entry of the
  // history is hers (a new change: Bo's session is still there).
  await expect(sessions.first()).toHaveAttribute("data-author", bo.username)
  await panel.locator(`li.session[data-author="${ada.username}"]`).first().getByRole("button").click()
  await ada.page.getByRole("button", { name: /Restore this version/ }).click()
  // A preview first: what the restore replaces, whose text it is, then a confirmation.
  const confirm = ada.page.getByRole("group", { name: "Restore preview" })
  await expect(confirm).toContainText("It replaces later text by Bo Builder.")
  await expect.poll(() => textOf(confirm.locator(`.del[data-author="${bo.username}"]`))).toBe(": it takes hours")
  await expect(field(ada.page, "Problem")).toHaveCount(0)
  await confirm.getByRole("button", { name: "Yes, restore the spec" }).click()
  await expect(panel.getByRole("status")).toContainText("back as it read")
  await expect(field(ada.page, "Problem")).toHaveValue("Analysts copy tables by hand.")
  await expect(sessions.first()).toHaveAttribute("data-author", ada.username)
  await expect(panel.locator(`li.session[data-author="${bo.username}"]`)).toHaveCount(1)
  await onServer(duet, spec, ada, "Analysts copy tables by hand.")

  await ada.close()
  await bo.close()
})

test("a viewer reads the history but has no restore", async ({ browser, duet }) => {
  const [ada, cy, spec] = await ownerWrites(browser, duet, "Ada Owner", ["Cy Viewer", "viewer"], "Written by the owner")

  await open(cy, duet, spec)
  await cy.page.getByRole("button", { name: "History" }).click()
  const panel = cy.page.getByRole("complementary", { name: "History" })
  await panel.locator(`li.session[data-author="${ada.username}"]`).first().getByRole("button").click()
  const version = cy.page.getByRole("region", { name: "Version" })
  await expect(version.locator('[data-field="problem"] .vtext')).toContainText("Written by the owner")
  await expect(version.getByRole("button", { name: /Restore/ })).toHaveCount(0)
  // Closing the panel brings the live spec back.
  await cy.page.getByRole("button", { name: "History" }).click()
  await expect(version).toHaveCount(0)
  await expect(field(cy.page, "Problem")).toHaveValue("Written by the owner")

  await ada.close()
  await cy.close()
})

test("restoring one story brings back its text and leaves the rest of the spec as it is", async ({ browser, duet }) => {
  const [ada, bo, spec] = await ownerWrites(browser, duet, "Ada Lovelace", ["Bo Builder", "editor"], "Analysts copy tables")
  await ada.page.getByRole("button", { name: "Add story" }).click()
  await ada.page.keyboard.type("analyst")
  await onServer(duet, spec, ada, "analyst")

  // Bo rewrites the story and adds to the problem.
  await open(bo, duet, spec)
  await field(bo.page, "As a").fill("manager")
  await field(bo.page, "Problem").click()
  await bo.page.keyboard.press("End")
  await bo.page.keyboard.type(" by hand")
  await onServer(duet, spec, bo, "by hand")
  await expect(field(ada.page, "As a")).toHaveValue("manager")

  // Ada restores only the story of her version.
  await ada.page.getByRole("button", { name: "History" }).click()
  const panel = ada.page.getByRole("complementary", { name: "History" })
  await panel.locator(`li.session[data-author="${ada.username}"]`).first().getByRole("button").click()
  const version = ada.page.getByRole("region", { name: "Version" })
  await version.getByRole("button", { name: "Restore this story" }).click()
  const confirm = ada.page.getByRole("group", { name: "Restore preview" })
  await expect(confirm).toContainText("It replaces later text by Bo Builder.")
  await confirm.getByRole("button", { name: "Yes, restore this story" }).click()
  await expect(panel.getByRole("status")).toContainText("This story is back")
  for (const p of [ada, bo]) {
    await expect(field(p.page, "As a")).toHaveValue("analyst")
    await expect(field(p.page, "Problem")).toHaveValue("Analysts copy tables by hand")
  }

  await ada.close()
  await bo.close()
})

test("a criterion someone emptied comes back from History in three clicks, previewed first; that session shows only its author's edits", async ({ browser, duet }) => {
  const [pam, eli, spec] = await ownerWrites(browser, duet, "Pam (PM)", ["Eli Lee", "editor"], "Exports are slow.")
  await pam.page.getByRole("button", { name: "Add story" }).click()
  await pam.page.keyboard.type("finance lead")
  await pam.page.getByRole("button", { name: "Add Technical criterion" }).click()
  await pam.page.keyboard.type("UTF-8 with BOM")
  await onServer(duet, spec, pam, "UTF-8 with BOM")

  // Eli empties the criterion while Pam goes on writing the problem.
  await open(eli, duet, spec)
  const crit = field(eli.page, "Criterion")
  await crit.click()
  await crit.press("Control+a")
  await Promise.all([
    (async () => { await crit.press("Delete") })(),
    (async () => {
      await field(pam.page, "Problem").click()
      await pam.page.keyboard.press("End")
      await pam.page.keyboard.type(" Really.", { delay: 20 })
    })(),
  ])
  await expect(field(pam.page, "Criterion")).toHaveValue("")
  await onServer(duet, spec, pam, "Really.")

  // 1: History. 2: Eli's session, which shows only his edit and offers its restore with
  // the preview. 3: confirm.
  await pam.page.getByRole("button", { name: "History" }).click()
  const panel = pam.page.getByRole("complementary", { name: "History" })
  await panel.locator(`li.session[data-author="${eli.username}"]`).first().getByRole("button").click()
  const version = pam.page.getByRole("region", { name: "Version" })
  await expect.poll(() => textOf(version.locator(`.del[data-author="${eli.username}"]`))).toBe("UTF-8 with BOM")
  await expect(version.locator('[data-field="problem"] .ins, [data-field="problem"] .del')).toHaveCount(0)
  const confirm = pam.page.getByRole("group", { name: "Restore preview" })
  await expect(confirm).toContainText("before Eli Lee's edits")
  await expect.poll(() => textOf(confirm.locator(`.ins[data-author="${pam.username}"]`))).toBe("UTF-8 with BOM")
  await confirm.getByRole("button", { name: /^Yes, restore/ }).click()
  await expect(panel.getByRole("status")).toContainText("back as it read")
  for (const p of [pam, eli]) {
    await expect(field(p.page, "Criterion")).toHaveValue("UTF-8 with BOM")
    await expect(field(p.page, "Problem")).toHaveValue("Exports are slow. Really.")
  }
  await pam.close()
  await eli.close()
})

test("stepping through a session shows each of its edits, and a restore can go back to any of them", async ({ browser, duet }) => {
  const [pam, eli, spec] = await ownerWrites(browser, duet, "Pam (PM)", ["Eli Lee", "editor"], "Exports are slow.")
  await open(eli, duet, spec)
  await field(eli.page, "Problem").click()
  await eli.page.keyboard.press("End")
  await eli.page.keyboard.type(" Eli step one.")
  await field(eli.page, "Spec title").click()
  await eli.page.keyboard.press("End")
  await eli.page.keyboard.type(" (Eli step two)")
  await onServer(duet, spec, pam, "(Eli step two)")

  await pam.page.getByRole("button", { name: "History" }).click()
  const panel = pam.page.getByRole("complementary", { name: "History" })
  await panel.locator(`li.session[data-author="${eli.username}"]`).first().getByRole("button").click()
  const version = pam.page.getByRole("region", { name: "Version" })
  const steps = version.getByLabel("Step")
  await expect(steps.locator("option")).toHaveCount(3)
  await steps.selectOption("0")
  await expect(version.locator(".version-caption")).toContainText("change 1 of 2")
  await expect.poll(() => textOf(version.locator(`[data-field="problem"] .ins[data-author="${eli.username}"]`))).toBe(" Eli step one.")
  await expect(version.locator('[data-field="title"] .vtext')).toHaveText("Export to CSV")
  await version.getByRole("button", { name: /Restore this version/ }).click()
  const confirm = pam.page.getByRole("group", { name: "Restore preview" })
  await expect.poll(() => textOf(confirm.locator(`.del[data-author="${eli.username}"]`))).toBe(" (Eli step two)")
  await confirm.getByRole("button", { name: "Yes, restore the spec" }).click()
  await expect(panel.getByRole("status")).toContainText("back as it read")
  for (const p of [pam, eli]) {
    await expect(field(p.page, "Spec title")).toHaveValue("Export to CSV")
    await expect(field(p.page, "Problem")).toHaveValue("Exports are slow. Eli step one.")
  }
  await pam.close()
  await eli.close()
})

test("what the reader watched live is not news when they come back, though the server never heard they saw it", async ({ browser, duet }) => {
  const [ada, bo, spec] = await ownerWrites(browser, duet, "Ada Lovelace", ["Bo Builder", "editor"], "Analysts copy tables by hand.")
  await leave(ada)
  // From now on the server never hears that Ada saw anything (her "seen" goes nowhere).
  await ada.page.route("**/seen", route => route.fulfill({ status: 204 }))
  await open(ada, duet, spec)
  // Bo types while Ada watches.
  await open(bo, duet, spec)
  await field(bo.page, "Problem").click()
  await bo.page.keyboard.press("End")
  await bo.page.keyboard.type(" Daily.")
  await expect(field(ada.page, "Problem")).toHaveValue("Analysts copy tables by hand. Daily.")
  // Ada reloads: the page's question leaves out what it showed her.
  const asked = ada.page.waitForResponse(r => r.url().includes("/since-seen"))
  await ada.page.reload()
  const answer = await (await asked).json()
  expect(answer.places).toEqual([])
  await expect(ada.page.getByRole("region", { name: "Since you last looked" })).toHaveCount(0)
  await ada.close()
  await bo.close()
})
