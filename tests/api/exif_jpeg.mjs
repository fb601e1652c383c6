// A w x h red JPEG (ImageMagick's convert) whose EXIF block says orientation
// o (1..8): the APP1 segment goes right after the JPEG's start marker, as
// cameras write it. For tests of what the server and the page do with
// phone photos taken sideways.
import { execFileSync } from "node:child_process";

export function exifJpeg(w, h, o) {
  const jpeg = execFileSync("convert", ["-size", `${w}x${h}`, "xc:red", "jpg:-"]);
  // A little-endian TIFF header and IFD0 with one entry: tag 0x0112 SHORT x1 = o.
  const tiff = Buffer.from([0x49, 0x49, 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, o, 0, 0, 0, 0, 0, 0, 0]);
  const payload = Buffer.concat([Buffer.from("Exif\0\0", "latin1"), tiff]);
  const head = Buffer.from([0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff]);
  return Buffer.concat([jpeg.subarray(0, 2), head, payload, jpeg.subarray(2)]);
}
