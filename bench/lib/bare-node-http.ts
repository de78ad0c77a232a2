/**
 * The bench's bare-Node peer: `http.createServer` with no framework, run as its own process.
 * `GET /boot/assets/<file>`: `fs.promises.stat`, then `fs.createReadStream(file).pipe(res)` with
 * Content-Length (Node's defaults, the plain way to serve a file from Node); `GET /boot/menu.ipxe`:
 * a constant body (what a script endpoint costs with nothing rendered).
 *
 * Usage: node bare-node-http.js <assets-dir> <constant-body-file> [port] [address]; prints `listening <port>`
 * (port 0 and 127.0.0.1 unless given; bench/poweron.ts runs it on :8080 in a lab namespace).
 */
import { createReadStream, promises as fsp, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';

const [root, constantFile, port = '0', address = '127.0.0.1'] = process.argv.slice(2);
const constant = readFileSync(constantFile);

const server = http.createServer((req, res) => {
  const url = (req.url ?? '/').split('?')[0];
  if (url === '/boot/menu.ipxe') {
    res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': constant.length });
    res.end(constant);
    return;
  }
  if (!url.startsWith('/boot/assets/') || url.includes('..')) {
    res.writeHead(404).end();
    return;
  }
  const file = path.join(root, url.slice('/boot/assets/'.length));
  fsp.stat(file).then((st) => {
    res.writeHead(200, { 'Content-Type': 'application/octet-stream', 'Content-Length': st.size });
    if (req.method === 'HEAD') return void res.end();
    createReadStream(file).pipe(res);
  }, () => res.writeHead(404).end());
});
server.listen(Number(port), address, () => console.log(`listening ${(server.address() as { port: number }).port}`));
process.on('SIGTERM', () => process.exit(0));
