//! Independent measurements for the tests: nothing here calls the crate under test.

use std::io::Cursor;

pub fn fixture(rel: &str) -> Vec<u8> {
    let path = format!(
        "{}/../../../shared/fixtures/{rel}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
}

/// A connected component of "ink" pixels: pixel count and bounding box
/// `[min_x, min_y, max_x + 1, max_y + 1]` in pixel-edge coordinates (y down).
#[derive(Debug, Clone)]
pub struct Blob {
    pub pixels: usize,
    pub bbox: [usize; 4],
}

/// 8-connected components of the pixels for which `ink` holds, by flood fill.
pub fn blobs(w: usize, h: usize, ink: impl Fn(usize, usize) -> bool) -> Vec<Blob> {
    let mut seen = vec![false; w * h];
    let mut out = Vec::new();
    for sy in 0..h {
        for sx in 0..w {
            if seen[sy * w + sx] || !ink(sx, sy) {
                continue;
            }
            let mut blob = Blob {
                pixels: 0,
                bbox: [sx, sy, sx + 1, sy + 1],
            };
            let mut stack = vec![(sx, sy)];
            seen[sy * w + sx] = true;
            while let Some((x, y)) = stack.pop() {
                blob.pixels += 1;
                blob.bbox = [
                    blob.bbox[0].min(x),
                    blob.bbox[1].min(y),
                    blob.bbox[2].max(x + 1),
                    blob.bbox[3].max(y + 1),
                ];
                for dy in -1i64..=1 {
                    for dx in -1i64..=1 {
                        let (nx, ny) = (x as i64 + dx, y as i64 + dy);
                        if nx < 0 || ny < 0 || nx >= w as i64 || ny >= h as i64 {
                            continue;
                        }
                        let (nx, ny) = (nx as usize, ny as usize);
                        if !seen[ny * w + nx] && ink(nx, ny) {
                            seen[ny * w + nx] = true;
                            stack.push((nx, ny));
                        }
                    }
                }
            }
            out.push(blob);
        }
    }
    out
}

/// Grey levels of an image file, decoded with the `image` crate directly.
pub fn grey(bytes: &[u8]) -> (usize, usize, Vec<u8>) {
    let img = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap()
        .to_luma8();
    (img.width() as usize, img.height() as usize, img.into_raw())
}

/// PNG bytes of a greyscale image drawn by `f(x, y) -> level`.
pub fn png(w: u32, h: u32, f: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let img = image::GrayImage::from_fn(w, h, |x, y| image::Luma([f(x, y)]));
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// CRC-32 (IEEE) of PNG chunks, bit by bit.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A PNG whose header claims `w x h` pixels, with a valid CRC but (almost) no data.
pub fn png_claiming(w: u32, h: u32) -> Vec<u8> {
    let mut out = png(2, 2, |_, _| 0);
    // Signature (8), IHDR length (4), "IHDR" (4), then width and height.
    out[16..20].copy_from_slice(&w.to_be_bytes());
    out[20..24].copy_from_slice(&h.to_be_bytes());
    let crc = crc32(&out[12..29]);
    out[29..33].copy_from_slice(&crc.to_be_bytes());
    out
}
