// Photos are made small on the phone before they wait in the outbox: the longest side at most
// 1600 px, JPEG at quality 0.8 (a 12 Mpx photo of several MB becomes a few hundred kB).
export const LONGEST = 1600;
export const QUALITY = 0.8;

export async function shrink(file, longest = LONGEST, quality = QUALITY) {
  const bitmap = await createImageBitmap(file);
  const scale = Math.min(1, longest / Math.max(bitmap.width, bitmap.height));
  const width = Math.max(1, Math.round(bitmap.width * scale));
  const height = Math.max(1, Math.round(bitmap.height * scale));
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
  bitmap.close();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  return { blob, width, height };
}

export function photoName(file) {
  const stem = (file.name || "photo").replace(/\.[^.]*$/, "").replace(/[^A-Za-z0-9._-]+/g, "-");
  return `${stem.slice(0, 60) || "photo"}.jpg`;
}
