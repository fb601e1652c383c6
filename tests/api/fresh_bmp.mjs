// A w x h 24-bit BMP of random pixels, base64: an image no earlier request
// has sent (so the first question about it is an image-cache miss), and
// about as large on the wire as its pixels (3 bytes each; it does not
// compress), for tests of size limits.
import { randomBytes } from "node:crypto";

export function freshBmp(w = 256, h = 256) {
  const row = (w * 3 + 3) & ~3, b = Buffer.alloc(54 + row * h);
  b.write("BM", 0);
  b.writeUInt32LE(b.length, 2);
  b.writeUInt32LE(54, 10);
  b.writeUInt32LE(40, 14);
  b.writeInt32LE(w, 18);
  b.writeInt32LE(h, 22);
  b.writeUInt16LE(1, 26);
  b.writeUInt16LE(24, 28);
  b.writeUInt32LE(row * h, 34);
  randomBytes(row * h).copy(b, 54);
  return b.toString("base64");
}
