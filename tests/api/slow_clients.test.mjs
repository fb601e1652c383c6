// Slow clients against a running `qvl serve` (QVL_URL, started by
// tests/cli/test_server.sh with --header-timeout 3): 80 connections that
// send a request's headers a few bytes at a time must not keep a normal
// request waiting, and lose their connections once the header deadline
// passes (the idle timeout alone never fires while bytes keep coming).
import { test } from "node:test";
import assert from "node:assert/strict";
import net from "node:net";

const URL = process.env.QVL_URL;
const { hostname, port } = new globalThis.URL(URL);
const HEADER_TIMEOUT_S = 3;

// A connection that sends the start of a request and then one byte every
// 500 ms; resolves with the ms from opening to the server closing it.
function trickle() {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const sock = net.connect(Number(port), hostname);
    let timer = null;
    const done = () => { clearInterval(timer); resolve(Date.now() - t0); };
    sock.on("connect", () => {
      sock.write("POST /api/v1/chat HTTP/1.1\r\nHost: x\r\n");
      timer = setInterval(() => { if (!sock.destroyed) sock.write("X"); }, 500);
    });
    sock.on("error", () => {});
    sock.on("close", done);
    sock.setTimeout(30000, () => sock.destroy());
  });
}

test("80 clients trickling headers do not hold up a normal request and are cut at the deadline", async () => {
  const slow = Array.from({ length: 80 }, () => trickle());
  await new Promise((r) => setTimeout(r, 1000));
  const t0 = Date.now();
  const r = await fetch(URL + "/api/v1/chat", { method: "POST", headers: { "Content-Type": "application/json" },
                                                body: JSON.stringify({ question: "Hi", max_tokens: 2 }) });
  assert.equal(r.status, 200);
  await r.json();
  const normal = Date.now() - t0;
  assert.ok(normal < 3000, `a normal request took ${normal} ms with 80 slow clients connected`);
  const held = await Promise.all(slow);
  const worst = Math.max(...held);
  // the deadline, plus the watchdog's quarter second and scheduling slack
  assert.ok(worst < HEADER_TIMEOUT_S * 1000 + 2000, `a trickling client kept its connection ${worst} ms`);
  assert.ok(Math.min(...held) >= HEADER_TIMEOUT_S * 1000 - 100, "a connection was cut before its deadline");
  const metrics = await (await fetch(URL + "/metrics")).text();
  const cut = Number(/^qvl_connections_cut_total (\d+)/m.exec(metrics)[1]);
  assert.ok(cut >= 80, `qvl_connections_cut_total ${cut}`);
  console.log(`# normal request ${normal} ms; slow connections cut after ${Math.min(...held)}-${worst} ms`);
});
