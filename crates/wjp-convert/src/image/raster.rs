//! From bytes to a binary foreground mask: format check, pixel-count guard read from
//! the header, decoding, grey levels (alpha composited over white), optional blur,
//! threshold (Otsu or given), optional invert and morphology.
//!
//! Invariant: nothing is decoded before the header's dimensions passed `max_pixels`.

use std::io::Cursor;

use image::{ImageFormat, ImageReader};

use crate::error::ConvertError;
use crate::options::ConvertOptions;

/// A decoded and thresholded image: `fg[y * width + x]` is true for pixels to cut out.
pub(crate) struct Mask {
    pub width: u32,
    pub height: u32,
    pub fg: Vec<bool>,
    pub format: &'static str,
    pub color: String,
    pub threshold: u8,
    pub otsu: bool,
    /// The border's majority was foreground, so the mask was inverted.
    pub auto_inverted: bool,
}

fn format_name(f: ImageFormat) -> &'static str {
    match f {
        ImageFormat::Png => "PNG",
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Bmp => "BMP",
        ImageFormat::Gif => "GIF",
        ImageFormat::WebP => "WebP",
        ImageFormat::Tiff => "TIFF",
        ImageFormat::Ico => "ICO",
        ImageFormat::Pnm => "PNM",
        ImageFormat::Tga => "TGA",
        ImageFormat::Dds => "DDS",
        ImageFormat::Hdr => "HDR",
        ImageFormat::OpenExr => "OpenEXR",
        ImageFormat::Farbfeld => "Farbfeld",
        ImageFormat::Avif => "AVIF",
        ImageFormat::Qoi => "QOI",
        _ => "an image format",
    }
}

/// Name what the bytes look like when no supported image format matched.
fn sniff(bytes: &[u8]) -> String {
    let head = &bytes[..bytes.len().min(64)];
    if head.starts_with(b"%PDF") {
        return "PDF".into();
    }
    if head.starts_with(b"AutoCAD Binary DXF") {
        return "binary DXF: analyse it as a drawing instead".into();
    }
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    if text.contains("<svg") || text.contains("<?xml") {
        return "SVG/XML".into();
    }
    if text.trim_start().starts_with('0') && text.contains("section") {
        return "DXF: analyse it as a drawing instead".into();
    }
    "not a recognised image".into()
}

pub(crate) fn decode_mask(bytes: &[u8], o: &ConvertOptions) -> Result<Mask, ConvertError> {
    if bytes.is_empty() {
        return Err(ConvertError::EmptyInput);
    }
    if bytes.len() > o.max_input_bytes {
        return Err(ConvertError::InputTooLarge {
            bytes: bytes.len(),
            limit: o.max_input_bytes,
        });
    }
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| ConvertError::CorruptImage {
                format: "unknown".into(),
                message: e.to_string(),
            })
    };
    let format = match reader()?.format() {
        Some(f @ (ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::Bmp)) => f,
        Some(other) => {
            return Err(ConvertError::UnsupportedFormat {
                detected: format_name(other).into(),
            })
        }
        None => {
            return Err(ConvertError::UnsupportedFormat {
                detected: sniff(bytes),
            })
        }
    };
    let name = format_name(format);
    let corrupt = |e: image::ImageError| match e {
        image::ImageError::Unsupported(u) => ConvertError::UnsupportedFormat {
            detected: format!("{name} variant: {u}"),
        },
        other => ConvertError::CorruptImage {
            format: name.into(),
            message: other.to_string(),
        },
    };
    // The header alone: dimensions before any pixel is decoded.
    let (width, height) = reader()?.into_dimensions().map_err(corrupt)?;
    let pixels = u64::from(width) * u64::from(height);
    if pixels > o.max_pixels {
        return Err(ConvertError::TooManyPixels {
            width,
            height,
            pixels,
            limit: o.max_pixels,
        });
    }
    if pixels == 0 {
        return Err(ConvertError::EmptyImage { width, height });
    }
    let mut r = reader()?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(width);
    limits.max_image_height = Some(height);
    // Decoded pixels at most 16 bytes each (RGBA f32), plus decoder slack.
    limits.max_alloc = Some(pixels.saturating_mul(16).saturating_add(64 << 20));
    r.limits(limits);
    let img = r.decode().map_err(corrupt)?;
    let color = format!("{:?}", img.color());
    let la = img.to_luma_alpha8();
    drop(img);
    let mut gray = image::GrayImage::new(width, height);
    for (dst, src) in gray.pixels_mut().zip(la.pixels()) {
        let [l, a] = src.0;
        // Composite over white: transparent pixels are background (paper).
        let v = (u32::from(l) * u32::from(a) + 255 * (255 - u32::from(a)) + 127) / 255;
        dst.0 = [v as u8];
    }
    drop(la);
    if let Some(sigma) = o.blur_sigma {
        if sigma > 0.0 {
            gray = image::imageops::blur(&gray, sigma);
        }
    }
    let (threshold, otsu) = match o.threshold {
        Some(t) => (t, false),
        None => (otsu_level(gray.as_raw()), true),
    };
    let mut fg: Vec<bool> = gray
        .as_raw()
        .iter()
        .map(|&v| (v <= threshold) != o.invert)
        .collect();
    drop(gray);
    let (w, h) = (width as usize, height as usize);
    let mut auto_inverted = false;
    if o.auto_invert && !o.invert {
        let border = (0..w)
            .flat_map(|x| [x, (h - 1) * w + x])
            .chain((0..h).flat_map(|y| [y * w, y * w + w - 1]));
        let (mut on, mut all) = (0usize, 0usize);
        for i in border {
            all += 1;
            on += usize::from(fg[i]);
        }
        if on * 2 > all {
            fg.iter_mut().for_each(|v| *v = !*v);
            auto_inverted = true;
        }
    }
    if o.open_radius_px > 0 {
        fg = min_max_filter(&fg, w, h, o.open_radius_px as usize, false);
        fg = min_max_filter(&fg, w, h, o.open_radius_px as usize, true);
    }
    if o.close_radius_px > 0 {
        fg = min_max_filter(&fg, w, h, o.close_radius_px as usize, true);
        fg = min_max_filter(&fg, w, h, o.close_radius_px as usize, false);
    }
    Ok(Mask {
        width,
        height,
        fg,
        format: name,
        color,
        threshold,
        otsu,
        auto_inverted,
    })
}

/// Otsu's threshold: the level `t` maximising the between-class variance of
/// `[0, t]` and `(t, 255]`.
pub fn otsu_level(pixels: &[u8]) -> u8 {
    let mut hist = [0u64; 256];
    for &p in pixels {
        hist[p as usize] += 1;
    }
    let total = pixels.len() as f64;
    let sum_all: f64 = hist
        .iter()
        .enumerate()
        .map(|(i, &c)| i as f64 * c as f64)
        .sum();
    let (mut w0, mut sum0) = (0.0f64, 0.0f64);
    let (mut best, mut best_t) = (-1.0f64, 0u8);
    for (t, &c) in hist.iter().enumerate() {
        w0 += c as f64;
        sum0 += t as f64 * c as f64;
        let w1 = total - w0;
        if w0 == 0.0 || w1 == 0.0 {
            continue;
        }
        let m0 = sum0 / w0;
        let m1 = (sum_all - sum0) / w1;
        let between = w0 * w1 * (m0 - m1) * (m0 - m1);
        if between > best {
            best = between;
            best_t = t as u8;
        }
    }
    if best < 0.0 {
        // One grey level only: everything darker than mid-grey is foreground.
        return 127;
    }
    best_t
}

/// Square-window dilation (`dilate = true`, any true in the window) or erosion
/// (all true), separable; pixels outside the image count as background.
fn min_max_filter(src: &[bool], w: usize, h: usize, r: usize, dilate: bool) -> Vec<bool> {
    let pass = |src: &[bool], along_x: bool| -> Vec<bool> {
        let mut out = vec![false; src.len()];
        let (n, m) = if along_x { (h, w) } else { (w, h) };
        let mut line = vec![false; m];
        // Prefix counts of true pixels make each window O(1).
        let mut prefix = vec![0u32; m + 1];
        for i in 0..n {
            for (j, v) in line.iter_mut().enumerate() {
                *v = if along_x {
                    src[i * w + j]
                } else {
                    src[j * w + i]
                };
            }
            for j in 0..m {
                prefix[j + 1] = prefix[j] + u32::from(line[j]);
            }
            for j in 0..m {
                let lo = j.saturating_sub(r);
                let hi = (j + r + 1).min(m);
                let count = prefix[hi] - prefix[lo];
                let v = if dilate {
                    count > 0
                } else {
                    // Erosion: outside pixels are background, so a window that
                    // leaves the image erodes.
                    j >= r && j + r < m && count as usize == hi - lo
                };
                if along_x {
                    out[i * w + j] = v;
                } else {
                    out[j * w + i] = v;
                }
            }
        }
        out
    };
    let a = pass(src, true);
    pass(&a, false)
}
