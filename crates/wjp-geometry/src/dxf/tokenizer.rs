//! Group-code tokenizer for ASCII and binary DXF.
//!
//! A DXF file is a flat list of (group code, value) pairs. This module turns bytes
//! into [`Tag`]s and nothing more: it knows the value type of each group code, the
//! binary sentinel, and text encodings (UTF-8, else cp1252). It stops at `0/EOF` and
//! ignores whatever follows. It never panics: every out-of-bounds read is an error
//! naming the byte offset or line.

use crate::error::{AnalysisError, SourcePos};

/// The 22-byte sentinel that starts a binary DXF.
pub const BINARY_SENTINEL: &[u8] = b"AutoCAD Binary DXF\r\n\x1a\0";

/// One group-code value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    Real(f64),
    Int(i64),
    /// Binary chunk (codes 310-319, 1004); the content is never needed here.
    Bin,
}

/// One (group code, value) pair with its place in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    pub code: i32,
    pub value: Value,
    pub pos: SourcePos,
}

impl Tag {
    /// The value as text (numbers are formatted).
    pub fn text(&self) -> String {
        match &self.value {
            Value::Str(s) => s.clone(),
            Value::Real(r) => r.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Bin => String::new(),
        }
    }

    /// The value as a string slice when it is a string.
    pub fn str(&self) -> &str {
        match &self.value {
            Value::Str(s) => s.as_str(),
            _ => "",
        }
    }

    /// The value as a float, or `None` when it is not a number.
    pub fn real(&self) -> Option<f64> {
        match &self.value {
            Value::Real(r) => Some(*r),
            Value::Int(i) => Some(*i as f64),
            Value::Str(s) => s.trim().parse::<f64>().ok(),
            Value::Bin => None,
        }
    }

    /// The value as an integer (floats are truncated, as some exporters write
    /// integers as `1.0`), or `None` when it is not a number.
    pub fn int(&self) -> Option<i64> {
        match &self.value {
            Value::Int(i) => Some(*i),
            Value::Real(r) if r.is_finite() && r.abs() < 9.0e18 => Some(*r as i64),
            Value::Str(s) => {
                let t = s.trim();
                t.parse::<i64>().ok().or_else(|| {
                    t.parse::<f64>()
                        .ok()
                        .filter(|r| r.is_finite() && r.abs() < 9.0e18)
                        .map(|r| r as i64)
                })
            }
            _ => None,
        }
    }
}

/// The value type a group code carries (the DXF reference's group code ranges).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Str,
    Double,
    Int16,
    Int32,
    Int64,
    Bool,
    Binary,
}

fn kind_of(code: i32) -> Kind {
    match code {
        10..=59 | 110..=149 | 210..=239 | 460..=469 | 1010..=1059 => Kind::Double,
        60..=79 | 170..=179 | 270..=289 | 370..=389 | 400..=409 | 1060..=1070 => Kind::Int16,
        90..=99 | 420..=429 | 440..=459 | 1071 => Kind::Int32,
        160..=169 => Kind::Int64,
        290..=299 => Kind::Bool,
        310..=319 | 1004 => Kind::Binary,
        _ => Kind::Str,
    }
}

/// What the tokenizer learnt about the file besides its tags.
#[derive(Debug, Clone, Default)]
pub struct TokenInfo {
    pub binary: bool,
    /// "utf-8" or "cp1252".
    pub encoding: &'static str,
    /// Bytes after `0/EOF` that were ignored.
    pub junk_after_eof: bool,
    /// No `0/EOF` was found: the file may be truncated.
    pub missing_eof: bool,
}

/// Tokenize a whole DXF file.
pub fn tokenize(bytes: &[u8]) -> Result<(Vec<Tag>, TokenInfo), AnalysisError> {
    if bytes.starts_with(BINARY_SENTINEL) {
        tokenize_binary(bytes)
    } else if bytes.starts_with(b"AutoCAD Binary DXF") {
        Err(AnalysisError::parse(
            "binary DXF sentinel is damaged",
            SourcePos::Byte(0),
        ))
    } else {
        tokenize_ascii(bytes)
    }
}

/// Decode text: UTF-8 when valid, else Windows-1252 (the usual code page of
/// pre-2007 DXF files).
pub fn decode_text(bytes: &[u8]) -> (String, &'static str) {
    match std::str::from_utf8(bytes) {
        Ok(s) => (s.to_owned(), "utf-8"),
        Err(_) => (bytes.iter().map(|&b| cp1252(b)).collect(), "cp1252"),
    }
}

fn cp1252(b: u8) -> char {
    const HIGH: [char; 32] = [
        '\u{20AC}', '\u{FFFD}', '\u{201A}', '\u{0192}', '\u{201E}', '\u{2026}', '\u{2020}',
        '\u{2021}', '\u{02C6}', '\u{2030}', '\u{0160}', '\u{2039}', '\u{0152}', '\u{FFFD}',
        '\u{017D}', '\u{FFFD}', '\u{FFFD}', '\u{2018}', '\u{2019}', '\u{201C}', '\u{201D}',
        '\u{2022}', '\u{2013}', '\u{2014}', '\u{02DC}', '\u{2122}', '\u{0161}', '\u{203A}',
        '\u{0153}', '\u{FFFD}', '\u{017E}', '\u{0178}',
    ];
    if (0x80..0xA0).contains(&b) {
        HIGH[(b - 0x80) as usize]
    } else {
        b as char
    }
}

fn tokenize_ascii(bytes: &[u8]) -> Result<(Vec<Tag>, TokenInfo), AnalysisError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let (text, encoding) = decode_text(bytes);
    let mut info = TokenInfo {
        binary: false,
        encoding,
        missing_eof: true,
        ..Default::default()
    };
    let mut tags = Vec::with_capacity(text.len() / 12);
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    let mut line_no = 0usize;
    while let Some(code_line) = lines.next() {
        line_no += 1;
        let code_text = code_line.trim();
        if code_text.is_empty() && tags.is_empty() {
            // Leading blank lines: tolerated.
            continue;
        }
        let code: i32 = match code_text.parse() {
            Ok(c) => c,
            Err(_) => {
                if code_text.is_empty() {
                    // A trailing empty line at the end of a file without EOF.
                    if lines.clone().all(|l| l.trim().is_empty()) {
                        break;
                    }
                }
                // The text itself is not quoted: an error may reach someone
                // who did not send the file.
                return Err(AnalysisError::parse(
                    "expected a group code (an integer), found other text",
                    SourcePos::Line(line_no),
                ));
            }
        };
        let pos = SourcePos::Line(line_no);
        let Some(value_line) = lines.next() else {
            // A code without value: the file is truncated.
            break;
        };
        line_no += 1;
        let value = match kind_of(code) {
            Kind::Str => Value::Str(if code == 0 {
                value_line.trim().to_owned()
            } else {
                value_line.trim_end().to_owned()
            }),
            Kind::Double => match value_line.trim().parse::<f64>() {
                Ok(r) => Value::Real(r),
                Err(_) => Value::Str(value_line.trim().to_owned()),
            },
            Kind::Binary => Value::Bin,
            Kind::Int16 | Kind::Int32 | Kind::Int64 | Kind::Bool => {
                let t = value_line.trim();
                match t.parse::<i64>() {
                    Ok(i) => Value::Int(i),
                    Err(_) => Value::Str(t.to_owned()),
                }
            }
        };
        if code == 999 {
            continue; // comment
        }
        let is_eof = code == 0 && matches!(&value, Value::Str(s) if s == "EOF");
        tags.push(Tag { code, value, pos });
        if is_eof {
            info.missing_eof = false;
            info.junk_after_eof = lines.any(|l| !l.trim().is_empty());
            break;
        }
    }
    Ok((tags, info))
}

fn tokenize_binary(bytes: &[u8]) -> Result<(Vec<Tag>, TokenInfo), AnalysisError> {
    let start = BINARY_SENTINEL.len();
    // R12 binary files use 1-byte group codes (255 escapes a 2-byte code), later
    // versions 2-byte codes. The first tag is always 0/SECTION, which tells them apart.
    let two_byte = match bytes.get(start..start + 3) {
        Some([0, 0, b'S']) => true,
        Some([0, b'S', _]) => false,
        _ => {
            return Err(AnalysisError::parse(
                "binary DXF does not start with 0/SECTION",
                SourcePos::Byte(start),
            ))
        }
    };
    let mut info = TokenInfo {
        binary: true,
        encoding: "utf-8",
        missing_eof: true,
        ..Default::default()
    };
    let truncated = |at: usize| {
        AnalysisError::parse(
            "binary DXF ends in the middle of a tag (truncated file)",
            SourcePos::Byte(at),
        )
    };
    let mut tags = Vec::with_capacity(bytes.len() / 10);
    let mut i = start;
    let mut any_cp1252 = false;
    while i < bytes.len() {
        let tag_start = i;
        let code: i32 = if two_byte {
            let b = bytes.get(i..i + 2).ok_or_else(|| truncated(i))?;
            i += 2;
            i16::from_le_bytes([b[0], b[1]]) as i32
        } else {
            let b = bytes[i];
            if b == 255 {
                let b2 = bytes.get(i + 1..i + 3).ok_or_else(|| truncated(i))?;
                i += 3;
                i16::from_le_bytes([b2[0], b2[1]]) as i32
            } else {
                i += 1;
                b as i32
            }
        };
        let pos = SourcePos::Byte(tag_start);
        let value = match kind_of(code) {
            Kind::Double => {
                let b = bytes.get(i..i + 8).ok_or_else(|| truncated(i))?;
                i += 8;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Real(f64::from_le_bytes(a))
            }
            Kind::Int16 => {
                let b = bytes.get(i..i + 2).ok_or_else(|| truncated(i))?;
                i += 2;
                Value::Int(i16::from_le_bytes([b[0], b[1]]) as i64)
            }
            Kind::Int32 => {
                let b = bytes.get(i..i + 4).ok_or_else(|| truncated(i))?;
                i += 4;
                Value::Int(i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64)
            }
            Kind::Int64 => {
                let b = bytes.get(i..i + 8).ok_or_else(|| truncated(i))?;
                i += 8;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Int(i64::from_le_bytes(a))
            }
            Kind::Bool => {
                let b = *bytes.get(i).ok_or_else(|| truncated(i))?;
                i += 1;
                Value::Int(b as i64)
            }
            Kind::Binary => {
                let n = *bytes.get(i).ok_or_else(|| truncated(i))? as usize;
                i += 1;
                if i + n > bytes.len() {
                    return Err(truncated(i));
                }
                i += n;
                Value::Bin
            }
            Kind::Str => {
                let rest = &bytes[i..];
                let n = rest.iter().position(|&b| b == 0).ok_or_else(|| {
                    AnalysisError::parse(
                        "unterminated string in binary DXF (truncated file)",
                        SourcePos::Byte(i),
                    )
                })?;
                let (s, enc) = decode_text(&rest[..n]);
                any_cp1252 |= enc == "cp1252";
                i += n + 1;
                Value::Str(s)
            }
        };
        if code == 999 {
            continue;
        }
        let is_eof = code == 0 && matches!(&value, Value::Str(s) if s == "EOF");
        tags.push(Tag { code, value, pos });
        if is_eof {
            info.missing_eof = false;
            info.junk_after_eof = i < bytes.len();
            break;
        }
    }
    if any_cp1252 {
        info.encoding = "cp1252";
    }
    Ok((tags, info))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_stops_at_eof_and_flags_junk() {
        let (tags, info) =
            tokenize(b"0\nSECTION\n2\nENTITIES\n0\nENDSEC\n0\nEOF\ngarbage\n").unwrap();
        assert_eq!(tags.len(), 4);
        assert!(info.junk_after_eof);
        assert!(!info.missing_eof);
    }

    #[test]
    fn ascii_bad_group_code_names_line() {
        let err = tokenize(b"0\nSECTION\nxx\nfoo\n").unwrap_err();
        assert_eq!(err.code(), "dxf_parse_error");
        assert!(err.to_string().contains("line 3"), "{err}");
    }

    #[test]
    fn cp1252_is_decoded() {
        let (tags, info) = tokenize(b"0\nSECTION\n1\ncaf\xe9 \x80\n").unwrap();
        assert_eq!(info.encoding, "cp1252");
        assert_eq!(tags[1].str(), "caf\u{e9} \u{20ac}");
    }

    #[test]
    fn binary_truncated_is_an_error_with_offset() {
        let mut b = BINARY_SENTINEL.to_vec();
        b.extend_from_slice(b"\0\0SECTION\0\x0a\0\x01\x02");
        let err = tokenize(&b).unwrap_err();
        assert!(err.to_string().contains("byte offset"), "{err}");
    }
}
