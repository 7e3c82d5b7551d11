// The connection state in the top bar: live, offline with the browser, reconnecting by itself after a server restart.
import { test, expect } from "./fixtures.mjs"

// A list read still in flight when the browser goes offline fails in Chromium's console.
test.describe("with the browser going offline", () => {
  test.use({ allowedConsoleErrors: [[/ERR_INTERNET_DISCONNECTED/]] })

  test("the page shows Live once connected and Offline while the browser is offline", async ({ page, context, duet }) => {
    await page.goto(duet.url)
    const status = page.getByRole("status")
    await expect(status).toHaveText("Live")
    await context.setOffline(true)
    await expect(status).toHaveText("Offline")
    await context.setOffline(false)
    await expect(status).toHaveText("Live")
  })
})

test.describe("while the server is down", () => {
  // Chromium logs each refused websocket attempt, and the page's check of its session
  // after one (the server is gone): the expected noise here.
  test.use({ allowedConsoleErrors: [[/WebSocket connection to .* failed/, /Failed to load resource/]] })

  test("after a server restart the page reconnects by itself", async ({ page, duet }) => {
  await page.goto(duet.url)
  const status = page.getByRole("status")
  await expect(status).toHaveText("Live")
  await duet.restart(async () => {
    await expect(status).toHaveText(/Reconnecting/)
  })
  await expect(status).toHaveText("Live", { timeout: 40_000 })
})
})
