// The spec editor with two people in two browsers: live typing, concurrent typing, anchored constraints and triage, carets kept, presence, non-ASCII text.
import { test, expect, createSpec, markdown, person, share } from "./fixtures.mjs"

const field = (page, name) => page.getByRole("textbox", { name, exact: true })

/// Both people open the same new spec (Ada's, Bo an editor of it); returns their pages and the spec.
async function pair(browser, duet, title) {
  const ada = await person(browser, duet, "Ada Lovelace")
  const bo = await person(browser, duet, "Bo Builder")
  const spec = await createSpec(duet, title, ada)
  await share(duet, spec.id, ada, bo, "editor")
  for (const p of [ada, bo]) {
    await p.page.goto(`${duet.url}/specs/${spec.id}`)
    await expect(field(p.page, "Spec title")).toHaveValue(title)
  }
  return { spec, ada, bo, async close() { await ada.close(); await bo.close() } }
}

test("text typed in one browser appears in the other, and simultaneous typing converges everywhere", async ({ browser, duet }) => {
  const { spec, ada, bo, close } = await pair(browser, duet, "Live typing")
  const a = field(ada.page, "Problem")
  const b = field(bo.page, "Problem")
  await a.click()
  await ada.page.keyboard.type("Hello from Ada")
  await expect(b).toHaveValue("Hello from Ada")

  // Ada types at the end while Bo types at the start, keystroke by keystroke, at once.
  await a.press("End")
  await b.click()
  await b.press("Home")
  await Promise.all([
    ada.page.keyboard.type(" — and more from Ada αβγ", { delay: 15 }),
    bo.page.keyboard.type("Bo says 結帳: ", { delay: 15 }),
  ])
  const want = "Bo says 結帳: Hello from Ada — and more from Ada αβγ"
  await expect(a).toHaveValue(want)
  await expect(b).toHaveValue(want)
  await expect.poll(() => markdown(duet, spec.id, ada)).toContain(want)
  await close()
})

test("an anchored constraint shows beside its story in the other browser, follows edits to its span, stays beside it marked when the span is deleted, and re-anchors to a selection", async ({ browser, duet }) => {
  const { ada, bo, close } = await pair(browser, duet, "Reports")
  await ada.page.getByRole("button", { name: "Add story" }).click()
  await ada.page.keyboard.type("finance lead")
  const iWant = field(ada.page, "I want")
  await iWant.click()
  await ada.page.keyboard.type("export the report as CSV quickly")
  // Select "as CSV" with the keyboard, then add a constraint on it.
  await iWant.press("End")
  for (let i = 0; i < " quickly".length; i++) await iWant.press("ArrowLeft")
  for (let i = 0; i < "as CSV".length; i++) await iWant.press("Shift+ArrowLeft")
  await ada.page.getByRole("button", { name: "+ Constraint on “as CSV”" }).click()
  await ada.page.keyboard.type("Must stream: 1M rows")
  await ada.page.getByRole("combobox", { name: "Severity" }).selectOption("blocker")

  // Bo sees it in the track beside that story, with the span highlighted.
  const story = bo.page.locator("article.story")
  await expect(story.locator(".track .constraint textarea")).toHaveValue("Must stream: 1M rows")
  await expect(story.locator(".track .constraint")).toHaveClass(/severity-blocker/)
  const marks = page => page.locator('[data-field$="/i_want"] mark')
  await expect(marks(bo.page)).toHaveText("as CSV")
  await expect(story.locator(".constraint .anchor")).toHaveText("on “as CSV”")

  // Hovering the constraint highlights its span.
  await story.locator(".track .constraint").hover()
  await expect(marks(bo.page)).toHaveClass(/active/)

  // Bo types inside the span: the anchor grows with it, in both browsers.
  const boWant = field(bo.page, "I want")
  await boWant.click()
  await boWant.press("End")
  for (let i = 0; i < " CSV quickly".length; i++) await boWant.press("ArrowLeft")
  await bo.page.keyboard.type(" a")
  await expect(boWant).toHaveValue("export the report as a CSV quickly")
  await expect(marks(bo.page)).toHaveText("as a CSV")
  await expect.poll(async () => (await marks(ada.page).allTextContents()).join("")).toBe("as a CSV")

  // Bo deletes the span: the constraint stays beside its story, marked as having lost its
  // words, and triage lists it under the story it belongs to — in both browsers.
  await boWant.press("End")
  for (let i = 0; i < " quickly".length; i++) await boWant.press("ArrowLeft")
  for (let i = 0; i < "as a CSV".length; i++) await boWant.press("Shift+ArrowLeft")
  await boWant.press("Backspace")
  await expect(boWant).toHaveValue("export the report  quickly")
  for (const p of [ada.page, bo.page]) {
    const card = p.locator("article.story .track .constraint")
    await expect(card.locator("textarea")).toHaveValue("Must stream: 1M rows")
    await expect(card.locator(".anchor")).toHaveText("Lost its words — it was on “as CSV”, since deleted")
    const triage = p.locator("section.triage")
    await expect(triage.locator(".constraint textarea")).toHaveValue("Must stream: 1M rows")
    await expect(triage.locator(".belongs")).toHaveText("Belongs to Story 1")
    await expect(marks(p)).toHaveCount(0)
  }
  // Re-anchoring waits for a selection; Ada selects "quickly" and re-anchors it there: the
  // words are highlighted again for both, and it leaves triage's lost anchors.
  const reanchor = ada.page.locator("article.story .track .reanchor button").first()
  await expect(reanchor).toBeDisabled()
  const adaWant = field(ada.page, "I want")
  await adaWant.click()
  await adaWant.press("End")
  for (let i = 0; i < "quickly".length; i++) await adaWant.press("Shift+ArrowLeft")
  await expect(reanchor).toHaveText("Re-anchor to the selection")
  await reanchor.click()
  await expect(marks(bo.page)).toHaveText("quickly")
  await expect(bo.page.locator("article.story .constraint .anchor")).toHaveText("on “quickly”")
  const triage = bo.page.locator("section.triage")
  await expect(triage.locator(".triage-list .constraint")).toHaveCount(0)
  // An open blocker, it stays in triage as such (named by its raiser's display name, in
  // the track's red) until someone addresses it — one click.
  await expect(triage.locator("li.blocker")).toContainText("Must stream: 1M rows")
  await expect(triage.locator("li.blocker .author")).toHaveText(ada.display_name)
  await expect(triage.locator("li.blocker .sev-badge")).toHaveCSS("background-color", "rgb(180, 35, 24)")
  await triage.getByRole("button", { name: "Mark addressed" }).click()
  await expect(bo.page.locator("section.triage")).toHaveCount(0)
  await expect(ada.page.locator("section.triage")).toHaveCount(0)

  // "+ Constraint on …" follows the selection: it goes when the focus leaves the story.
  await boWant.press("End")
  for (let i = 0; i < "quickly".length; i++) await boWant.press("Shift+ArrowLeft")
  const add = bo.page.locator("article.story .track button.add")
  await expect(add).toHaveText("+ Constraint on “quickly”")
  await field(bo.page, "Problem").click()
  await expect(add).toHaveText("+ Constraint")
  await close()
})

test("a caret stays on its text while the other person inserts before it", async ({ browser, duet }) => {
  const { ada, bo, close } = await pair(browser, duet, "Carets")
  const a = field(ada.page, "Problem")
  await a.click()
  await ada.page.keyboard.type("hello world")
  await a.press("End")
  for (let i = 0; i < " world".length; i++) await a.press("ArrowLeft")

  const b = field(bo.page, "Problem")
  await expect(b).toHaveValue("hello world")
  await b.click()
  await b.press("Home")
  await bo.page.keyboard.type("Big news 📣: ")
  await expect(a).toHaveValue("Big news 📣: hello world")
  const caret = await a.evaluate(el => [el.selectionStart, el.selectionEnd, document.activeElement === el])
  const at = "Big news 📣: hello".length // UTF-16, like the DOM
  expect(caret).toEqual([at, at, true])
  // Typing goes on exactly there.
  await ada.page.keyboard.type(",")
  await expect(b).toHaveValue("Big news 📣: hello, world")
  await close()
})

test("presence: each person sees who is here and in which field, and someone who leaves disappears", async ({ browser, duet }) => {
  const { bo, ada, close } = await pair(browser, duet, "Presence")
  const adaInBo = bo.page.locator("ul.people li.person", { hasText: "Ada Lovelace" })
  await expect(adaInBo).toBeVisible()
  await field(ada.page, "Spec title").click()
  await expect(adaInBo).toContainText("in the title")
  await expect(bo.page.locator('[data-field="title"] .rflag')).toHaveText("Ada Lovelace")
  await field(ada.page, "Problem").click()
  await expect(adaInBo).toContainText("in the problem")
  await expect(bo.page.locator('[data-field="title"] .rflag')).toHaveCount(0)
  await expect(bo.page.locator('[data-field="problem"] .rflag')).toHaveText("Ada Lovelace")
  await expect(ada.page.locator("ul.people li.person", { hasText: "Bo Builder" })).toBeVisible()
  // Ada opens the spec in a second tab: still one Ada for Bo (where she types), and no
  // second self for her.
  const second = await ada.context.newPage()
  await second.goto(ada.page.url())
  await expect(second.locator("ul.people li.person", { hasText: "Bo Builder" })).toBeVisible()
  await expect(adaInBo).toHaveCount(1)
  await expect(adaInBo).toContainText("in the problem")
  await expect(second.locator("ul.people li.person")).toHaveCount(2)
  await second.close()

  await ada.close()
  await expect(adaInBo).toHaveCount(0)
  await expect(bo.page.locator(".rflag")).toHaveCount(0)
  await bo.close()
})

test("emoji, CJK and combining text typed in one browser arrive intact in the other, and edits around them stay exact", async ({ browser, duet }) => {
  const { spec, ada, bo, close } = await pair(browser, duet, "Unicode")
  await ada.page.getByRole("button", { name: "Add story" }).click()
  await ada.page.keyboard.type("家族 👩‍👩‍👧 shopper")
  await ada.page.getByRole("button", { name: "Add UX criterion" }).click()
  const text = "Ship 🚢 結帳 façade — naïve café 😀"
  await ada.page.keyboard.type(text)
  const crit = p => p.locator("li.criterion textarea")
  await expect(crit(bo.page)).toHaveValue(text)
  await expect(field(bo.page, "As a")).toHaveValue("家族 👩‍👩‍👧 shopper")

  // Bo edits right after the emoji; Ada deletes one CJK character.
  const b = crit(bo.page)
  await b.click()
  await b.press("Home")
  for (let i = 0; i < [..."Ship 🚢"].length; i++) await b.press("ArrowRight") // by character
  await bo.page.keyboard.type("!")
  await expect(crit(ada.page)).toHaveValue("Ship 🚢! 結帳 façade — naïve café 😀")
  const a = crit(ada.page)
  await a.click()
  await a.press("End")
  for (let i = 0; i < [..." façade — naïve café 😀"].length; i++) await a.press("ArrowLeft")
  await a.press("Backspace")
  await expect(b).toHaveValue("Ship 🚢! 結 façade — naïve café 😀")
  await expect.poll(() => markdown(duet, spec.id, ada)).toContain("家族 👩‍👩‍👧 shopper")
  await close()
})

test("delete-word, undo, cut, paste and IME composition each reach the other browser as the same text", async ({ browser, duet }) => {
  const { ada, bo, close } = await pair(browser, duet, "Input kinds")
  await ada.page.context().grantPermissions(["clipboard-read", "clipboard-write"], { origin: duet.url })
  const a = field(ada.page, "Problem")
  const b = field(bo.page, "Problem")
  await a.click()
  await ada.page.keyboard.type("alpha beta gamma")
  await a.press("Control+Backspace")
  await expect(b).toHaveValue("alpha beta ")
  await a.press("Control+z")
  await expect(a).toHaveValue("alpha beta gamma")
  await expect(b).toHaveValue("alpha beta gamma")

  // Cut "beta " and paste it at the end.
  await a.press("Home")
  for (let i = 0; i < "alpha ".length; i++) await a.press("ArrowRight")
  for (let i = 0; i < "beta ".length; i++) await a.press("Shift+ArrowRight")
  await a.press("Control+x")
  await expect(b).toHaveValue("alpha gamma")
  await a.press("End")
  await a.press("Control+v")
  await expect(b).toHaveValue("alpha gammabeta ")

  // An IME composition (as a Japanese keyboard produces it), then its commit.
  const cdp = await ada.page.context().newCDPSession(ada.page)
  await cdp.send("Input.imeSetComposition", { text: "に", selectionStart: 1, selectionEnd: 1 })
  await cdp.send("Input.imeSetComposition", { text: "にほん", selectionStart: 3, selectionEnd: 3 })
  await cdp.send("Input.insertText", { text: "日本" })
  await expect(a).toHaveValue("alpha gammabeta 日本")
  await expect(b).toHaveValue("alpha gammabeta 日本")
  await close()
})
