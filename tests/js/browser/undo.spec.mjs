// Undo and redo owned by the page: one person's steps only, across fields, each shown where it lands; a removed criterion comes back; four people typing at one place keep their words whole.
import { test, expect, createSpec, markdown, person, share } from "./fixtures.mjs"

const field = (page, name) => page.getByRole("textbox", { name, exact: true })

/// Pam (owner) and Eli (editor) open a new spec; returns their pages and the spec.
async function team(browser, duet, title, extra = []) {
  const pam = await person(browser, duet, "Pam (PM)")
  const eli = await person(browser, duet, "Eli Lee")
  const others = []
  for (const name of extra) others.push(await person(browser, duet, name))
  const spec = await createSpec(duet, title, pam)
  for (const p of [eli, ...others]) await share(duet, spec.id, pam, p, "editor")
  for (const p of [pam, eli, ...others]) {
    await p.page.goto(`${duet.url}/specs/${spec.id}`)
    await expect(field(p.page, "Spec title")).toHaveValue(title)
  }
  return {
    spec, pam, eli, others,
    async close() { for (const p of [pam, eli, ...others]) await p.close() },
  }
}

test("Ctrl+Z undoes only my last typing, leaves the other person's text, then undoes my earlier edit elsewhere and shows it; redo restores exactly once", async ({ browser, duet }) => {
  const { spec, pam, eli, close } = await team(browser, duet, "Undo walkthrough")
  const p = pam.page
  await p.getByRole("button", { name: "Add metric" }).click()
  const metric = field(p, "Metric")
  await expect(metric).toBeFocused()
  await p.keyboard.type("Export time under 2 s")
  const problem = field(p, "Problem")
  await problem.click()
  await p.keyboard.type("Pam problem sentence.")
  const eliProblem = field(eli.page, "Problem")
  await expect(eliProblem).toHaveValue("Pam problem sentence.")
  await eliProblem.click()
  await eliProblem.press("End")
  await eli.page.keyboard.type(" Eli addition.")
  await expect(problem).toHaveValue("Pam problem sentence. Eli addition.")

  // Pam's Ctrl+Z (focus still in Problem) takes out her typing only.
  await expect(p.getByRole("button", { name: "Undo typing in Problem" })).toBeEnabled()
  await problem.press("Control+z")
  await expect(problem).toHaveValue(" Eli addition.")
  await expect(eliProblem).toHaveValue(" Eli addition.")
  await expect(field(p, "Metric")).toHaveValue("Export time under 2 s")

  // The next Ctrl+Z undoes the metric's typing and takes Pam there.
  await problem.press("Control+z")
  await expect(field(p, "Metric")).toHaveValue("")
  await expect(field(p, "Metric")).toBeFocused()
  await expect(field(p, "Metric")).toBeInViewport()
  await expect(p.locator(".undo-note", { hasText: "Undid typing in metric" })).toBeVisible()
  await expect(field(eli.page, "Metric")).toHaveValue("")
  await expect(problem).toHaveValue(" Eli addition.")

  // Redo: Ctrl+Shift+Z then Ctrl+Y put both back, each once.
  await p.keyboard.press("Control+Shift+Z")
  await expect(field(p, "Metric")).toHaveValue("Export time under 2 s")
  await p.keyboard.press("Control+y")
  await expect(problem).toHaveValue("Pam problem sentence. Eli addition.")
  await expect(p.getByRole("button", { name: "Nothing to redo" })).toBeDisabled()
  await p.keyboard.press("Control+y")
  await expect(problem).toHaveValue("Pam problem sentence. Eli addition.")
  await expect(eliProblem).toHaveValue("Pam problem sentence. Eli addition.")
  await expect.poll(() => markdown(duet, spec.id, pam)).toContain("Pam problem sentence. Eli addition.")

  // Eli's own undo takes out only his sentence.
  await eliProblem.press("Control+z")
  await expect(eliProblem).toHaveValue("Pam problem sentence.")
  await expect(problem).toHaveValue("Pam problem sentence.")
  await close()
})

test("undoing past my first edit changes nothing and says so; the browser's own undo never runs", async ({ browser, duet }) => {
  const { pam, eli, close } = await team(browser, duet, "Alone")
  const p = pam.page
  const problem = field(p, "Problem")
  await problem.click()
  await p.keyboard.type("Only mine")
  // Eli writes in another field meanwhile.
  await field(eli.page, "Spec title").click()
  await field(eli.page, "Spec title").press("End")
  await eli.page.keyboard.type(" v2")
  await expect(field(p, "Spec title")).toHaveValue("Alone v2")
  await problem.press("Control+z")
  await expect(problem).toHaveValue("")
  for (let i = 0; i < 3; i++) await problem.press("Control+z")
  await expect(p.locator(".undo-note", { hasText: "Nothing to undo" })).toBeVisible()
  await expect(field(p, "Spec title")).toHaveValue("Alone v2")
  await expect(field(eli.page, "Spec title")).toHaveValue("Alone v2")
  // The Edit menu's undo (a historyUndo input) is the page's too.
  await problem.press("Control+Shift+Z")
  await expect(problem).toHaveValue("Only mine")
  await close()
})

test("undo brings back a removed criterion with its text, for everyone; the button names the step", async ({ browser, duet }) => {
  const { pam, eli, close } = await team(browser, duet, "Criteria")
  const p = pam.page
  await p.getByRole("button", { name: "Add story" }).click()
  await p.keyboard.type("finance lead")
  await p.getByRole("button", { name: "Add Technical criterion" }).click()
  await expect(field(p, "Criterion")).toBeFocused()
  await p.keyboard.type("UTF-8 with BOM")
  await expect(field(eli.page, "Criterion")).toHaveValue("UTF-8 with BOM")
  await p.getByRole("button", { name: "Remove criterion" }).click()
  await expect(field(p, "Criterion")).toHaveCount(0)
  await expect(field(eli.page, "Criterion")).toHaveCount(0)
  await p.getByRole("button", { name: "Undo removing criterion “UTF-8 with BOM”" }).click()
  await expect(field(p, "Criterion")).toHaveValue("UTF-8 with BOM")
  await expect(field(eli.page, "Criterion")).toHaveValue("UTF-8 with BOM")
  await expect(field(p, "Criterion")).toBeFocused()
  // Redo removes it again; undo once more brings it back, never twice.
  await p.getByRole("button", { name: "Redo removing criterion “UTF-8 with BOM”" }).click()
  await expect(field(eli.page, "Criterion")).toHaveCount(0)
  await p.keyboard.press("Control+z")
  await expect(field(eli.page, "Criterion")).toHaveCount(1)
  await expect(field(eli.page, "Criterion")).toHaveValue("UTF-8 with BOM")
  await close()
})

test("four people typing at the same place at once each keep their words whole, round after round", async ({ browser, duet }) => {
  const { pam, eli, others, close } = await team(browser, duet, "Crowd", ["Vic Vance", "Ona Ops"])
  const people = [pam, eli, ...others]
  const boxes = people.map(q => field(q.page, "Problem"))
  const words = [["pam", "PAM"], ["eli", "ELI"], ["vic", "VIC"], ["ona", "ONA"]]
  let expected = 0
  for (let round = 0; round < 4; round++) {
    for (const b of boxes) {
      await b.click()
      await b.press("End")
    }
    const typed = people.map((_, i) => ` ${words[i][round % 2]}${round}${"xyzw"[i]}${"qrst"[i]}`)
    await Promise.all(people.map((q, i) => q.page.keyboard.type(typed[i], { delay: 20 })))
    expected += typed.join("").length
    // Every keystroke reached everyone: nothing lost, nothing doubled.
    for (const b of boxes) await expect.poll(async () => (await b.inputValue()).length).toBe(expected)
    const text = await boxes[0].inputValue()
    for (const b of boxes) await expect(b).toHaveValue(text)
    for (const t of typed) expect(text, `round ${round}: "${t}" stays whole in "${text}"`).toContain(t)
  }
  await close()
})

test("text typed during an IME composition lands where the person typed it, though others' words arrived meanwhile", async ({ browser, duet }) => {
  const { pam, eli, close } = await team(browser, duet, "Composition")
  const p = field(pam.page, "Problem")
  const e = field(eli.page, "Problem")
  await p.click()
  await pam.page.keyboard.type("base")
  await expect(e).toHaveValue("base")
  const cdp = await pam.page.context().newCDPSession(pam.page)
  await cdp.send("Input.imeSetComposition", { text: "に", selectionStart: 1, selectionEnd: 1 })
  // Eli types at the start while Pam's composition is open: her box does not show it yet.
  await e.click()
  await e.press("Home")
  await eli.page.keyboard.type("ELI ")
  await expect(e).toHaveValue("ELI baseに")
  await cdp.send("Input.imeSetComposition", { text: "にほん", selectionStart: 3, selectionEnd: 3 })
  await cdp.send("Input.insertText", { text: "日本" })
  await pam.page.keyboard.type("!")
  for (const b of [p, e]) await expect(b).toHaveValue("ELI base日本!")
  await close()
})
