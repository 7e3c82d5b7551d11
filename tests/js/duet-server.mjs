// Starts a real `duet serve` child process (for the browser tests and the browser benchmark).
import { spawn } from "node:child_process"
import { join, resolve } from "node:path"
import { createInterface } from "node:readline"

export const root = resolve(import.meta.dirname, "../..")

/// Starts `duet serve` on `addr` (port 0: any free port) with its data in `data`; resolves
/// once it listens, with its URL and a `stop()`.
export async function spawnDuet(addr, data) {
  const bin = process.env.DUET_BIN ?? join(root, "target/debug/duet")
  const child = spawn(
    bin,
    ["serve", "--addr", addr, "--data", data, "--frontend", join(root, "frontend/dist")],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: "warn" } },
  )
  const line = await new Promise((ok, fail) => {
    const lines = createInterface({ input: child.stdout })
    lines.once("line", ok)
    child.once("exit", code => fail(new Error(`duet exited with ${code} before listening`)))
  })
  const url = line.match(/http:\/\/\S+/)?.[0]
  if (!url) throw new Error(`duet printed no address: ${line}`)
  const stop = async () => {
    if (child.exitCode !== null) return
    child.kill("SIGTERM")
    await new Promise(ok => child.once("exit", ok))
  }
  return { url, stop, pid: child.pid }
}
