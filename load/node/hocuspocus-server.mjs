// A Hocuspocus (Yjs) server storing each document in a file (written, fsynced, renamed) through the
// Database extension with Hocuspocus's default debounce. Usage: node hocuspocus-server.mjs PORT DATA_DIR
// — prints its address on the first line.
import { mkdirSync } from "node:fs";
import { open, readFile, rename } from "node:fs/promises";
import path from "node:path";
import { Server } from "@hocuspocus/server";
import { Database } from "@hocuspocus/extension-database";

const [port = "0", dir = ".hocuspocus-data"] = process.argv.slice(2);
mkdirSync(dir, { recursive: true });
const file = (name) => path.join(dir, `${encodeURIComponent(name)}.ydoc`);

const server = new Server({
  port: Number(port),
  address: "127.0.0.1",
  quiet: true,
  extensions: [
    new Database({
      fetch: async ({ documentName }) => {
        try {
          return new Uint8Array(await readFile(file(documentName)));
        } catch (e) {
          if (e.code === "ENOENT") return null;
          throw e;
        }
      },
      store: async ({ documentName, state }) => {
        const target = file(documentName);
        const tmp = `${target}.tmp`;
        const handle = await open(tmp, "w");
        try {
          await handle.writeFile(state);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await rename(tmp, target);
      },
    }),
  ],
});
await server.listen();
console.log(`hocuspocus server on http://127.0.0.1:${server.address.port}`);
