// qvl web page: "fields" mode. The user types the field names (a clothing
// tag's "brand, item number, composition"); the page asks the simple API for
// a JSON object with exactly those keys and shows the answer as a table.
// The model is asked, not forced: an answer that is not such an object
// shows the fields as missing and the raw answer below. (When the server
// has JSON-Schema answers, the request can carry a schema instead.)
"use strict";

// "brand, item number\ncomposition" -> ["brand", "item number", "composition"], no duplicates.
function parseFieldNames(text) {
  const names = [];
  for (const part of text.split(/[,\n，、;；]/)) {
    const name = part.trim();
    if (name && !names.includes(name)) names.push(name);
  }
  return names;
}

function fieldsQuestion(names) {
  return "Extract these fields from the image and answer only with a JSON object whose keys are exactly " +
    names.map((n) => JSON.stringify(n)).join(", ") +
    ". Copy each value as written in the image; use null for a field that is not there.";
}

// The first JSON object in the answer (bare or in a ```json fence), or null.
function answerObject(raw) {
  const fenced = /```(?:json)?\s*\n([\s\S]*?)```/.exec(raw);
  const candidates = fenced ? [fenced[1], raw] : [raw];
  // A few starts and ends each: a long answer full of braces stays cheap.
  for (const text of candidates) {
    let starts = 0;
    for (let start = text.indexOf("{"); start >= 0 && starts++ < 8; start = text.indexOf("{", start + 1)) {
      let stops = 0;
      for (let stop = text.lastIndexOf("}"); stop > start && stops++ < 8; stop = text.lastIndexOf("}", stop - 1)) {
        try {
          const v = JSON.parse(text.slice(start, stop + 1));
          if (v && typeof v === "object" && !Array.isArray(v)) return v;
        } catch (e) { /* not this span */ }
      }
    }
  }
  return null;
}

function cellText(v) {
  if (v === null || v === undefined) return "—";
  return typeof v === "object" ? JSON.stringify(v) : String(v);
}

// Replaces the message body with a field | value table (text only).
function renderFieldsTable(body, names, raw, text) {
  const obj = answerObject(raw);
  const table = document.createElement("table");
  table.className = "fields-table";
  const head = table.createTHead().insertRow();
  for (const h of [text.field, text.value]) {
    const th = document.createElement("th");
    th.textContent = h;
    head.appendChild(th);
  }
  const rows = table.createTBody();
  for (const name of names) {
    const row = rows.insertRow();
    row.insertCell().textContent = name;
    const cell = row.insertCell();
    cell.textContent = cellText(obj ? obj[name] : null);
    if (!obj || obj[name] === null || obj[name] === undefined) cell.className = "missing";
  }
  body.replaceChildren(table);
  if (!obj) {
    const note = document.createElement("p");
    note.className = "muted";
    note.textContent = text.notJson;
    const pre = document.createElement("pre");
    pre.textContent = raw;
    body.append(note, pre);
  }
}
