// ttft.mjs - time from sending a short streamed question to the first text
// event, as a client sees it, against a running `qvl serve` (QVL_URL).
// Prints one JSON line (median and p90 over N runs, and the server's own
// share: its reported first_token_ms). For bench/run.sh; asserts nothing.
//   QVL_URL=http://127.0.0.1:8080 node bench/ttft.mjs [N]
const URL = process.env.QVL_URL;
const runs = Number(process.argv[2] || 20);

async function once() {
  const t0 = performance.now();
  const resp = await fetch(URL + "/api/v1/chat", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ question: "Hi", stream: true, max_tokens: 2, temperature: 0 }),
  });
  const reader = resp.body.getReader();
  const dec = new TextDecoder();
  let buf = "", first = -1, serverFirst = -1;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    if (first < 0 && buf.includes('data: {"text"')) first = performance.now() - t0;
    const m = /"first_token_ms":([0-9.]+)/.exec(buf);
    if (m) serverFirst = Number(m[1]);
  }
  return { first, serverFirst };
}

const pct = (xs, p) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))];
await once();   // warm up
const res = [];
for (let i = 0; i < runs; i++) res.push(await once());
const client = res.map((r) => r.first), server = res.map((r) => r.serverFirst);
console.log(JSON.stringify({
  bench: "server_ttft", runs,
  client_ttft_ms_median: +pct(client, 0.5).toFixed(2), client_ttft_ms_p90: +pct(client, 0.9).toFixed(2),
  server_first_token_ms_median: +pct(server, 0.5).toFixed(2),
  http_overhead_ms_median: +(pct(client, 0.5) - pct(server, 0.5)).toFixed(2),
}));
