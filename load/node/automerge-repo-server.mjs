// The reference automerge-repo sync server, as automerge-repo-sync-server builds it: a Repo with
// NodeWSServerAdapter on a websocket server and NodeFSStorageAdapter on a folder, sharing nothing
// unasked. Usage: node automerge-repo-server.mjs PORT DATA_DIR — prints its address on the first line.
import http from "node:http";
import os from "node:os";
import { WebSocketServer } from "ws";
import { Repo } from "@automerge/automerge-repo";
import { NodeWSServerAdapter } from "@automerge/automerge-repo-network-websocket";
import { NodeFSStorageAdapter } from "@automerge/automerge-repo-storage-nodefs";

const [port = "0", dir = ".amrg-data"] = process.argv.slice(2);
const sockets = new WebSocketServer({ noServer: true });
const server = http.createServer((_req, res) => {
  res.end("automerge-repo sync server\n");
});
new Repo({
  network: [new NodeWSServerAdapter(sockets)],
  storage: new NodeFSStorageAdapter(dir),
  peerId: `storage-server-${os.hostname()}`,
  sharePolicy: async () => false,
});
server.on("upgrade", (request, socket, head) => {
  sockets.handleUpgrade(request, socket, head, (ws) => sockets.emit("connection", ws, request));
});
// The repo attaches its adapter to the websocket server asynchronously (after its storage is
// open); accept connections only once it listens, or the first peers' sockets go unhandled.
while (sockets.listenerCount("connection") === 0) {
  await new Promise((r) => setTimeout(r, 5));
}
server.listen(Number(port), "127.0.0.1", () => {
  console.log(`automerge-repo sync server on http://127.0.0.1:${server.address().port}`);
});
