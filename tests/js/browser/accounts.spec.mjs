// Accounts in the page: sign up, sign out (and what it leaves behind), sign in, wrong passwords, the profile, and a session that ends while the page is open.
import { test, expect, refused, signUp, usernameFor } from "./fixtures.mjs"

const status = page => page.getByRole("status")
/// The IndexedDB databases of this browser context.
const databases = page => page.evaluate(async () => (await indexedDB.databases()).map(d => d.name))

test.describe("without an account", () => {
  test.use({
    personName: null,
    allowedConsoleErrors: [[refused(401, "/api/me"), refused(401, "/api/auth/signin")]],
  })

  test("a person signs up, signs out (forgetting the account and the specs kept in the browser), is refused a wrong password and signs in again", async ({ page, duet }) => {
    const username = usernameFor("Lin Signout")
    await page.goto(duet.url)
    await page.getByRole("button", { name: "Create an account" }).click()
    await page.getByLabel("Username").fill(username)
    await page.getByLabel("Password").fill("a good long password")
    await page.getByLabel("Display name").fill("Lin Signout")
    await page.getByRole("button", { name: "Create account" }).click()
    await expect(page.getByRole("link", { name: "Lin Signout" })).toBeVisible()
    await expect(status(page)).toHaveText("Live")
    await page.getByLabel("Title of the new spec").fill("Kept across sessions")
    await page.getByRole("button", { name: "New spec", exact: true }).click()
    // Creating opens the spec; back on the list it is there.
    await expect(page.getByRole("textbox", { name: "Spec title" })).toHaveValue("Kept across sessions")
    await page.goBack()
    const row = page.locator("li.spec", { hasText: "Kept across sessions" })
    // Listed, on the server, and nothing left to send: signing out asks nothing.
    await expect(row).toBeVisible()
    await expect(row.locator(".here-only")).toHaveCount(0)
    await expect(status(page)).toHaveText("Live")
    await expect.poll(() => databases(page)).toContain(`duet-${username}`)

    page.once("dialog", d => {
      throw new Error(`sign-out asked although the server has everything: ${d.message()}`)
    })
    await page.getByRole("button", { name: "Sign out" }).click()
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible()
    expect(await page.evaluate(() => localStorage.getItem("duet.account"))).toBeNull()
    await expect.poll(() => databases(page)).not.toContain(`duet-${username}`)
    // Signed out on the server too: the cookie no longer opens anything.
    expect((await page.request.get(`${duet.url}/api/specs`)).status()).toBe(401)

    await page.getByLabel("Username").fill(username)
    await page.getByLabel("Password").fill("not the password")
    await page.getByRole("button", { name: "Sign in" }).click()
    await expect(page.getByRole("alert")).toBeVisible()
    const said = await page.getByRole("alert").textContent()
    expect(said.length).toBeGreaterThan(5)
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible()

    await page.getByLabel("Password").fill("a good long password")
    await page.getByRole("button", { name: "Sign in" }).click()
    await expect(page.getByRole("link", { name: "Lin Signout" })).toBeVisible()
    await expect(page.locator("li.spec", { hasText: "Kept across sessions" })).toBeVisible()
    await expect(status(page)).toHaveText("Live")
  })
})

test.describe("signing up", () => {
  test.use({ personName: null, allowedConsoleErrors: [[refused(401, "/api/me")]] })

  test("asks for the discipline and says why; someone of another discipline is told why there is no sign-off button for them", async ({ page, duet }) => {
    await page.goto(duet.url)
    await page.getByRole("button", { name: "Create an account" }).click()
    const discipline = page.getByLabel("Discipline")
    await expect(discipline).toHaveValue("product")
    await expect(page.getByText("Decides which sign-off you can give")).toBeVisible()
    await page.getByLabel("Username").fill(usernameFor("Quinn QA"))
    await page.getByLabel("Password").fill("a good long password")
    await page.getByLabel("Display name").fill("Quinn QA")
    await discipline.selectOption("other")
    await page.getByRole("button", { name: "Create account" }).click()
    await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()
    expect((await (await page.request.get(`${duet.url}/api/me`)).json()).discipline).toBe("other")

    await page.getByLabel("Title of the new spec").fill("Test plan")
    await page.getByRole("button", { name: "New spec", exact: true }).click()
    await page.getByRole("button", { name: "Add story" }).click()
    await expect(page.locator("article.story .signoff button")).toHaveCount(0)
    await expect(page.locator("article.story .why-no-sign")).toContainText("your profile's discipline is other, and only product, engineering and design sign")
    await page.locator("article.story .why-no-sign").getByRole("link", { name: "Change it in your profile" }).click()
    await expect(page).toHaveURL(`${duet.url}/me`)
  })
})

test.describe("too many wrong passwords", () => {
  test.use({
    personName: null,
    allowedConsoleErrors: [[refused(401, "/api/me"), refused(401, "/api/auth/signin"), refused(429, "/api/auth/signin")]],
  })

  test("make the sign-in page say how long to wait before trying again", async ({ page, duet, browser }) => {
    const elsewhere = await browser.newContext()
    const tess = await signUp(elsewhere, duet, "Tess Throttle")
    await elsewhere.close()
    await page.goto(duet.url)
    await page.getByLabel("Username").fill(tess.username)
    let status = 0
    for (let attempt = 0; status !== 429 && attempt < 10; attempt++) {
      await page.getByLabel("Password").fill(`wrong guess ${attempt}`)
      const answered = page.waitForResponse(r => r.url().endsWith("/api/auth/signin"))
      await page.getByRole("button", { name: "Sign in" }).click()
      status = (await answered).status()
    }
    expect(status).toBe(429)
    await expect(page.getByRole("alert")).toHaveText(/^Too many attempts\. Please wait \d+ seconds before trying again\.$/)
  })
})

test.describe("signing out with edits the server does not have", () => {
  test.use({
    allowedConsoleErrors: [[/ERR_INTERNET_DISCONNECTED/, /WebSocket connection to .* failed/, /Failed to load resource/]],
  })

  test("asks before deleting them, and signs out without asking once the server has them", async ({ page, context, duet }) => {
    await page.goto(duet.url)
    await expect(status(page)).toHaveText("Live")
    await context.setOffline(true)
    await expect(status(page)).toHaveText("Offline")
    await page.getByLabel("Title of the new spec").fill("Not on the server yet")
    await page.getByRole("button", { name: "New spec", exact: true }).click()
    await expect(page.getByRole("textbox", { name: "Spec title" })).toHaveValue("Not on the server yet")
    await page.goBack()
    await expect(page.locator("li.spec", { hasText: "Not on the server yet" }).locator(".here-only")).toBeVisible()

    let asked = null
    page.once("dialog", async d => {
      asked = `${d.type()}: ${d.message()}`
      await d.dismiss()
    })
    await page.getByRole("button", { name: "Sign out" }).click()
    await expect.poll(() => asked).toMatch(/^confirm: .*not reached the server/)
    await expect(page.getByRole("heading", { name: "Specs" })).toBeVisible()

    await context.setOffline(false)
    await expect(status(page)).toHaveText("Live", { timeout: 30_000 })
    await expect(page.locator("li.spec", { hasText: "Not on the server yet" }).locator(".here-only")).toHaveCount(0)
    page.on("dialog", d => {
      throw new Error(`unexpected dialog: ${d.message()}`)
    })
    await page.getByRole("button", { name: "Sign out" }).click()
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible()
  })
})

test("the profile page changes the name and colour others see, and the top bar follows", async ({ page, duet, account }) => {
  await page.goto(duet.url)
  await page.getByRole("link", { name: "Ada Lovelace" }).click()
  await expect(page).toHaveURL(`${duet.url}/me`)
  await expect(page.getByText(`Signed in as @${account.username}`)).toBeVisible()
  await page.getByLabel("Display name").fill("Ada King")
  await page.getByLabel("Colour").fill("#0f7c8c")
  await page.getByLabel("Discipline").selectOption("engineering")
  await page.getByRole("button", { name: "Save" }).click()
  await expect(page.getByText("Saved.")).toBeVisible()
  await expect(page.getByRole("link", { name: "Ada King" })).toBeVisible()
  const me = await (await page.request.get(`${duet.url}/api/me`)).json()
  expect(me).toMatchObject({ username: account.username, display_name: "Ada King", colour: "#0f7c8c", discipline: "engineering" })
  // Kept for starting offline.
  expect(JSON.parse(await page.evaluate(() => localStorage.getItem("duet.account"))).display_name).toBe("Ada King")
})

test.describe("a session that ends while the page is open", () => {
  test.use({ allowedConsoleErrors: [[/WebSocket connection to .* failed/, /Failed to load resource/]] })

  test("shows the sign-in page when the server refuses the connection, instead of reconnecting forever", async ({ page, duet }) => {
    await page.goto(duet.url)
    await expect(status(page)).toHaveText("Live")
    // Signed out elsewhere (the same cookie jar); the open socket goes when the server restarts.
    expect((await page.request.post(`${duet.url}/api/auth/signout`)).status()).toBe(204)
    await duet.restart()
    await expect(page.getByRole("heading", { name: "Sign in to Duet" })).toBeVisible({ timeout: 30_000 })
    await expect(page.getByRole("note")).toHaveText("Your session has ended. Please sign in again.")
  })
})

test.describe("the profile's password and tokens", () => {
  test.use({ allowedConsoleErrors: [[refused(403, "/api/me/password")]] })

  test("the profile page changes the password, ending every other session, and makes, lists and revokes API tokens", async ({ page, duet, account, browser }) => {
    // A second browser signed in as the same person.
    const other = await browser.newContext()
    const signin = await other.request.post(`${duet.url}/api/auth/signin`, { data: { username: account.username, password: account.password } })
    expect(signin.status()).toBe(200)
    await page.goto(`${duet.url}/me`)

    await page.getByLabel("Current password").fill("not it at all")
    await page.getByLabel("New password", { exact: true }).fill("a brand new passphrase")
    await page.getByLabel("New password again").fill("a brand new passphrase")
    await page.getByRole("button", { name: "Change password" }).click()
    await expect(page.getByRole("alert")).toContainText("current password is not right")
    await page.getByLabel("Current password").fill(account.password)
    await page.getByLabel("New password again").fill("a different one")
    await page.getByRole("button", { name: "Change password" }).click()
    await expect(page.getByRole("alert")).toHaveText("The two new passwords differ.")
    await page.getByLabel("New password", { exact: true }).fill("a brand new passphrase")
    await page.getByLabel("New password again").fill("a brand new passphrase")
    await page.getByRole("button", { name: "Change password" }).click()
    await expect(page.getByText("Password changed.")).toBeVisible()
    // This browser stays signed in; the other one is not any more.
    expect((await page.request.get(`${duet.url}/api/me`)).status()).toBe(200)
    expect((await other.request.get(`${duet.url}/api/me`)).status()).toBe(401)
    await other.close()

    // Tokens: made with a name, shown once, listed, revoked.
    await page.getByLabel("Name of a new token").fill("CI export")
    await page.getByRole("button", { name: "Make token" }).click()
    const token = await page.locator("code.new-token").textContent()
    expect(token).toMatch(/^duet_/)
    const tokens = page.locator("ul.token-list li")
    await expect(tokens).toHaveCount(1)
    await expect(tokens).toContainText("CI export")
    const bearer = { headers: { authorization: `Bearer ${token}` } }
    expect((await page.request.get(`${duet.url}/api/me`, bearer)).status()).toBe(200)
    await page.getByRole("button", { name: "Revoke CI export" }).click()
    await expect(page.getByText("No tokens.")).toBeVisible()
    const anonymous = await browser.newContext()
    expect((await anonymous.request.get(`${duet.url}/api/me`, bearer)).status()).toBe(401)
    await anonymous.close()
  })
})
