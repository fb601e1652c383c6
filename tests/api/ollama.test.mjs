// The official `ollama` npm client, unchanged, against a running `qvl serve`
// (QVL_URL, started by tests/cli/test_server.sh with --parallel 2 on the tiny
// test model): chat with images (streamed and not), generate, list, show, ps,
// version, the options, format ("json" and JSON Schemas, answers validated
// with ajv) and tools (rendered as in the OpenAI API; the parser of the
// answer's calls is tests/unit/test_tool_calls.c, since the synthetic model
// writes no calls), and malformed requests getting Ollama's error shape.
// Expectations do not depend on the server's code: greedy decoding is
// deterministic, so a streamed answer must equal the non-streamed one.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { Ollama } from "ollama";
import Ajv from "ajv";

const URL = process.env.QVL_URL;
const TD = process.env.QVL_TESTDATA || "../shared/testdata";
const ollama = new Ollama({ host: URL });
const pngBytes = new Uint8Array(readFileSync(`${TD}/images/img_256x256.png`));
const greedy = { temperature: 0, num_predict: 10 };
let modelName = null;
const ajv = new Ajv({ allErrors: true, strict: false });

async function model() {
  if (!modelName) modelName = (await ollama.list()).models[0].name;
  return modelName;
}

// The final object's counts and durations: integers in nanoseconds that add up.
function checkFinal(r, maxTokens) {
  assert.equal(r.done, true);
  assert.ok(["stop", "length"].includes(r.done_reason), r.done_reason);
  for (const k of ["total_duration", "load_duration", "prompt_eval_count", "prompt_eval_duration", "eval_count",
                   "eval_duration"])
    assert.ok(Number.isInteger(r[k]) && r[k] >= 0, `${k} = ${r[k]}`);
  assert.ok(r.prompt_eval_count > 0 && r.eval_count >= 1 && r.eval_count <= maxTokens, JSON.stringify(r));
  assert.ok(r.total_duration >= r.prompt_eval_duration + r.eval_duration, JSON.stringify(r));
  // Nanoseconds, not milliseconds: a prompt takes more than 10 microseconds.
  assert.ok(r.prompt_eval_duration > 10000, `prompt_eval_duration ${r.prompt_eval_duration}`);
}

async function collect(stream) {
  let text = "", parts = 0, last = null;
  for await (const part of stream) {
    if (!part.done) {
      assert.equal(part.message ? part.message.role : "assistant", "assistant");
      text += part.message ? part.message.content : part.response;
      parts++;
    }
    last = part;
  }
  return { text, parts, last };
}

test("version, list, ps and show describe the one model", async () => {
  const v = await ollama.version();
  assert.match(v.version, /^\d+\.\d+\.\d+$/);
  const list = await ollama.list();
  assert.equal(list.models.length, 1);
  const m = list.models[0];
  assert.match(m.name, /:latest$/);
  assert.match(m.digest, /^[0-9a-f]{64}$/);
  assert.ok(m.size > 1e6, `size ${m.size}`);
  assert.ok(!Number.isNaN(Date.parse(m.modified_at)));
  assert.equal(m.details.family, "qwen3vl");
  assert.match(m.details.parameter_size, /^\d+(\.\d)?[MB]$/);
  const ps = await ollama.ps();
  assert.equal(ps.models[0].name, m.name);
  assert.ok(Date.parse(ps.models[0].expires_at) > Date.now());
  // With and without the tag, any case.
  for (const name of [m.name, m.name.replace(/:latest$/, ""), m.name.toUpperCase()]) {
    const show = await ollama.show({ model: name });
    assert.deepEqual(show.capabilities, ["completion", "vision", "tools"]);
    assert.equal(show.model_info["general.architecture"], "qwen3vl");
    assert.ok(show.model_info["general.parameter_count"] > 1e6);
    assert.match(show.parameters, /num_ctx \d+/);
    assert.equal(show.details.family, "qwen3vl");
  }
  // /v1/models lists the same capabilities.
  const models = await (await fetch(URL + "/v1/models")).json();
  assert.deepEqual(models.data[0].capabilities, ["completion", "vision", "tools"]);
});

test("chat with an image, not streamed and streamed, gives the same greedy answer", async () => {
  const messages = () => [{ role: "user", content: "What is in this picture?", images: [pngBytes] }];
  const whole = await ollama.chat({ model: await model(), messages: messages(), stream: false, options: greedy });
  assert.equal(whole.message.role, "assistant");
  assert.equal(typeof whole.message.content, "string");
  checkFinal(whole, greedy.num_predict);
  const plain = await ollama.chat({ model: await model(), messages: [{ role: "user", content: "What is in this picture?" }],
                                    stream: false, options: greedy });
  // The image became tokens of the prompt (the tiny model: ~64 for 256x256).
  assert.ok(whole.prompt_eval_count > plain.prompt_eval_count + 32,
            `${whole.prompt_eval_count} vs ${plain.prompt_eval_count} without the image`);
  const s = await collect(await ollama.chat({ model: await model(), messages: messages(), stream: true,
                                               options: greedy }));
  assert.equal(s.text, whole.message.content);
  assert.ok(s.parts >= 1);
  checkFinal(s.last, greedy.num_predict);
  assert.equal(s.last.message.content, "");
  assert.equal(s.last.eval_count, whole.eval_count);
});

test("chat: multi-turn history and a system message reach the prompt", async () => {
  const one = await ollama.chat({ model: await model(), stream: false, options: greedy,
                                  messages: [{ role: "user", content: "Hello" }] });
  const three = await ollama.chat({ model: await model(), stream: false, options: greedy, messages: [
    { role: "system", content: "You are terse." },
    { role: "user", content: "Hello" },
    { role: "assistant", content: one.message.content },
    { role: "user", content: "And again?" },
  ] });
  checkFinal(three, greedy.num_predict);
  assert.ok(three.prompt_eval_count > one.prompt_eval_count + 8,
            `${three.prompt_eval_count} vs ${one.prompt_eval_count}`);
});

test("generate: prompt, system and images, streamed and not", async () => {
  const req = { model: await model(), prompt: "Describe it.", system: "Be brief.", images: [pngBytes], options: greedy };
  const whole = await ollama.generate({ ...req, stream: false });
  assert.equal(typeof whole.response, "string");
  checkFinal(whole, greedy.num_predict);
  const s = await collect(await ollama.generate({ ...req, images: [pngBytes], stream: true }));
  assert.equal(s.text, whole.response);
  assert.equal(s.last.response, "");
  checkFinal(s.last, greedy.num_predict);
  // An empty prompt is the "load the model" request.
  const load = await ollama.generate({ model: await model(), prompt: "", stream: false });
  assert.equal(load.done, true);
  assert.equal(load.done_reason, "load");
});

test("options: num_predict, seed, stop, top_k, top_p, num_ctx; keep_alive accepted", async () => {
  const base = { model: await model(), prompt: "Count", stream: false, keep_alive: "5m" };
  const three = await ollama.generate({ ...base, options: { num_predict: 3, ignore_eos: true, num_ctx: 2048 } });
  assert.equal(three.eval_count, 3);
  assert.equal(three.done_reason, "length");
  // The same seed at temperature 1 gives the same sample.
  const sampled = { temperature: 1, top_k: 50, top_p: 0.95, seed: 42, num_predict: 12 };
  const a = await ollama.generate({ ...base, options: sampled });
  const b = await ollama.generate({ ...base, options: sampled });
  assert.equal(a.response, b.response);
  // A stop string from the greedy text cuts it there.
  const g = await ollama.generate({ ...base, options: { temperature: 0, num_predict: 12, ignore_eos: true } });
  const cut = [...g.response].slice(2, 4).join("");
  if (cut.trim()) {
    const stopped = await ollama.generate({ ...base, options: { temperature: 0, num_predict: 12, ignore_eos: true,
                                                                stop: [cut] } });
    assert.equal(stopped.response, g.response.slice(0, g.response.indexOf(cut)));
  }
  await assert.rejects(ollama.generate({ ...base, options: { temperature: "hot" } }),
                       (e) => e.status_code === 400 && /options: 'temperature'/.test(e.error));
  await assert.rejects(ollama.generate({ ...base, options: { num_predict: 0 } }),
                       (e) => e.status_code === 400 && /num_predict/.test(e.error));
});

// format and tools (issue 18): the same grammar engine and tool section as the
// OpenAI API. The synthetic model samples gibberish, so every answer that
// must be JSON is checked by an independent validator (ajv).
const TAG = {
  type: "object",
  properties: { brand: { type: "string", maxLength: 12 }, size: { enum: ["S", "M", "L", "XL"] },
                cotton: { type: "integer", minimum: 0, maximum: 100 },
                care: { type: "array", items: { type: "string", maxLength: 8 }, maxItems: 2 },
                名称: { type: "string", maxLength: 6 } },
  required: ["brand", "size", "cotton", "名称"], additionalProperties: false,
};
const WEATHER = { type: "function", function: { name: "get_weather", description: "Current weather in a city",
  parameters: { type: "object", properties: { city: { type: "string" } }, required: ["city"] } } };
const ask = (content) => [{ role: "user", content }];
const textOf = (r) => (r.message ? r.message.content : r.response);

test("format with a JSON Schema: 24 answers sampled at temperature 1, chat and generate, all validate", async () => {
  const validate = ajv.compile(TAG);
  const bad = [];
  for (let seed = 1; seed <= 24; seed++) {
    const options = { temperature: 1, seed, num_predict: 400 };
    const r = seed % 2 ? await ollama.chat({ model: await model(), format: TAG, options, messages: ask("Read the tag.") })
                       : await ollama.generate({ model: await model(), format: TAG, options, prompt: "Read the tag." });
    let v;
    try { v = JSON.parse(textOf(r)); } catch { bad.push(`does not parse: ${textOf(r)}`); continue; }
    if (r.done_reason !== "stop") bad.push(`done_reason ${r.done_reason}: ${textOf(r)}`);
    else if (!validate(v)) bad.push(`${ajv.errorsText(validate.errors)}: ${textOf(r)}`);
  }
  assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of 24 answers failed`);
});

test("format streamed (NDJSON) with an image is the same JSON in pieces; num_predict inside it is 'length'", async () => {
  const args = { model: await model(), format: TAG, options: { temperature: 1, seed: 9, num_predict: 400 },
                 messages: [{ role: "user", content: "Read the tag.", images: [pngBytes] }] };
  const whole = await ollama.chat(args);
  const s = await collect(await ollama.chat({ ...args, stream: true }));
  assert.equal(s.text, whole.message.content);
  assert.ok(s.parts > 1, `${s.parts} parts`);
  assert.equal(s.last.done_reason, "stop");
  assert.ok(ajv.validate(TAG, JSON.parse(s.text)), s.text);
  const g = await collect(await ollama.generate({ model: await model(), format: TAG, prompt: "tag", stream: true,
                                                   options: { temperature: 1, seed: 4, num_predict: 400 } }));
  assert.ok(ajv.validate(TAG, JSON.parse(g.text)), g.text);
  for (const stream of [false, true]) {
    const short = { model: await model(), format: TAG, stream, options: { temperature: 1, seed: 3, num_predict: 4 },
                    messages: ask("tag") };
    const r = stream ? (await collect(await ollama.chat(short))).last : await ollama.chat(short);
    assert.equal(r.done_reason, "length");
    assert.ok(r.eval_count <= 4, `eval_count ${r.eval_count}`);
  }
});

test("format 'json' gives a JSON object; a bad format or a refused keyword is a 400 naming it", async () => {
  let objects = 0;
  for (let seed = 1; seed <= 6; seed++) {
    const r = await ollama.chat({ model: await model(), format: "json", messages: ask("json"),
                                  options: { temperature: 1, seed, num_predict: 300 } });
    if (r.done_reason === "length") continue;   /* the object was still open at num_predict */
    const v = JSON.parse(r.message.content);
    assert.ok(v && typeof v === "object" && !Array.isArray(v), r.message.content);
    objects++;
  }
  assert.ok(objects > 0, "no answer closed its object within 300 tokens");
  for (const format of [7, "xml", ["json"]])
    await assert.rejects(ollama.chat({ model: await model(), format, messages: ask("q") }),
                         (e) => e.status_code === 400 && /'format' must be "json" or a JSON Schema/.test(e.error));
  await assert.rejects(ollama.generate({ model: await model(), prompt: "q",
                                         format: { type: "string", pattern: "^[A-Z]+$" } }),
                       (e) => e.status_code === 400 && /format.*pattern/.test(e.error));
});

// What the chat template rendered, seen through the OpenAI API's count of
// the same conversation: equal counts mean the same tool section.
async function openaiPromptTokens(body) {
  const r = await fetch(URL + "/v1/chat/completions", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: "any", max_tokens: 1, ...body }) });
  assert.equal(r.status, 200);
  return (await r.json()).usage.prompt_tokens;
}

test("tools are rendered in the chat template's tool section as in the OpenAI API, and tool turns too", async () => {
  const plain = await ollama.chat({ model: await model(), messages: ask("Weather in Paris?"), options: greedy });
  const withTools = await ollama.chat({ model: await model(), messages: ask("Weather in Paris?"), tools: [WEATHER],
                                        options: greedy });
  assert.ok(withTools.prompt_eval_count > plain.prompt_eval_count + 50,
            `${withTools.prompt_eval_count} vs ${plain.prompt_eval_count}`);
  assert.equal(withTools.prompt_eval_count, await openaiPromptTokens({ messages: ask("Weather in Paris?"),
                                                                       tools: [WEATHER] }));
  // The gibberish holds no call: then it is all content (and a call, if any, has Ollama's shape).
  for (const c of withTools.message.tool_calls || []) assert.equal(typeof c.function.arguments, "object");
  assert.equal(typeof withTools.message.content, "string");
  // Streamed with tools: held back until whole, then the same answer, then the final line.
  const s = await collect(await ollama.chat({ model: await model(), messages: ask("Weather in Paris?"),
                                              tools: [WEATHER], options: greedy, stream: true }));
  assert.equal(s.text, withTools.message.content);
  assert.ok(s.parts <= 1, `${s.parts} parts`);
  checkFinal(s.last, greedy.num_predict);
  // A later turn: the assistant's call (arguments as an object) and the tool's result.
  const turn = [...ask("Weather in Paris?"),
                { role: "assistant", content: "", tool_calls: [{ function: { name: "get_weather",
                                                                              arguments: { city: "Paris" } } }] },
                { role: "tool", content: "{\"temp\": 21}", tool_name: "get_weather" }];
  const after = await ollama.chat({ model: await model(), messages: turn, tools: [WEATHER], options: greedy });
  checkFinal(after, greedy.num_predict);
  const oaTurn = [turn[0], { role: "assistant", content: "", tool_calls: [{ id: "call_1", type: "function",
                  function: { name: "get_weather", arguments: "{\"city\": \"Paris\"}" } }] },
                  { role: "tool", tool_call_id: "call_1", content: "{\"temp\": 21}" }];
  assert.equal(after.prompt_eval_count, await openaiPromptTokens({ messages: oaTurn, tools: [WEATHER] }));
  assert.ok(after.prompt_eval_count > withTools.prompt_eval_count);
});

test("bad tools are a 400; tools on /api/generate are refused", async () => {
  for (const tools of [[{ type: "function" }], [{ type: "function", function: { name: "f", parameters: 3 } }]])
    await assert.rejects(ollama.chat({ model: await model(), tools, messages: ask("q") }),
                         (e) => e.status_code === 400 && /tools\[0\]/.test(e.error));
  const r = await fetch(URL + "/api/generate", { method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ model: await model(), prompt: "q", tools: [WEATHER], stream: false }) });
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /'tools' are for \/api\/chat/);
});

test("errors come in Ollama's shape: unknown model 404, bad base64 400, broken JSON 400, other routes 404", async () => {
  await assert.rejects(ollama.chat({ model: "llama3.2", messages: [{ role: "user", content: "hi" }] }),
                       (e) => e.status_code === 404 && /model 'llama3.2' not found/.test(e.error));
  await assert.rejects(ollama.show({ model: "nope:7b" }), (e) => e.status_code === 404 && /not found/.test(e.error));
  await assert.rejects(ollama.chat({ model: await model(), messages: [{ role: "user", content: "q",
                                                                         images: ["not*base64"] }] }),
                       (e) => e.status_code === 400 && /image 1: invalid base64/.test(e.error));
  await assert.rejects(ollama.generate({ model: await model(), prompt: "q", images: [Buffer.from("GIF89a no")] }),
                       (e) => [400, 415].includes(e.status_code) && typeof e.error === "string");
  await assert.rejects(ollama.chat({ model: await model(), think: true, messages: [] }),
                       (e) => e.status_code === 400 && /thinking/.test(e.error));
  await assert.rejects(ollama.pull({ model: "llama3.2" }),
                       (e) => e.status_code === 404 && /not part of qvl's Ollama API/.test(e.error));
  for (const body of ["{\"model\": ", "[1, 2]", ""]) {
    const r = await fetch(URL + "/api/chat", { method: "POST", headers: { "Content-Type": "application/json" }, body });
    assert.equal(r.status, 400);
    const j = await r.json();
    assert.equal(typeof j.error, "string", JSON.stringify(j));
  }
  const r = await fetch(URL + "/api/chat", { method: "POST", headers: { "Content-Type": "application/json" },
                                             body: JSON.stringify({ messages: [] }) });
  assert.equal(r.status, 400);
  assert.deepEqual(await r.json(), { error: "model is required" });
});

test("a client that stops reading a streamed chat cancels the answer", async () => {
  const req = { model: await model(), messages: [{ role: "user", content: "Go on" }],
                options: { temperature: 0, num_predict: 2000, ignore_eos: true } };
  // How long the whole answer takes here, to compare with.
  const whole = await ollama.chat({ ...req, stream: false });
  const fullMs = whole.eval_duration / 1e6;
  const busy = async () => (await (await fetch(URL + "/health")).json()).slots.busy;
  const client = new Ollama({ host: URL });
  const stream = await client.chat({ ...req, stream: true });
  for await (const part of stream) {
    assert.equal(part.done, false);
    break;   // leaving the loop aborts the request
  }
  client.abort();
  const t0 = performance.now();
  while ((await busy()) > 0 && performance.now() - t0 < fullMs) await new Promise((res) => setTimeout(res, 20));
  const freedMs = performance.now() - t0;
  assert.ok(freedMs < fullMs / 2, `the slot was free ${freedMs.toFixed(0)} ms after the client left; the whole ` +
            `answer takes ${fullMs.toFixed(0)} ms`);
});
