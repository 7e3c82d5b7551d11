// The spec page: opened from the list, kept live over the connection while another automerge-repo client edits.
import { test, expect, createSpec, apiToken, refused, signUp } from "./fixtures.mjs"
import { Repo, splice } from "@automerge/automerge-repo"
import { WebSocketClientAdapter } from "@automerge/automerge-repo-network-websocket"

test("a spec opened from the list shows its title and follows a remote edit live", async ({ page, duet, account }) => {
  const spec = await createSpec(duet, "Checkout", account)
  await page.goto(duet.url)
  await page.getByRole("link", { name: "Checkout" }).click()
  await expect(page).toHaveURL(new RegExp(`/specs/${spec.id}$`))
  const title = page.getByRole("textbox", { name: "Spec title" })
  await expect(title).toHaveValue("Checkout")

  // Another peer (JS automerge-repo, signed in with an API token) edits the title through the server.
  const token = await apiToken(duet, account)
  const repo = new Repo({ network: [new WebSocketClientAdapter(`${duet.url.replace("http", "ws")}/sync?token=${token}`)] })
  try {
    const handle = await repo.find(spec.url)
    handle.change(d => {
      splice(d, ["title"], 8, 0, " — 結帳 ✓")
    })
    await expect(title).toHaveValue("Checkout — 結帳 ✓")
  } finally {
    await repo.shutdown()
  }
})

test.describe("a spec nobody shared", () => {
  // The page asks for the person's role on it: the server says there is no such spec.
  test.use({ allowedConsoleErrors: [[refused(404, "/api/specs/")]] })

  test("a spec the server does not have says so", async ({ page, duet }) => {
    // A well-formed id nobody created (bs58check of 16 zero bytes).
    await page.goto(`${duet.url}/specs/11111111111111114Ki9Gx`)
    await expect(page.getByRole("alert")).toHaveText("There is no such spec on the server.")
  })

  test("someone else's spec that was not shared reads exactly like one that does not exist", async ({ page, duet, browser }) => {
    const eveContext = await browser.newContext()
    const eve = await signUp(eveContext, duet, "Eve Elsewhere")
    const spec = await createSpec(duet, "Private plans", eve)
    await page.goto(`${duet.url}/specs/${spec.id}`)
    await expect(page.getByRole("alert")).toHaveText("There is no such spec on the server.")
    await expect(page.getByText("Private plans")).toHaveCount(0)
    await eveContext.close()
  })
})
