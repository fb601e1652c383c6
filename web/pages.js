// qvl web page: a PDF (or multi-page TIFF) among the question's images. Browsers draw no PDF
// in an <img>, so the server renders small thumbnails of its pages (POST /api/v1/pages: raw
// RGB, drawn here on canvases) and the user picks the pages the question reads: a click picks
// one page, a shift-click the pages from the last one picked to it, "All" every page. The
// choice goes with the question as the simple API's "pages" ("3", "2-5", or none for all).
"use strict";

// {pages, thumbnails} for a document's data URL, or null for an ordinary image.
async function fetchPages(url, apiKey) {
  const headers = { "Content-Type": "application/json" };
  if (apiKey) headers.Authorization = "Bearer " + apiKey;
  const resp = await fetch("/api/v1/pages", { method: "POST", headers, body: JSON.stringify({ image: url }) });
  if (!resp.ok) throw new Error((await resp.json().catch(() => ({}))).error?.message || `HTTP ${resp.status}`);
  const doc = await resp.json();
  return doc.thumbnails.length ? doc : null;
}

// A document's starting choice: every page, or the first `max` when it has more (the model
// reads at most `max` images a question; OCR reads any number, so "All" stays possible).
function initialPages(doc, max) {
  return { first: 1, last: Math.min(doc.pages, max), anchor: 1 };
}

// The "pages" field for a choice: none when it is the whole document.
function pagesField(doc, choice) {
  if (choice.first === 1 && choice.last === doc.pages) return null;
  return choice.first === choice.last ? String(choice.first) : `${choice.first}-${choice.last}`;
}

function thumbCanvas(th) {
  const canvas = document.createElement("canvas");
  canvas.width = th.width;
  canvas.height = th.height;
  const rgb = Uint8Array.from(atob(th.rgb), (c) => c.charCodeAt(0));
  const data = new ImageData(th.width, th.height);
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    data.data[j] = rgb[i];
    data.data[j + 1] = rgb[i + 1];
    data.data[j + 2] = rgb[i + 2];
    data.data[j + 3] = 255;
  }
  canvas.getContext("2d").putImageData(data, 0, 0);
  return canvas;
}

// Fills container with the document's page strip; onChange(choice) after every pick.
// labels: {page(n), all, chosen(first, last, n)}.
function showPageStrip(container, label, doc, choice, labels, onChange) {
  const items = doc.thumbnails.map((th) => {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "page-thumb" + (th.page >= choice.first && th.page <= choice.last ? " chosen" : "");
    b.dataset.page = th.page;
    b.title = labels.page(th.page);
    b.setAttribute("aria-label", b.title);
    b.setAttribute("aria-pressed", String(th.page >= choice.first && th.page <= choice.last));
    b.append(thumbCanvas(th), Object.assign(document.createElement("span"), { textContent: th.page }));
    b.addEventListener("click", (e) => {
      const p = th.page;
      const next = e.shiftKey ? { first: Math.min(choice.anchor, p), last: Math.max(choice.anchor, p), anchor: choice.anchor }
                              : { first: p, last: p, anchor: p };
      onChange(next);
    });
    return b;
  });
  const all = document.createElement("button");
  all.type = "button";
  all.className = "small page-all";
  all.textContent = labels.all;
  all.addEventListener("click", () => onChange({ first: 1, last: doc.pages, anchor: 1 }));
  container.replaceChildren(...items, all);
  label.textContent = labels.chosen(choice.first, choice.last, doc.pages) +
    (doc.pages > doc.thumbnails.length ? ` · ${labels.shown(doc.thumbnails.length)}` : "");
}
