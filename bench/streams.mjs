// streams.mjs - aggregate decode speed of N concurrent requests against a
// running `qvl serve` (QVL_URL), for bench/run.sh. Sends N chat requests at
// the same moment (each a different story prompt and seed, sampled at
// temperature 0.8 so no stream stops early on a repeated loop), waits for all
// and prints "key value" lines: the generated tokens of all streams, the
// wall time from sending the first to receiving the last, and their ratio.
// Fails (exit 1) when a request fails or produces nothing.
//   QVL_URL=http://127.0.0.1:8080 node bench/streams.mjs N MAX_TOKENS
const url = process.env.QVL_URL;
const n = Number(process.argv[2] || 5);
const maxTokens = Number(process.argv[3] || 64);
const topics = ["the sea", "a mountain village", "a lost key", "the first snow", "a robot gardener",
                "a night train", "an old library", "a summer storm"];

async function one(i) {
  const resp = await fetch(url + "/v1/chat/completions", {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({
      messages: [{ role: "user", content: `Write a long story about ${topics[i % topics.length]}.` }],
      max_tokens: maxTokens, temperature: 0.8, seed: 1000 + i, mode: "vlm",
    }),
  });
  const body = await resp.json();
  if (!resp.ok) throw new Error(`stream ${i}: HTTP ${resp.status}: ${JSON.stringify(body)}`);
  return body.usage.completion_tokens;
}

try {
  const t0 = performance.now();
  const counts = await Promise.all(Array.from({ length: n }, (_, i) => one(i)));
  const wall = (performance.now() - t0) / 1e3;
  const tokens = counts.reduce((a, b) => a + b, 0);
  if (tokens === 0) throw new Error("no tokens generated");
  console.log(`streams ${n}\ntokens ${tokens}\nwall_s ${wall.toFixed(3)}\ntok_s ${(tokens / wall).toFixed(3)}`);
} catch (e) {
  console.error(`streams.mjs: ${e.message}`);
  process.exit(1);
}
