// check_timings.mjs - shared assertions on the "timings" object of a finished
// answer (both APIs; src/server/api_common.c documents the fields), for the
// *.test.mjs files. Not a test file itself.
import assert from "node:assert/strict";

// timings/usage of an answer of at least 2 tokens, and the wall-clock time the
// client measured around the whole request. predicted_ms is the decode after
// the first token (generate.h gen_ms), so predicted_per_second must be
// (predicted_n - 1) tokens over predicted_ms, up to the 0.01 rounding of both
// fields; and every part of the server's time happened inside the client's
// wall time, which bounds the rate from below independently of the server's
// clock.
export function checkDecodeTimings(t, usage, wallMs) {
  const n = t.predicted_n;
  assert.equal(n, usage.completion_tokens, "predicted_n is the completion token count");
  assert.ok(n >= 2, `need an answer of >= 2 tokens to time the decode, got ${n}`);
  assert.ok(t.predicted_ms > 0, `predicted_ms ${t.predicted_ms}`);
  assert.ok(t.predicted_per_second > 0, `predicted_per_second ${t.predicted_per_second}`);
  const want = ((n - 1) * 1000) / t.predicted_ms;
  // predicted_ms is rounded to 0.01 ms: relative error <= 0.005 / predicted_ms
  const tol = want * (0.006 / t.predicted_ms + 1e-6) + 0.01;
  assert.ok(Math.abs(t.predicted_per_second - want) <= tol,
            `predicted_per_second ${t.predicted_per_second} != ${n - 1} tokens / ${t.predicted_ms} ms = ${want.toFixed(2)}`);
  const serverMs = t.queue_ms + t.image_ms + t.prompt_ms + t.predicted_ms;
  assert.ok(serverMs <= wallMs + 1,
            `the server's times add up to ${serverMs.toFixed(2)} ms, more than the ${wallMs.toFixed(2)} ms the client waited`);
  assert.ok(t.predicted_per_second >= (((n - 1) * 1000) / wallMs) * 0.99,
            `${t.predicted_per_second} tok/s is slower than ${n - 1} tokens in the whole ${wallMs.toFixed(1)} ms request`);
}
