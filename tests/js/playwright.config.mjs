// Playwright settings for Duet's browser tests: Debian's headless Chromium, two workers, each spec file on its own server.
import { defineConfig } from "@playwright/test"

export default defineConfig({
  testDir: "./browser",
  timeout: 60_000,
  expect: { timeout: 15_000 },
  fullyParallel: false,
  workers: 2,
  reporter: [["list"]],
  use: {
    browserName: "chromium",
    launchOptions: {
      executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
      args: [
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
      ],
    },
    // A click or fill that cannot happen fails on its own instead of hanging the test.
    actionTimeout: 15_000,
    screenshot: "only-on-failure",
    trace: "off",
  },
  outputDir: "./test-results",
})
