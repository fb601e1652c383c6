// qvl web page: pick one or several images, ask questions about them, watch
// the answers stream in. Talks to POST /api/v1/chat with stream: true
// (Server-Sent Events over fetch) and keeps the conversation_id so follow-up
// questions reuse the images without sending them again. With images it asks
// for the answer's boxes too (boxes.js draws them over the first image's
// preview, behind a toggle);
// in "fields" mode the question is a list of field names and the answer a
// table (fields.js).
//
// Safety: model output is never parsed as HTML. renderMarkdown builds DOM
// nodes with textContent for a small subset (code blocks, inline code, bold,
// lists, paragraphs).
"use strict";

const TEXT = {
  en: {
    dropHint: "Drop images here (one or several), paste them, or choose", pick: "Choose images",
    removeImage: "Remove", pasted: "pasted image", imageOf: (i, n) => `image ${i} of ${n}`,
    tooMany: (n) => `At most ${n} images per question: the rest were left out.`,
    detail: "Detail", detailLow: "low (fast)", detailDefault: "default", detailHigh: "high (slow)",
    detailMaximum: "maximum (very slow)", imageTokens: (n) => `~${n} image tokens`,
    placeholder: "Ask about the image… (Enter to send, Shift+Enter for a new line)",
    send: "Send", stop: "Stop", clear: "Clear", copy: "Copy", copied: "Copied",
    thinking: "Working on it…", queued: (n) => `Waiting for the model: position ${n} in the queue`,
    progress: { image: (p) => `reading the image ${p}%`, prompt: (p) => `reading the question ${p}%` },
    stopped: "Stopped.", badType: "Not a supported image: choose a JPG, PNG, WebP, HEIC, AVIF, TIFF, GIF, BMP or PDF file.",
    noPreview: "no preview in this browser; the server reads it",
    tooBig: (mb) => `The image is larger than ${mb} MB.`, noQuestion: "Type a question first.",
    stats: (n, tps, s) => `${n} tokens · ${tps} tokens/s · ${s} s`, keyPrompt: "This server needs an API key:",
    ocrStats: (s) => `read by OCR · ${s} s`, ocrHelped: "OCR text given to the model",
    network: "Cannot reach the server.", loading: "Loading the model…",
    showBoxes: "Draw the answer's boxes on the image", modeAsk: "Ask", modeFields: "Fields → table",
    fieldsPlaceholder: "Field names, e.g. brand, item number, composition (Enter to extract)",
    fieldsPrefix: "Fields", field: "Field", value: "Value", noFields: "Type the names of the fields first.",
    notJson: "The answer was not a JSON object with these fields; here it is as written:",
    pages: { page: (n) => `page ${n}`, all: "All pages", shown: (k) => `the first ${k} shown`,
             chosen: (a, b, n) => (a === b ? `page ${a}` : `pages ${a}-${b}`) + ` of ${n} read (click a page; shift-click for a range)` },
  },
  zh: {
    dropHint: "把图片拖到这里（一张或多张）、粘贴，或选择", pick: "选择图片",
    removeImage: "移除", pasted: "粘贴的图片", imageOf: (i, n) => `第 ${i} 张，共 ${n} 张`,
    tooMany: (n) => `每个问题最多 ${n} 张图片：其余的未加入。`,
    detail: "清晰度", detailLow: "低（快）", detailDefault: "默认", detailHigh: "高（慢）",
    detailMaximum: "最高（很慢）", imageTokens: (n) => `约 ${n} 个图像 token`,
    placeholder: "询问这张图片…（回车发送，Shift+回车换行）",
    send: "发送", stop: "停止", clear: "清空", copy: "复制", copied: "已复制",
    thinking: "正在生成…", queued: (n) => `等待模型：排队第 ${n} 位`,
    progress: { image: (p) => `正在读取图片 ${p}%`, prompt: (p) => `正在读取问题 ${p}%` },
    stopped: "已停止。", badType: "不支持的图片：请选择 JPG、PNG、WebP、HEIC、AVIF、TIFF、GIF、BMP 或 PDF 文件。",
    noPreview: "此浏览器无法预览；服务器可以读取",
    tooBig: (mb) => `图片超过 ${mb} MB。`, noQuestion: "请先输入问题。",
    stats: (n, tps, s) => `${n} 个词元 · ${tps} 词元/秒 · ${s} 秒`, keyPrompt: "此服务器需要 API 密钥：",
    ocrStats: (s) => `由 OCR 识别 · ${s} 秒`, ocrHelped: "已将 OCR 文字提供给模型",
    network: "无法连接服务器。", loading: "正在加载模型…",
    showBoxes: "在图片上标出回答中的方框", modeAsk: "提问", modeFields: "字段 → 表格",
    fieldsPlaceholder: "字段名，例如：品牌、货号、成分（回车提取）",
    fieldsPrefix: "字段", field: "字段", value: "值", noFields: "请先输入字段名。",
    notJson: "回答不是包含这些字段的 JSON 对象；原文如下：",
    pages: { page: (n) => `第 ${n} 页`, all: "全部页面", shown: (k) => `显示前 ${k} 页`,
             chosen: (a, b, n) => (a === b ? `读取第 ${a} 页` : `读取第 ${a}-${b} 页`) + `，共 ${n} 页（点击选页；Shift+点击选范围）` },
  },
};

const $ = (id) => document.getElementById(id);
const state = {
  lang: "en",           // set below from the saved choice or the browser
  images: [],           // the question's images, in order: {url (data URL), name, size; a document's
                        // doc (its page thumbnails) and choice (the pages read): pages.js}
  selected: 0,          // the one shown large
  imagesSent: false,    // the server's conversation already holds them
  asked: false,         // they were asked about: a new image starts a new set
  boxes: null,          // the latest answer's boxes ({boxes, image}), drawn on the first image
  maxImages: 8,
  conversationId: null,
  controller: null,     // AbortController of the running request
  maxMB: 10,
  apiKey: localStorage.getItem("qvl.apiKey") || "",
};
state.lang = localStorage.getItem("qvl.lang") || ((navigator.language || "").startsWith("zh") ? "zh" : "en");
const t = (key) => TEXT[state.lang][key];

// ---- interface language ---------------------------------------------------
function applyLanguage() {
  document.documentElement.lang = state.lang === "zh" ? "zh-CN" : "en";
  for (const el of document.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) el.placeholder = t(el.dataset.i18nPlaceholder);
  for (const el of document.querySelectorAll(".copy")) el.textContent = t("copy");
  labelDetailChoices();
  $("lang").textContent = state.lang === "zh" ? "English" : "中文";
}

// ---- safe Markdown subset -------------------------------------------------
function appendInline(parent, text) {
  // `code` and **bold**; everything else is plain text.
  const re = /`([^`\n]+)`|\*\*([^*\n]+)\*\*/g;
  let last = 0, m;
  while ((m = re.exec(text)) !== null) {
    if (m.index > last) parent.appendChild(document.createTextNode(text.slice(last, m.index)));
    const el = document.createElement(m[1] !== undefined ? "code" : "strong");
    el.textContent = m[1] !== undefined ? m[1] : m[2];
    parent.appendChild(el);
    last = re.lastIndex;
  }
  if (last < text.length) parent.appendChild(document.createTextNode(text.slice(last)));
}

function renderMarkdown(container, src) {
  container.replaceChildren();
  const lines = src.split("\n");
  let list = null, para = null;
  const close = () => { list = null; para = null; };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    if (line.startsWith("```")) {              // fenced code block (may still be open while streaming)
      close();
      const pre = document.createElement("pre"), code = document.createElement("code");
      const body = [];
      for (i++; i < lines.length && !lines[i].startsWith("```"); i++) body.push(lines[i]);
      code.textContent = body.join("\n");
      pre.appendChild(code);
      container.appendChild(pre);
      continue;
    }
    const item = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (item) {
      const tag = item[1] ? "ul" : "ol";
      if (!list || list.tagName.toLowerCase() !== tag) {
        para = null;
        list = document.createElement(tag);
        container.appendChild(list);
      }
      const li = document.createElement("li");
      appendInline(li, item[3]);
      list.appendChild(li);
      continue;
    }
    if (line.trim() === "") { close(); continue; }
    list = null;
    if (!para) {
      para = document.createElement("p");
      container.appendChild(para);
    } else {
      para.appendChild(document.createElement("br"));
    }
    appendInline(para, line);
  }
}

// ---- chat log ---------------------------------------------------------------
function addMessage(kind, text) {
  const msg = document.createElement("div");
  msg.className = "msg " + kind;
  const body = document.createElement("div");
  body.className = "body";
  if (kind === "assistant") renderMarkdown(body, text);
  else body.textContent = text;
  msg.appendChild(body);
  $("log").appendChild(msg);
  msg.scrollIntoView({ block: "end" });
  return msg;
}

function finishAnswer(msg, raw, timings, usage) {
  msg.classList.remove("streaming");
  const meta = document.createElement("div");
  meta.className = "meta";
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "small copy";
  copy.textContent = t("copy");
  copy.addEventListener("click", () => copyText(raw, copy));
  meta.appendChild(copy);
  if (timings && usage) {
    const stats = document.createElement("span");
    stats.className = "stats";
    const ms = timings.queue_ms + timings.image_ms + (timings.ocr_ms || 0) + timings.prompt_ms + timings.predicted_ms;
    const secs = (ms / 1000).toFixed(1);
    // Which path answered: the OCR engine alone, or the model (with OCR text when "ocr+vlm").
    stats.textContent = timings.route === "ocr" ? t("ocrStats")(secs)
      : t("stats")(usage.completion_tokens, timings.predicted_per_second.toFixed(1), secs) +
        (timings.route === "ocr+vlm" ? ` · ${t("ocrHelped")}` : "");
    meta.appendChild(stats);
  }
  msg.appendChild(meta);
}

async function copyText(text, button) {
  try {
    await navigator.clipboard.writeText(text);
  } catch (e) {                                // no clipboard API (plain http): the old way
    const ta = document.createElement("textarea");
    ta.value = text;
    document.body.appendChild(ta);
    ta.select();
    document.execCommand("copy");
    ta.remove();
  }
  button.textContent = t("copied");
  setTimeout(() => { button.textContent = t("copy"); }, 1500);
}

function setStatus(text) { $("status").textContent = text || ""; }

// The server's {"progress": {stage, done, total}} before the first token: a bar under the image.
function showProgress(p) {
  const label = (t("progress") || {})[p.stage];
  if (!label || !(p.total > 0)) return;
  const pct = Math.min(100, Math.round((100 * p.done) / p.total));
  $("progress-bar").value = pct;
  $("progress-label").textContent = label(pct);
  $("progress").hidden = false;
}

function hideProgress() { $("progress").hidden = true; }
function setBusy(busy) {
  $("send").disabled = busy;
  $("stop").disabled = !busy;
}

// ---- the image ----------------------------------------------------------------
function showImageError(text) {
  addMessage("error", text);
}

// The formats the server decodes; browsers often give HEIC or TIFF files no type, so the name
// decides then.
const IMAGE_TYPES = { jpg: "image/jpeg", jpeg: "image/jpeg", png: "image/png", webp: "image/webp", gif: "image/gif",
                      bmp: "image/bmp", tif: "image/tiff", tiff: "image/tiff", heic: "image/heic", heif: "image/heif",
                      avif: "image/avif", pdf: "application/pdf" };

function imageType(file) {
  if (Object.values(IMAGE_TYPES).includes(file.type)) return file.type;
  const ext = (file.name || "").split(".").pop().toLowerCase();
  return file.type ? null : IMAGE_TYPES[ext] || null;
}

// Reads a file as a data URL with the type the server checks it against.
function readImage(file, type) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve({ url: reader.result.replace(/^data:[^;,]*/, `data:${type}`),
                                    name: file.name || t("pasted"), size: file.size });
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(file);
  });
}

// Adds chosen, dropped or pasted files to the question's images, in order. After an answer a
// new image starts a new set (and a new conversation), as one image always did.
async function takeFiles(files) {
  const wanted = [];
  for (const file of files) {
    if (!file) continue;
    const type = imageType(file);
    if (!type) showImageError(t("badType"));
    else if (file.size > state.maxMB * 1024 * 1024) showImageError(t("tooBig")(state.maxMB));
    else wanted.push([file, type]);
  }
  if (!wanted.length) return;
  if (state.asked) resetImages();
  const room = state.maxImages - state.images.length;
  if (wanted.length > room) showImageError(t("tooMany")(state.maxImages));
  const read = await Promise.all(wanted.slice(0, Math.max(0, room)).map(([f, type]) => readImage(f, type)));
  if (!read.length) return;
  for (const im of read) {   // a document: its pages, to choose from
    if (!/^data:(application\/pdf|image\/tiff)/.test(im.url)) continue;
    im.doc = await fetchPages(im.url, state.apiKey).catch((e) => { showImageError(e.message); return null; });
    if (im.doc) im.choice = initialPages(im.doc, state.maxImages);
  }
  state.images.push(...read);
  state.imagesSent = false;
  state.conversationId = null;                 // a changed set of images is a new conversation
  state.selected = state.images.length - 1;
  showImages();
}

// Forgets every image (and the conversation about them).
function resetImages() {
  state.images = [];
  state.selected = 0;
  state.imagesSent = false;
  state.asked = false;
  state.conversationId = null;
  state.boxes = null;
}

// Removes image i; the rest go with the next question, as a new conversation.
function removeImageAt(i) {
  state.images.splice(i, 1);
  if (i === 0) state.boxes = null;             // they were the first image's
  state.imagesSent = false;
  state.asked = false;
  state.conversationId = null;
  state.selected = Math.min(state.selected > i ? state.selected - 1 : state.selected, state.images.length - 1);
  showImages();
}

function removeImage() {
  if (state.images.length) removeImageAt(state.selected);
  $("file-input").value = "";
}

// The selected image large (with the answer's boxes when it is the first) and a strip of
// thumbnails to select or remove each when there are several.
function showImages() {
  const n = state.images.length, img = state.images[state.selected];
  const preview = $("preview");
  $("drop-hint").hidden = n > 0;
  $("remove-image").hidden = n === 0;
  $("thumbs").hidden = n < 2;
  clearBoxes();
  if (!img) {
    preview.hidden = true;
    preview.removeAttribute("src");
    $("pages").hidden = $("pages-label").hidden = true;
    $("image-info").textContent = "";
    $("thumbs").replaceChildren();
    return;
  }
  $("image-info").textContent = `${n > 1 ? t("imageOf")(state.selected + 1, n) + " · " : ""}${img.name} · ` +
    `${(img.size / 1024).toFixed(0)} KB`;
  preview.onload = placeBoxLayer;
  // Chromium shows no HEIC or TIFF: say so instead of an empty frame.
  preview.onerror = () => {
    preview.hidden = true;
    $("image-info").textContent += ` · ${t("noPreview")}`;
  };
  $("pages").hidden = !img.doc;
  $("pages-label").hidden = !img.doc;
  if (img.doc) {   // no <img> draws a PDF: its page strip instead
    preview.hidden = true;
    $("drop-hint").hidden = true;
    showPageStrip($("pages"), $("pages-label"), img.doc, img.choice, t("pages"), (choice) => {
      img.choice = choice;
      state.imagesSent = false;                 // the pages go with the images: a new conversation
      state.asked = false;
      state.conversationId = null;
      showImages();
    });
  } else {
    preview.hidden = false;
    if (preview.getAttribute("src") !== img.url) preview.src = img.url;
  }
  if (state.selected === 0 && state.boxes) drawBoxes(state.boxes.boxes, state.boxes.image);
  $("thumbs").replaceChildren(...state.images.map((im, i) => thumbnail(im, i)));
}

function thumbnail(im, i) {
  const item = document.createElement("div");
  item.className = "thumb" + (i === state.selected ? " selected" : "");
  const pick = document.createElement("button");
  pick.type = "button";
  pick.className = "thumb-pick";
  pick.title = t("imageOf")(i + 1, state.images.length);
  pick.setAttribute("aria-label", pick.title);
  const small = document.createElement("img");
  small.src = im.url;
  small.alt = "";
  small.onerror = () => { small.hidden = true; pick.textContent = String(i + 1); };   // HEIC, TIFF
  pick.appendChild(small);
  pick.addEventListener("click", () => { state.selected = i; showImages(); });
  const remove = document.createElement("button");
  remove.type = "button";
  remove.className = "thumb-remove";
  remove.title = t("removeImage");
  remove.setAttribute("aria-label", remove.title);
  remove.innerHTML = '<svg class="icon" viewBox="0 0 24 24" aria-hidden="true"><path d="M6 6l12 12M18 6L6 18"/></svg>';
  remove.addEventListener("click", () => removeImageAt(i));
  item.append(pick, remove);
  return item;
}

// ---- asking -------------------------------------------------------------------
function parseEvents(buffer, onEvent) {
  // Returns what is left after the last complete event.
  let idx;
  while ((idx = buffer.indexOf("\n\n")) >= 0) {
    const chunk = buffer.slice(0, idx);
    buffer = buffer.slice(idx + 2);
    for (const line of chunk.split("\n"))
      if (line.startsWith("data: ")) onEvent(JSON.parse(line.slice(6)));
  }
  return buffer;
}

async function postChat(body, signal) {
  const headers = { "Content-Type": "application/json" };
  if (state.apiKey) headers.Authorization = "Bearer " + state.apiKey;
  // The header too: a balancer in front of several qvl replicas routes the
  // follow-up by it to the replica that holds the conversation (docs/deploy.md).
  if (body.conversation_id) headers["X-Conversation-Id"] = body.conversation_id;
  let resp = await fetch("/api/v1/chat", { method: "POST", headers, body: JSON.stringify(body), signal });
  if (resp.status === 401) {
    const key = prompt(t("keyPrompt"));
    if (key) {
      state.apiKey = key;
      localStorage.setItem("qvl.apiKey", key);
      return postChat(body, signal);
    }
  }
  return resp;
}

const RENDER_MS = 30;

// Asks a question; with fields (names), asks for them as JSON and shows a table.
async function ask(question, fields) {
  addMessage("user", question);
  const msg = addMessage("assistant", "");
  msg.classList.add("streaming");
  const body = { question: fields ? fieldsQuestion(fields) : question, stream: true };
  if (state.images.length && $("show-boxes").checked) body.boxes = true;
  const detail = $("detail").value;
  if (detail) body.max_pixels = Number(detail);
  if (state.conversationId) body.conversation_id = state.conversationId;
  const images = state.images.map((im) => im.url);
  if (images.length && !state.imagesSent) body.images = images;
  const doc = state.images.find((im) => im.doc);   // the server applies one choice to the question's documents
  const pages = doc && pagesField(doc.doc, doc.choice);
  if (pages && body.images) body.pages = pages;
  state.controller = new AbortController();
  setBusy(true);
  setStatus(t("thinking"));
  let raw = "", finished = false;
  try {
    let resp = await postChat(body, state.controller.signal);
    if (resp.status === 400 && body.conversation_id && images.length) {
      // The server forgot the conversation (expired, or its replica stopped):
      // start again with the image.
      const err = await resp.clone().json().catch(() => ({}));
      if (/conversation_id/.test((err.error || {}).message || "")) {
        delete body.conversation_id;
        body.images = images;
        resp = await postChat(body, state.controller.signal);
      }
    }
    if (!resp.ok) {
      const err = await resp.json().catch(() => ({ error: { message: resp.statusText } }));
      msg.remove();
      addMessage("error", (err.error && err.error.message) || `HTTP ${resp.status}`);
      return;
    }
    const reader = resp.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "", shownAt = 0;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer = parseEvents(buffer + decoder.decode(value, { stream: true }), (ev) => {
        if (ev.queued) setStatus(t("queued")(ev.queued));
        if (ev.progress) showProgress(ev.progress);
        if (ev.text !== undefined || ev.error || ev.done) hideProgress();
        if (ev.text !== undefined) {
          setStatus(t("thinking"));
          raw += ev.text;
          // Each render redoes the whole answer: at most every RENDER_MS, so a
          // fast model's long answer does not keep the page busy.
          if (performance.now() - shownAt >= RENDER_MS) {
            renderMarkdown(msg.querySelector(".body"), raw);
            msg.scrollIntoView({ block: "end" });
            shownAt = performance.now();
          }
        }
        if (ev.error) {
          addMessage("error", ev.error.message);
          finished = true;
        }
        if (ev.done) {
          state.conversationId = ev.conversation_id;
          if (body.images) state.imagesSent = true;
          if (images.length) state.asked = true;
          raw = ev.response;
          if (fields) renderFieldsTable(msg.querySelector(".body"), fields, raw,
                                        { field: t("field"), value: t("value"), notJson: t("notJson") });
          else renderMarkdown(msg.querySelector(".body"), raw);
          if (ev.boxes) {
            state.boxes = { boxes: ev.boxes, image: ev.image };
            if (ev.boxes.length) state.selected = 0;   // boxes belong to the first image: show it
            showImages();
          }
          finishAnswer(msg, raw, ev.timings, ev.usage);
          finished = true;
        }
      });
    }
  } catch (e) {
    if (e.name === "AbortError") {
      setStatus(t("stopped"));
    } else {
      addMessage("error", t("network") + " " + e.message);
    }
  } finally {
    hideProgress();
    if (!finished) {
      renderMarkdown(msg.querySelector(".body"), raw);
      finishAnswer(msg, raw, null, null);
    }
    if (finished || $("status").textContent !== t("stopped")) setStatus("");
    state.controller = null;
    setBusy(false);
  }
}

// ---- wiring -------------------------------------------------------------------
function init() {
  applyLanguage();
  $("lang").addEventListener("click", () => {
    state.lang = state.lang === "zh" ? "en" : "zh";
    localStorage.setItem("qvl.lang", state.lang);
    applyLanguage();
  });
  $("pick").addEventListener("click", () => $("file-input").click());
  $("file-input").addEventListener("change", (e) => {
    takeFiles([...e.target.files]);
    e.target.value = "";                         // the same file may be chosen again
  });
  $("remove-image").addEventListener("click", removeImage);
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    takeFiles([...e.dataTransfer.files]);
  });
  document.addEventListener("paste", (e) => {
    const items = e.clipboardData ? [...e.clipboardData.items] : [];
    const files = items.filter((item) => item.kind === "file").map((item) => item.getAsFile());
    if (files.length) takeFiles(files);
  });
  $("ask").addEventListener("submit", (e) => {
    e.preventDefault();
    const q = $("question").value.trim();
    if (!q) return setStatus(t("noQuestion"));
    if (state.controller) return;
    if ($("mode").value === "fields") {
      const names = parseFieldNames(q);
      if (!names.length) return setStatus(t("noFields"));
      $("question").value = "";
      return ask(`${t("fieldsPrefix")}: ${names.join(", ")}`, names);
    }
    $("question").value = "";
    ask(q);
  });
  $("mode").addEventListener("change", () => {
    $("question").dataset.i18nPlaceholder = $("mode").value === "fields" ? "fieldsPlaceholder" : "placeholder";
    $("question").placeholder = t($("question").dataset.i18nPlaceholder);
  });
  $("show-boxes").addEventListener("change", applyBoxesToggle);
  window.addEventListener("resize", placeBoxLayer);
  $("question").addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      $("ask").requestSubmit();
    }
  });
  $("stop").addEventListener("click", () => state.controller && state.controller.abort());
  $("clear").addEventListener("click", () => {
    if (state.controller) state.controller.abort();
    $("log").replaceChildren();
    clearBoxes();
    state.boxes = null;
    state.conversationId = null;
    state.imagesSent = false;
    setStatus("");
  });
  checkHealth();
}

// The Detail menu, from the server's own levels (its default is the one a request without
// max_pixels gets), each with the image tokens it gives: about one per 1024 pixels.
function showDetailChoices(levels) {
  const select = $("detail");
  const keys = { low: "detailLow", default: "detailDefault", high: "detailHigh", maximum: "detailMaximum" };
  select.replaceChildren(...Object.entries(keys).map(([level, key]) => {
    const o = document.createElement("option");
    o.value = level === "default" ? "" : String(levels[level]);
    o.selected = level === "default";
    o.dataset.i18n = key;
    o.dataset.tokens = String(Math.round(levels[level] / 1024));
    return o;
  }));
  labelDetailChoices();
}

function labelDetailChoices() {
  for (const o of $("detail").options)
    if (o.dataset.tokens) o.textContent = `${t(o.dataset.i18n)} · ${t("imageTokens")(o.dataset.tokens)}`;
}

// Shows the model's name, or "loading" until the server has the model.
function checkHealth() {
  fetch("/health").then((r) => r.json()).then((h) => {
    if (h.max_image_mb) state.maxMB = h.max_image_mb;
    if (h.max_images) state.maxImages = h.max_images;
    if (h.detail) showDetailChoices(h.detail);
    if (h.status === "loading") {
      setStatus(t("loading"));
      setTimeout(checkHealth, 1000);
      return;
    }
    if ($("status").textContent === t("loading")) setStatus("");
    $("model-name").textContent = h.model || "";
    if (h.test_model) {
      $("test-model-note").textContent = h.note;
      $("test-model-note").hidden = false;
    }
  }).catch(() => setStatus(t("network")));
}

init();
