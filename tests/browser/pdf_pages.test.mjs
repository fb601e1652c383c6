// A PDF on the web page, in headless Chromium (playwright-core) against a
// running `qvl serve` (QVL_URL): a ten-page PDF written here shows a strip of
// its pages (thumbnails the server rendered, drawn on canvases), the first 8
// chosen (what the model may read in one question); a click picks one page,
// a shift-click a range, and the question goes with that range as "pages" and
// is answered from those pages alone; "All pages" sends none, as a new
// conversation, and the answer then holds page 10. With QVL_SHOTS=DIR it
// saves a screenshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { launchChromium, watchedPage } from "./chromium.mjs";

const URL = process.env.QVL_URL;
const SHOTS = process.env.QVL_SHOTS || "";

// Ten born-digital pages reading "Page k of the report"; no cross-reference table (poppler
// rebuilds it, as for the curl tests' PDF).
function tenPagePdf() {
  let s = "%PDF-1.4\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n";
  const kids = [];
  for (let k = 1; k <= 10; k++) kids.push(`${2 * k + 2} 0 R`);
  s += `2 0 obj\n<< /Type /Pages /Kids [${kids.join(" ")}] /Count 10 >>\nendobj\n`;
  s += "3 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>\nendobj\n";
  for (let k = 1; k <= 10; k++) {
    const ops = `BT /F1 24 Tf 72 700 Td (Page ${k} of the report) Tj ET`;
    s += `${2 * k + 2} 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> ` +
         `/Contents ${2 * k + 3} 0 R >>\nendobj\n`;
    s += `${2 * k + 3} 0 obj\n<< /Length ${ops.length} >>\nstream\n${ops}\nendstream\nendobj\n`;
  }
  return s + "trailer\n<< /Root 1 0 R >>\n%%EOF\n";
}

const chosen = (page) => page.locator("#pages .page-thumb.chosen");

test("the page: a PDF's pages as thumbnails, picked by click and shift-click, sent as 'pages'", async () => {
  const { context, profile, close } = await launchChromium();
  try {
    const { page, errors, sent } = await watchedPage(context);
    await page.goto(URL + "/");
    const pdf = join(profile, "report.pdf");
    writeFileSync(pdf, tenPagePdf());
    await page.setInputFiles("#file-input", pdf);

    // The strip: ten pages drawn from the server's thumbnails, the first 8 chosen.
    await page.locator("#pages .page-thumb").nth(9).waitFor();
    assert.equal(await page.locator("#pages .page-thumb").count(), 10);
    assert.equal(await chosen(page).count(), 8);
    assert.ok(await page.locator("#preview").isHidden(), "no <img> for a PDF");
    const ink = await page.locator("#pages canvas").first().evaluate((c) => {
      const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
      let dark = 0;
      for (let i = 0; i < d.length; i += 4) dark += d[i] < 128;
      return { dark, w: c.width };
    });
    assert.ok(ink.w > 50 && ink.dark > 10, `the thumbnail shows the page's text: ${JSON.stringify(ink)}`);
    assert.match(await page.locator("#pages-label").textContent(), /pages 1-8 of 10/);

    // A click picks page 3, a shift-click on page 5 makes it 3-5.
    await page.locator('#pages .page-thumb[data-page="3"]').click();
    assert.equal(await chosen(page).count(), 1);
    await page.locator('#pages .page-thumb[data-page="5"]').click({ modifiers: ["Shift"] });
    assert.deepEqual(await chosen(page).evaluateAll((els) => els.map((e) => Number(e.dataset.page))), [3, 4, 5]);
    if (SHOTS) await page.screenshot({ path: join(SHOTS, "pdf_pages.png") });

    // The question reads those pages: the answer is their text layers, under page headers.
    await page.fill("#question", "Extract the text");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").waitFor({ timeout: 30000 });
    assert.equal(sent[0].pages, "3-5");
    assert.equal(sent[0].images.length, 1);
    assert.match(sent[0].images[0], /^data:application\/pdf;base64,/);
    const answer = await page.locator(".msg.assistant").first().textContent();
    assert.match(answer, /page 3[^]*Page 3 of the report[^]*Page 5 of the report/);
    assert.doesNotMatch(answer, /Page 6 of the report/);

    // "All pages": every page chosen, sent without "pages" as a new conversation.
    await page.locator("#pages .page-all").click();
    assert.equal(await chosen(page).count(), 10);
    await page.fill("#question", "Extract the text");
    await page.click("#send");
    await page.locator(".msg.assistant .stats").nth(1).waitFor({ timeout: 30000 });
    assert.equal(sent[1].pages, undefined);
    assert.equal(sent[1].conversation_id, undefined);
    assert.equal(sent[1].images.length, 1);
    assert.match(await page.locator(".msg.assistant").nth(1).textContent(), /Page 10 of the report/);
    assert.equal(await page.locator(".msg.error").count(), 0);
    assert.deepEqual(errors, []);
  } finally {
    await close();
  }
});
