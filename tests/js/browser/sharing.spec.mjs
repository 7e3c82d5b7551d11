// Sharing a spec: by username with an editor and a viewer (edits attributed, viewers read only but live), role changes and removal, and share links redeemed, revoked and refused.
import { test, expect, createSpec, person, refused, specList } from "./fixtures.mjs"

const field = (page, name) => page.getByRole("textbox", { name, exact: true })

/// Opens the spec and waits for its title.
async function open(p, duet, spec) {
  await p.page.goto(`${duet.url}/specs/${spec.id}`)
  await expect(field(p.page, "Spec title")).toHaveValue(spec.title)
}

/// The owner adds `who` with `role` in the share panel.
async function addPerson(page, who, role) {
  const panel = page.getByRole("region", { name: "Sharing" })
  await panel.getByLabel("Username to add").fill(who.username)
  await panel.getByLabel("Their role").selectOption(role)
  await panel.getByRole("button", { name: "Add" }).click()
  await expect(panel.locator(`li.member[data-username="${who.username}"]`)).toBeVisible()
}

test("the owner shares by username with an editor and a viewer: the editor's edits reach everyone live under the editor's name, the viewer cannot change anything", async ({ browser, duet }) => {
  // Adding someone who does not exist is refused (a 404 the console logs).
  const ada = await person(browser, duet, "Ada Owner", [refused(404, "/roles/nobody-at-all")])
  const bo = await person(browser, duet, "Bo Editor")
  const cy = await person(browser, duet, "Cy Viewer")
  const spec = await createSpec(duet, "Shared plan", ada)
  await open(ada, duet, spec)
  await ada.page.getByRole("button", { name: "Share" }).click()
  await addPerson(ada.page, bo, "editor")
  await addPerson(ada.page, cy, "viewer")
  const panel = ada.page.getByRole("region", { name: "Sharing" })
  await expect(panel.getByLabel(`Role of ${bo.username}`)).toHaveValue("editor")
  await expect(panel.getByLabel(`Role of ${cy.username}`)).toHaveValue("viewer")
  // A name nobody has is refused in the server's words.
  await panel.getByLabel("Username to add").fill("nobody-at-all")
  await panel.getByRole("button", { name: "Add" }).click()
  await expect(panel.getByRole("alert")).toBeVisible()

  await open(bo, duet, spec)
  await open(cy, duet, spec)
  await expect(cy.page.getByText("View only")).toBeVisible()
  await expect(bo.page.getByText("View only")).toHaveCount(0)

  // Bo types; Ada and Cy see it live, with Bo's name beside his caret.
  await field(bo.page, "Problem").click()
  await bo.page.keyboard.type("Editors can type")
  for (const p of [ada, cy]) {
    await expect(field(p.page, "Problem")).toHaveValue("Editors can type")
    await expect(p.page.locator('[data-field="problem"] .rflag')).toHaveText("Bo Editor")
  }
  await expect(cy.page.locator("ul.people li.person", { hasText: "Bo Editor" })).toContainText("in the problem")
  await bo.page.getByRole("button", { name: "Add story" }).click()
  await bo.page.keyboard.type("reviewer")
  await expect(field(cy.page, "As a")).toHaveValue("reviewer")
  await expect.poll(async () => (await specList(duet, ada)).find(s => s.id === spec.id).authors).toContain(bo.username)

  // Cy can read everything and change nothing: every field is read only, and there is no
  // control to add, remove, move, tick or re-classify anything.
  await expect(cy.page.locator("main textarea")).not.toHaveCount(0)
  await expect(cy.page.locator("main textarea:not([readonly])")).toHaveCount(0)
  await expect(field(cy.page, "Problem")).not.toBeEditable()
  for (const name of ["Add story", "Add metric", "Add decision", "Add question", "+ Constraint", /Move|Remove/]) {
    await expect(cy.page.getByRole("button", { name })).toHaveCount(0)
  }
  await expect(cy.page.getByRole("combobox", { name: "Story status" })).toBeDisabled()
  await expect(cy.page.getByRole("checkbox")).toHaveCount(0) // no criteria yet
  await field(cy.page, "Problem").click()
  await cy.page.keyboard.type("viewer typing")
  await expect(field(cy.page, "Problem")).toHaveValue("Editors can type")
  // Cy sees who has access, without controls.
  await cy.page.getByRole("button", { name: "Who has access" }).click()
  const cyPanel = cy.page.getByRole("region", { name: "Sharing" })
  await expect(cyPanel.locator("li.member")).toHaveCount(3)
  await expect(cyPanel.locator(`li.member[data-username="${bo.username}"] .role`)).toHaveText("Can edit")
  await expect(cyPanel.getByRole("combobox")).toHaveCount(0)
  await expect(cyPanel.getByRole("button")).toHaveCount(0)

  // Ada makes Bo a viewer: his next visit is read only. She removes Cy: the spec leaves Cy's list.
  await panel.getByLabel(`Role of ${bo.username}`).selectOption("viewer")
  await expect(panel.getByLabel(`Role of ${bo.username}`)).toHaveValue("viewer")
  await bo.page.reload()
  await expect(bo.page.getByText("View only")).toBeVisible()
  await expect(field(bo.page, "Problem")).not.toBeEditable()
  await panel.getByRole("button", { name: `Remove ${cy.username}` }).click()
  await expect(panel.locator("li.member")).toHaveCount(2)
  await cy.page.goto(duet.url)
  await expect(cy.page.getByText("No specs yet.")).toBeVisible()
  await ada.close()
  await bo.close()
  await cy.close()
})

test("a share link made by the owner opens the spec for someone who signs up on the way; once revoked it is refused with the reason", async ({ browser, duet }) => {
  const ada = await person(browser, duet, "Ada Owner")
  const spec = await createSpec(duet, "Linked plan", ada)
  await open(ada, duet, spec)
  await ada.page.getByRole("button", { name: "Share" }).click()
  const panel = ada.page.getByRole("region", { name: "Sharing" })
  await panel.getByLabel("Link role").selectOption("editor")
  await panel.getByLabel("Link expires after").selectOption("24")
  await panel.getByRole("button", { name: "Create link" }).click()
  const link = await panel.getByLabel("New share link").inputValue()
  expect(link).toMatch(new RegExp(`^${duet.url}/share/`))
  await expect(panel.locator("li.link")).toHaveCount(1)
  await expect(panel.locator("li.link")).toContainText("Can edit · expires")

  // Dee has no account: she signs up, then lands in the spec, able to edit.
  const dee = await person(browser, duet, null, [refused(401, "/api/me")])
  await dee.page.goto(link)
  await dee.page.getByRole("button", { name: "Create an account" }).click()
  await dee.page.getByLabel("Username").fill(`dee-${Date.now().toString(36)}`)
  await dee.page.getByLabel("Password").fill("a good long password")
  await dee.page.getByLabel("Display name").fill("Dee Linked")
  await dee.page.getByRole("button", { name: "Create account" }).click()
  await expect(dee.page).toHaveURL(`${duet.url}/specs/${spec.id}`)
  await expect(field(dee.page, "Spec title")).toHaveValue("Linked plan")
  await expect(field(dee.page, "Problem")).toBeEditable()
  await expect(panel.locator("li.member")).toHaveCount(1) // the panel shows what it last read
  await ada.page.getByRole("button", { name: "Share" }).click()
  await ada.page.getByRole("button", { name: "Share" }).click()
  await expect(panel.locator("li.member", { hasText: "Dee Linked" })).toBeVisible()

  // Revoked, the link opens nothing, and says why.
  await panel.getByRole("button", { name: "Revoke" }).click()
  await expect(panel.locator("li.link")).toContainText("revoked")
  const eve = await person(browser, duet, "Eve Late", [refused(410, "/api/share/"), refused(400, "/api/share/")])
  await eve.page.goto(link)
  await expect(eve.page.getByRole("heading", { name: "This share link cannot be used" })).toBeVisible()
  await expect(eve.page.getByRole("alert")).toContainText(/revoked/i)
  // A made-up link is refused too.
  await eve.page.goto(`${duet.url}/share/not-a-real-token`)
  await expect(eve.page.getByRole("alert")).toBeVisible()
  await eve.page.goto(duet.url)
  await expect(eve.page.getByText("No specs yet.")).toBeVisible()
  await ada.close()
  await dee.close()
  await eve.close()
})
