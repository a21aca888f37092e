//! The one DXF writer: an R2000 (AC1015) ASCII file of LWPOLYLINEs (closed or
//! open, arcs as bulges) on named layers, in millimetres. HEADER with `$INSUNITS = 4`
//! and `$MEASUREMENT = 1` and the drawing's extents, the symbol tables a reader
//! expects (LTYPE, LAYER, STYLE, APPID, DIMSTYLE, BLOCK_RECORD...), the model and
//! paper space blocks, ENTITIES, and a root dictionary in OBJECTS. Every object has
//! a handle and its owner, so CAD programs that check them accept the file, and
//! [`crate::load_drawing`] reads it back exactly (to the 6 decimals written).

use std::fmt::Write;

use crate::geom::Vertex;
use crate::number::decimal;

/// A layer and its colour (AutoCAD colour index: 1 red, 2 yellow, 5 blue, 7 white).
pub struct Layer<'a> {
    pub name: &'a str,
    pub color: i16,
}

/// One LWPOLYLINE: its layer, its vertices in mm (bulges for arcs), and whether it
/// closes back to its first vertex.
pub struct Polyline<'a> {
    pub layer: &'a str,
    pub vertices: &'a [Vertex],
    pub closed: bool,
}

/// A coordinate or bulge: up to 6 decimals (a nanometre), always with a decimal
/// point, as real-valued group codes are written by CAD programs.
fn num(v: f64) -> String {
    let s = decimal(v, 6);
    if s.contains('.') {
        s
    } else {
        s + ".0"
    }
}

struct Out {
    s: String,
    next_handle: u32,
}

impl Out {
    fn pair(&mut self, code: i32, value: impl std::fmt::Display) {
        let _ = write!(self.s, "{code:>3}\n{value}\n");
    }
    fn handle(&mut self) -> String {
        let h = format!("{:X}", self.next_handle);
        self.next_handle += 1;
        h
    }
    fn table(&mut self, name: &str, count: usize) -> String {
        self.pair(0, "TABLE");
        self.pair(2, name);
        let h = self.handle();
        self.pair(5, &h);
        self.pair(330, "0");
        self.pair(100, "AcDbSymbolTable");
        self.pair(70, count);
        h
    }
    /// A table of one record, `name`, with flags 0 and then `fields`.
    fn table_of_one(&mut self, table: &str, subclass: &str, name: &str, fields: &[(i32, &str)]) {
        let t = self.table(table, 1);
        self.record(table, &t, subclass);
        self.pair(2, name);
        self.pair(70, 0);
        for (code, value) in fields {
            self.pair(*code, value);
        }
        self.pair(0, "ENDTAB");
    }
    /// A DICTIONARY object with a fixed handle, its owner, and at most one entry
    /// (name, handle).
    fn dictionary(&mut self, handle: &str, owner: &str, entry: Option<(&str, &str)>) {
        self.pair(0, "DICTIONARY");
        self.pair(5, handle);
        self.pair(330, owner);
        self.pair(100, "AcDbDictionary");
        self.pair(281, 1);
        if let Some((name, target)) = entry {
            self.pair(3, name);
            self.pair(350, target);
        }
    }
    fn record(&mut self, kind: &str, owner: &str, subclass: &str) -> String {
        self.pair(0, kind);
        let h = self.handle();
        self.pair(5, &h);
        self.pair(330, owner);
        self.pair(100, "AcDbSymbolTableRecord");
        self.pair(100, subclass);
        h
    }
}

/// The whole file. `comment` is written as a DXF comment at the top; layer `0`
/// is always defined, `layers` are added after it; `extents` is `[min_x, min_y,
/// max_x, max_y]` in mm.
pub fn write_dxf(
    comment: &str,
    layers: &[Layer<'_>],
    polylines: &[Polyline<'_>],
    extents: [f64; 4],
) -> String {
    let mut o = Out {
        s: String::new(),
        next_handle: 0x20,
    };
    // Fixed handles: model and paper space block records.
    let (ms_rec, ps_rec) = ("1F".to_string(), "1E".to_string());

    o.pair(999, comment);
    o.pair(0, "SECTION");
    o.pair(2, "HEADER");
    o.pair(9, "$ACADVER");
    o.pair(1, "AC1015");
    o.pair(9, "$INSUNITS");
    o.pair(70, 4);
    o.pair(9, "$MEASUREMENT");
    o.pair(70, 1);
    o.pair(9, "$EXTMIN");
    o.pair(10, num(extents[0]));
    o.pair(20, num(extents[1]));
    o.pair(30, "0.0");
    o.pair(9, "$EXTMAX");
    o.pair(10, num(extents[2]));
    o.pair(20, num(extents[3]));
    o.pair(30, "0.0");
    // The handle seed is patched in at the end.
    o.pair(9, "$HANDSEED");
    o.pair(5, "@HANDSEED@");
    o.pair(0, "ENDSEC");

    o.pair(0, "SECTION");
    o.pair(2, "TABLES");

    let t = o.table("VPORT", 0);
    let _ = t;
    o.pair(0, "ENDTAB");

    let t = o.table("LTYPE", 3);
    for name in ["ByBlock", "ByLayer", "Continuous"] {
        o.record("LTYPE", &t, "AcDbLinetypeTableRecord");
        o.pair(2, name);
        o.pair(70, 0);
        o.pair(
            3,
            if name == "Continuous" {
                "Solid line"
            } else {
                ""
            },
        );
        o.pair(72, 65);
        o.pair(73, 0);
        o.pair(40, "0.0");
    }
    o.pair(0, "ENDTAB");

    let t = o.table("LAYER", layers.len() + 1);
    for (name, color) in std::iter::once(("0", 7)).chain(layers.iter().map(|l| (l.name, l.color))) {
        o.record("LAYER", &t, "AcDbLayerTableRecord");
        o.pair(2, name);
        o.pair(70, 0);
        o.pair(62, color);
        o.pair(6, "Continuous");
    }
    o.pair(0, "ENDTAB");

    let standard_style = [
        (40, "0.0"),
        (41, "1.0"),
        (50, "0.0"),
        (71, "0"),
        (42, "2.5"),
        (3, "txt"),
        (4, ""),
    ];
    o.table_of_one(
        "STYLE",
        "AcDbTextStyleTableRecord",
        "Standard",
        &standard_style,
    );

    for name in ["VIEW", "UCS"] {
        o.table(name, 0);
        o.pair(0, "ENDTAB");
    }

    o.table_of_one("APPID", "AcDbRegAppTableRecord", "ACAD", &[]);

    let t = o.table("DIMSTYLE", 1);
    o.pair(100, "AcDbDimStyleTable");
    o.pair(0, "DIMSTYLE");
    let h = o.handle();
    o.pair(105, h);
    o.pair(330, &t);
    o.pair(100, "AcDbSymbolTableRecord");
    o.pair(100, "AcDbDimStyleTableRecord");
    o.pair(2, "Standard");
    o.pair(70, 0);
    o.pair(0, "ENDTAB");

    let t = o.table("BLOCK_RECORD", 2);
    for (h, name) in [(&ms_rec, "*Model_Space"), (&ps_rec, "*Paper_Space")] {
        o.pair(0, "BLOCK_RECORD");
        o.pair(5, h);
        o.pair(330, &t);
        o.pair(100, "AcDbSymbolTableRecord");
        o.pair(100, "AcDbBlockTableRecord");
        o.pair(2, name);
    }
    o.pair(0, "ENDTAB");
    o.pair(0, "ENDSEC");

    o.pair(0, "SECTION");
    o.pair(2, "BLOCKS");
    for (rec, name) in [(&ms_rec, "*Model_Space"), (&ps_rec, "*Paper_Space")] {
        // BLOCK and ENDBLK open alike: handle, owner, entity, space, layer.
        let head = |o: &mut Out, kind: &str| {
            o.pair(0, kind);
            let h = o.handle();
            o.pair(5, h);
            o.pair(330, rec);
            o.pair(100, "AcDbEntity");
            if name == "*Paper_Space" {
                o.pair(67, 1);
            }
            o.pair(8, "0");
        };
        head(&mut o, "BLOCK");
        o.pair(100, "AcDbBlockBegin");
        o.pair(2, name);
        o.pair(70, 0);
        o.pair(10, "0.0");
        o.pair(20, "0.0");
        o.pair(30, "0.0");
        o.pair(3, name);
        o.pair(1, "");
        head(&mut o, "ENDBLK");
        o.pair(100, "AcDbBlockEnd");
    }
    o.pair(0, "ENDSEC");

    o.pair(0, "SECTION");
    o.pair(2, "ENTITIES");
    for e in polylines {
        o.pair(0, "LWPOLYLINE");
        let h = o.handle();
        o.pair(5, h);
        o.pair(330, &ms_rec);
        o.pair(100, "AcDbEntity");
        o.pair(8, e.layer);
        o.pair(100, "AcDbPolyline");
        o.pair(90, e.vertices.len());
        o.pair(70, u8::from(e.closed));
        o.pair(43, "0.0");
        for v in e.vertices {
            o.pair(10, num(v.x));
            o.pair(20, num(v.y));
            if v.bulge != 0.0 {
                o.pair(42, num(v.bulge));
            }
        }
    }
    o.pair(0, "ENDSEC");

    o.pair(0, "SECTION");
    o.pair(2, "OBJECTS");
    // The root dictionary (handle C) names the empty group dictionary (D).
    o.dictionary("C", "0", Some(("ACAD_GROUP", "D")));
    o.dictionary("D", "C", None);
    o.pair(0, "ENDSEC");
    o.pair(0, "EOF");

    let seed = format!("{:X}", o.next_handle);
    o.s.replacen("@HANDSEED@", &seed, 1)
}
