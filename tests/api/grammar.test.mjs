// JSON-Schema answers and tool calls (issue 18), through the official
// `openai` npm client and the simple API, validated by an independent
// validator (ajv + ajv-formats): whatever the weights - the synthetic model
// samples at temperature 1.0, so its answers wander everywhere the grammar
// lets them - every answer must parse and validate.
// QVL_GRAMMAR_SAMPLES (default 100) answers per schema.
import { test } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const URL = process.env.QVL_URL;
const SAMPLES = Number(process.env.QVL_GRAMMAR_SAMPLES || 100);
const client = new OpenAI({ baseURL: URL + "/v1", apiKey: "unused", maxRetries: 0 });
const ajv = new Ajv({ allErrors: true, strict: false });
addFormats(ajv);
const user = (content) => [{ role: "user", content }];

const str = (maxLength, extra = {}) => ({ type: "string", maxLength, ...extra });
const obj = (properties, required = Object.keys(properties), extra = {}) =>
  ({ type: "object", properties, required, additionalProperties: false, ...extra });

// Ten schemas of the kinds users send: extraction forms, nested objects,
// arrays of objects, enums, bounded numbers, Chinese keys and values,
// dates, nullable fields, recursion.
const SCHEMAS = {
  clothing_tag: obj({
    brand: str(16), item_number: str(12),
    composition: { type: "array", items: obj({ fiber: str(10), percent: { type: "integer", minimum: 0, maximum: 100 } }),
                   minItems: 1, maxItems: 3 },
    washing: { type: "array", items: { enum: ["30C", "40C", "no bleach", "tumble dry low", "iron low"] }, maxItems: 4 },
  }),
  receipt: obj({
    store: str(20), date: { type: "string", format: "date" },
    items: { type: "array", items: obj({ name: str(12), qty: { type: "integer", minimum: 1, maximum: 20 },
                                         price: { type: "number", minimum: 0, maximum: 500 } }), maxItems: 4 },
    total: { type: "number", exclusiveMinimum: 0, maximum: 10000 },
  }),
  invoice_nested: obj({
    seller: obj({ name: str(16), tax_id: str(10), address: obj({ city: str(10), zip: str(6) }, ["city"]) }),
    buyer: obj({ name: str(16) }),
    issued: { type: "string", format: "date-time" },
  }),
  enums_only: obj({
    color: { enum: ["red", "green", "blue", "黑色", "白色"] }, size: { enum: ["XS", "S", "M", "L", "XL", 42, null] },
    season: { const: "spring" }, ok: { type: "boolean" },
  }),
  bounded_numbers: obj({
    a: { type: "integer", minimum: -50, maximum: -10 }, b: { type: "number", minimum: 0.25, maximum: 0.75 },
    c: { type: "integer", exclusiveMinimum: 7, exclusiveMaximum: 12 }, d: { type: "number", minimum: 1000, maximum: 1001 },
  }),
  chinese: obj({
    "品牌": str(8, { minLength: 1 }), "货号": str(10), "成分": { type: "array", items: str(6), maxItems: 3 },
    "洗涤说明": { enum: ["手洗", "机洗", "不可漂白"] },
  }),
  optional_fields: obj({ id: { type: "integer", minimum: 0, maximum: 999 }, note: str(10), tags: { type: "array",
    items: str(5), maxItems: 2 } }, ["id"]),
  nullable_any_of: obj({
    phone: { anyOf: [str(12), { type: "null" }] }, count: { type: ["integer", "null"], minimum: 0, maximum: 5 },
    where: { anyOf: [obj({ lat: { type: "number", minimum: -90, maximum: 90 } }), str(8)] },
  }),
  recursive_tree: {
    $defs: { node: { type: "object", properties: { label: str(6), children: { type: "array",
      items: { $ref: "#/$defs/node" }, maxItems: 2 } }, required: ["label"], additionalProperties: false } },
    $ref: "#/$defs/node",
  },
  array_root: { type: "array", items: obj({ field: str(10), value: str(10) }), minItems: 2, maxItems: 4 },
};

// Runs fn over items with at most `width` in flight.
async function pool(items, width, fn) {
  const out = [];
  let next = 0;
  await Promise.all(Array.from({ length: width }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  }));
  return out;
}

for (const [name, schema] of Object.entries(SCHEMAS)) {
  test(`json_schema '${name}': ${SAMPLES} sampled answers all parse and validate`, async () => {
    const validate = ajv.compile(schema);
    const seeds = Array.from({ length: SAMPLES }, (_, i) => i + 1);
    const results = await pool(seeds, 4, async (seed) => {
      const r = await client.chat.completions.create({
        model: "any", temperature: 1.0, seed, max_tokens: 600, messages: user(`Fill in the ${name} form.`),
        response_format: { type: "json_schema", json_schema: { name, schema, strict: true } },
      });
      return r.choices[0];
    });
    const bad = [];
    for (const c of results) {
      let v;
      try { v = JSON.parse(c.message.content); } catch (e) { bad.push(`does not parse: ${c.message.content}`); continue; }
      if (c.finish_reason !== "stop") bad.push(`finish ${c.finish_reason}: ${c.message.content}`);
      else if (!validate(v)) bad.push(`${ajv.errorsText(validate.errors)}: ${c.message.content}`);
    }
    assert.deepEqual(bad.slice(0, 5), [], `${bad.length} of ${SAMPLES} answers failed`);
  });
}

test("the schema may also sit at the top of response_format; json_object gives an object", async () => {
  const schema = obj({ k: { enum: ["x", "y"] } });
  const r = await client.chat.completions.create({
    model: "any", temperature: 1, seed: 5, messages: user("k?"), response_format: { type: "json_schema", schema } });
  assert.ok(ajv.validate(schema, JSON.parse(r.choices[0].message.content)));
  for (let seed = 1; seed <= 5; seed++) {
    const j = await client.chat.completions.create({
      model: "any", temperature: 1, seed, max_tokens: 300, messages: user("json"), response_format: { type: "json_object" } });
    const c = j.choices[0];
    if (c.finish_reason === "length") assert.equal(c.json_incomplete, true);
    else assert.equal(typeof JSON.parse(c.message.content), "object");
  }
});

test("a streamed JSON answer is the same JSON, in pieces", async () => {
  const schema = SCHEMAS.receipt;
  const args = { model: "any", temperature: 1, seed: 77, max_tokens: 600, messages: user("receipt"),
                 response_format: { type: "json_schema", json_schema: { name: "r", schema } } };
  const whole = await client.chat.completions.create(args);
  let text = "", pieces = 0, finish = null;
  for await (const ch of await client.chat.completions.create({ ...args, stream: true })) {
    const d = ch.choices[0]?.delta?.content;
    if (d) text += d, pieces++;
    finish = ch.choices[0]?.finish_reason || finish;
  }
  assert.equal(text, whole.choices[0].message.content);
  assert.ok(pieces > 1);
  assert.equal(finish, "stop");
  assert.ok(ajv.validate(schema, JSON.parse(text)));
});

test("max_tokens inside the JSON: finish_reason length and json_incomplete", async () => {
  const r = await client.chat.completions.create({
    model: "any", temperature: 1, seed: 3, max_tokens: 4, messages: user("tag"),
    response_format: { type: "json_schema", json_schema: { name: "t", schema: SCHEMAS.clothing_tag } } });
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.choices[0].json_incomplete, true);
});

test("unsupported schema keywords are refused with 400 naming them", async () => {
  for (const [schema, word] of [[{ type: "string", pattern: "^a" }, "pattern"],
                                [{ oneOf: [{ type: "string" }] }, "oneOf"],
                                [{ type: "string", format: "email" }, "email"],
                                [obj({ a: { type: "integer", minimum: 3, maximum: 1 } }), "/properties/a"]]) {
    await assert.rejects(client.chat.completions.create({ model: "any", messages: user("x"),
      response_format: { type: "json_schema", json_schema: { name: "x", schema } } }),
    (e) => e.status === 400 && e.message.includes(word), word);
  }
  await assert.rejects(client.chat.completions.create({ model: "any", messages: user("x"),
    response_format: { type: "xml" } }), (e) => e.status === 400 && /response_format/.test(e.message));
});

const WEATHER = { type: "function", function: { name: "get_weather", description: "Current weather in a city",
  parameters: obj({ city: str(12, { minLength: 1 }), unit: { enum: ["celsius", "fahrenheit"] } }) } };
const TIME = { type: "function", function: { name: "get_time", parameters: obj({ zone: str(8) }) } };

test("forced tool calls: a named function and 'required' give valid calls", async () => {
  for (let seed = 1; seed <= 10; seed++) {
    const r = await client.chat.completions.create({ model: "any", temperature: 1, seed, messages: user("Paris?"),
      tools: [WEATHER, TIME], tool_choice: { type: "function", function: { name: "get_weather" } } });
    const c = r.choices[0];
    assert.equal(c.finish_reason, "tool_calls");
    assert.equal(c.message.tool_calls.length, 1);
    const call = c.message.tool_calls[0];
    assert.equal(call.type, "function");
    assert.match(call.id, /^call_/);
    assert.equal(call.function.name, "get_weather");
    assert.ok(ajv.validate(WEATHER.function.parameters, JSON.parse(call.function.arguments)), call.function.arguments);
  }
  const names = new Set();
  for (let seed = 1; seed <= 10; seed++) {
    const r = await client.chat.completions.create({ model: "any", temperature: 1, seed, messages: user("?"),
      tools: [WEATHER, TIME], tool_choice: "required" });
    const call = r.choices[0].message.tool_calls[0];
    const tool = [WEATHER, TIME].find((t) => t.function.name === call.function.name);
    assert.ok(tool, call.function.name);
    assert.ok(ajv.validate(tool.function.parameters, JSON.parse(call.function.arguments)));
    names.add(call.function.name);
  }
  assert.ok(names.size >= 1);
});

test("a streamed forced tool call arrives as tool_calls deltas", async () => {
  const stream = await client.chat.completions.create({ model: "any", temperature: 1, seed: 9, stream: true,
    messages: user("Paris?"), tools: [WEATHER], tool_choice: "required" });
  let args = "", name = "", finish = null;
  for await (const ch of stream) {
    for (const tc of ch.choices[0]?.delta?.tool_calls || []) {
      name += tc.function?.name || "";
      args += tc.function?.arguments || "";
    }
    finish = ch.choices[0]?.finish_reason || finish;
  }
  assert.equal(name, "get_weather");
  assert.equal(finish, "tool_calls");
  assert.ok(ajv.validate(WEATHER.function.parameters, JSON.parse(args)));
});

test("a tool's result in a later turn is rendered and answered; tool_choice none and auto", async () => {
  const first = await client.chat.completions.create({ model: "any", temperature: 1, seed: 2, messages: user("Paris?"),
    tools: [WEATHER], tool_choice: "required" });
  const msg = first.choices[0].message;
  const r = await client.chat.completions.create({ model: "any", temperature: 0, max_tokens: 8, tools: [WEATHER],
    messages: [...user("Paris?"), msg, { role: "tool", tool_call_id: msg.tool_calls[0].id, content: "{\"temp\": 21}" }] });
  assert.ok(["stop", "length", "tool_calls"].includes(r.choices[0].finish_reason));
  const none = await client.chat.completions.create({ model: "any", temperature: 0, max_tokens: 8, messages: user("hi"),
    tools: [WEATHER], tool_choice: "none" });
  assert.equal(typeof none.choices[0].message.content, "string");
  assert.equal(none.choices[0].message.tool_calls, undefined);
  const auto = await client.chat.completions.create({ model: "any", temperature: 0, max_tokens: 8, messages: user("hi"),
    tools: [WEATHER] });
  assert.ok(["stop", "length", "tool_calls"].includes(auto.choices[0].finish_reason));
  await assert.rejects(client.chat.completions.create({ model: "any", messages: user("x"), tool_choice: "required" }),
    (e) => e.status === 400 && /tools/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: "any", messages: user("x"), tools: [WEATHER],
    tool_choice: { type: "function", function: { name: "nope" } } }), (e) => e.status === 400 && /nope/.test(e.message));
  await assert.rejects(client.chat.completions.create({ model: "any", messages: user("x"),
    tools: [{ type: "function", function: { name: "t", parameters: { type: "string", pattern: "x" } } }],
    tool_choice: "required" }), (e) => e.status === 400 && /tools\[0\].*pattern/.test(e.message));
});

async function simple(body) {
  const res = await fetch(URL + "/api/v1/chat", { method: "POST", headers: { "Content-Type": "application/json" },
                                                  body: JSON.stringify(body) });
  return { status: res.status, body: await res.json() };
}

test("simple API: 'schema' makes the answer JSON that validates", async () => {
  const schema = SCHEMAS.clothing_tag;
  for (let seed = 1; seed <= 10; seed++) {
    const { status, body } = await simple({ question: "Read the tag", schema, temperature: 1, seed, max_tokens: 600 });
    assert.equal(status, 200);
    assert.deepEqual(JSON.parse(body.response), body.json);
    assert.ok(ajv.validate(schema, body.json), body.response);
  }
  const any = await simple({ question: "json please", schema: "json", temperature: 1, seed: 4, max_tokens: 300 });
  assert.equal(any.status, 200);
  if (any.body.finish_reason === "stop") assert.equal(typeof any.body.json, "object");
  else assert.equal(any.body.json_incomplete, true);
  const cut = await simple({ question: "x", schema, temperature: 1, seed: 1, max_tokens: 3 });
  assert.equal(cut.body.finish_reason, "length");
  assert.equal(cut.body.json_incomplete, true);
  assert.equal(cut.body.json, undefined);
  const bad = await simple({ question: "x", schema: { type: "string", pattern: "a" } });
  assert.equal(bad.status, 400);
  assert.match(bad.body.error.message, /schema.*pattern/);
  const forced = await simple({ question: "x", schema, mode: "ocr", image: "x" });
  assert.equal(forced.status, 400);
});
