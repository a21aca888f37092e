//! Outlines of the foreground along pixel edges ("crack following"), with nesting.
//!
//! Every boundary between a foreground and a background pixel is a unit edge on the
//! pixel-corner grid, directed with the foreground on its right (screen coordinates,
//! y down). Following the edges gives closed loops: outer boundaries run clockwise on
//! screen (positive shoelace area in image coordinates), holes counter-clockwise.
//! At a saddle (two diagonal foreground pixels) the walk turns left, which keeps
//! diagonal neighbours in one outline: the foreground is 8-connected, the background
//! 4-connected, so every outline separates exactly one foreground component from
//! exactly one background component.
//!
//! Invariant: the area enclosed by an outline is exactly its pixel count (plus the
//! pixels of everything nested inside it), because the outline runs along pixel edges.
//!
//! Nesting comes from connected components, not from point-in-polygon tests: a hole's
//! parent is the outline of the foreground component it bounds; an island's parent is
//! the hole outline of the background component around it. Linear in the pixel count.
//!
//! Memory: outlines enclosing fewer pixels than `min_area_px` (specks) are counted
//! and forgotten as they are found, and the kept outlines' total length is capped,
//! so a small file of many tiny outlines (a checkerboard) cannot claim gigabytes.
//! Anything nested in a speck is a speck too: it encloses no more pixels.

const E: u8 = 1;
const S: u8 = 2;
const W: u8 = 4;
const N: u8 = 8;

fn left_of(d: u8) -> u8 {
    match d {
        E => N,
        S => E,
        W => S,
        _ => W,
    }
}

/// One closed outline on the pixel-corner grid of the image (corner (0, 0) is the
/// top-left of the top-left pixel).
#[derive(Debug, Clone)]
pub(crate) struct Outline {
    /// Corners only (where the direction changes), in walk order.
    pub corners: Vec<[i32; 2]>,
    /// Twice the signed area in image coordinates: > 0 outer, < 0 hole.
    pub area2: i64,
    /// Index of the enclosing outline, if any.
    pub parent: Option<usize>,
    pub depth: u32,
}

impl Outline {
    pub fn is_hole(&self) -> bool {
        self.area2 < 0
    }
    pub fn area_px(&self) -> f64 {
        self.area2.unsigned_abs() as f64 / 2.0
    }
}

struct UnionFind(Vec<u32>);

impl UnionFind {
    fn find(&mut self, mut x: u32) -> u32 {
        let mut root = x;
        while self.0[root as usize] != root {
            root = self.0[root as usize];
        }
        while self.0[x as usize] != root {
            let next = self.0[x as usize];
            self.0[x as usize] = root;
            x = next;
        }
        root
    }
    fn union(&mut self, a: u32, b: u32) {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra != rb {
            // Keep the smaller index as root: the outside (index 0) stays its own root.
            let (lo, hi) = if ra < rb { (ra, rb) } else { (rb, ra) };
            self.0[hi as usize] = lo;
        }
    }
}

/// The outlines kept, and how many specks were dropped on the way.
#[derive(Debug, Default)]
pub(crate) struct Traced {
    /// Outlines enclosing at least `min_area_px` pixels.
    pub outlines: Vec<Outline>,
    /// Specks whose enclosing outline was kept (or that lie in the outside).
    pub below_min_area: usize,
    /// Specks inside another speck.
    pub inside_dropped: usize,
}

impl Traced {
    pub fn found(&self) -> usize {
        self.outlines.len() + self.below_min_area + self.inside_dropped
    }
}

/// Trace the outlines of `fg` (`width * height`, row-major) enclosing at least
/// `min_area_px` pixels. `Err(edges)` when the kept outlines run over `max_points`
/// unit edges in total, or one outline does while it is walked.
pub(crate) fn trace(
    fg: &[bool],
    width: usize,
    height: usize,
    min_area_px: f64,
    max_points: u64,
) -> Result<Traced, u64> {
    // Padded grid: a one-pixel background ring, so every outline is closed and the
    // outside background is one component containing padded pixel 0.
    let pw = width + 2;
    let ph = height + 2;
    let mut padded = vec![false; pw * ph];
    for y in 1..=height {
        padded[y * pw + 1..y * pw + 1 + width].copy_from_slice(&fg[(y - 1) * width..y * width]);
    }
    let is_fg = |x: usize, y: usize| padded[y * pw + x];

    // Components: foreground 8-connected, background 4-connected.
    let mut uf = UnionFind((0..(pw * ph) as u32).collect());
    for y in 0..ph {
        for x in 0..pw {
            let i = (y * pw + x) as u32;
            let v = is_fg(x, y);
            if x > 0 && is_fg(x - 1, y) == v {
                uf.union(i, i - 1);
            }
            if y > 0 {
                let up = i - pw as u32;
                if is_fg(x, y - 1) == v {
                    uf.union(i, up);
                }
                if v {
                    if x > 0 && is_fg(x - 1, y - 1) {
                        uf.union(i, up - 1);
                    }
                    if x + 1 < pw && is_fg(x + 1, y - 1) {
                        uf.union(i, up + 1);
                    }
                }
            }
        }
    }

    // Directed boundary edges, as out-direction bits per corner: low nibble unused,
    // high nibble all.
    let vw = pw + 1;
    let mut edges = vec![0u8; vw * (ph + 1)];
    for y in 1..ph - 1 {
        for x in 1..pw - 1 {
            if !is_fg(x, y) {
                continue;
            }
            if !is_fg(x, y - 1) {
                edges[y * vw + x] |= E;
            }
            if !is_fg(x + 1, y) {
                edges[y * vw + x + 1] |= S;
            }
            if !is_fg(x, y + 1) {
                edges[(y + 1) * vw + x + 1] |= W;
            }
            if !is_fg(x - 1, y) {
                edges[(y + 1) * vw + x] |= N;
            }
        }
    }
    for e in edges.iter_mut() {
        *e |= *e << 4;
    }

    let outside = uf.find(0);
    let mut outlines = Vec::new();
    let mut fg_comp = Vec::new();
    let mut bg_comp = Vec::new();
    // Dropped specks, remembered only by the component whose outline would be
    // their parent (4 bytes each), to tell afterwards whether that one was kept:
    // holes by their foreground, outers by the background around them.
    let mut hole_specks: Vec<u32> = Vec::new();
    let mut outer_specks: Vec<u32> = Vec::new();
    let mut kept_points = 0u64;
    // One buffer for every walk: most outlines of a noisy image are specks.
    let mut corners: Vec<[i32; 2]> = Vec::new();
    for start in 0..edges.len() {
        while edges[start] & 0x0f != 0 {
            let start_dir = edges[start] & edges[start].wrapping_neg() & 0x0f;
            let (sx, sy) = (start % vw, start / vw);
            // The pixels right (foreground) and left (background) of the first edge.
            let (f, b) = match start_dir {
                E => ((sx, sy), (sx, sy - 1)),
                S => ((sx - 1, sy), (sx, sy)),
                W => ((sx - 1, sy - 1), (sx - 1, sy)),
                _ => ((sx, sy - 1), (sx - 1, sy - 1)),
            };
            let (fc, bc) = (
                uf.find((f.1 * pw + f.0) as u32),
                uf.find((b.1 * pw + b.0) as u32),
            );

            corners.clear();
            let mut steps = 0u64;
            let mut area2: i64 = 0;
            let (mut v, mut d) = (start, start_dir);
            let mut prev_dir = 0u8;
            loop {
                let (x, y) = ((v % vw) as i64, (v / vw) as i64);
                if d != prev_dir {
                    // Padded corner (x, y) is image corner (x - 1, y - 1).
                    corners.push([(x - 1) as i32, (y - 1) as i32]);
                }
                edges[v] &= !d;
                steps += 1;
                // One outline this long is refused whatever its area: its corners
                // are what would take the memory.
                if steps > max_points {
                    return Err(steps);
                }
                let next = match d {
                    E => v + 1,
                    S => v + vw,
                    W => v - 1,
                    _ => v - vw,
                };
                let (nx, ny) = ((next % vw) as i64, (next / vw) as i64);
                area2 += x * ny - nx * y;
                prev_dir = d;
                v = next;
                let all = edges[v] >> 4;
                d = if all.count_ones() == 2 {
                    left_of(d)
                } else {
                    all
                };
                if v == start && d == start_dir {
                    break;
                }
            }
            // The first corner is a real corner only if the walk turns there.
            if prev_dir == start_dir && corners.len() > 1 {
                corners.remove(0);
            }
            if (area2.unsigned_abs() as f64 / 2.0) < min_area_px {
                if area2 < 0 {
                    hole_specks.push(fc);
                } else {
                    outer_specks.push(bc);
                }
                continue;
            }
            kept_points += steps;
            if kept_points > max_points {
                return Err(kept_points);
            }
            fg_comp.push(fc);
            bg_comp.push(bc);
            outlines.push(Outline {
                corners: corners.clone(),
                area2,
                parent: None,
                depth: 0,
            });
        }
    }
    drop(edges);
    drop(uf);

    // Nesting from components.
    use std::collections::HashMap;
    let mut outer_of: HashMap<u32, usize> = HashMap::new();
    let mut hole_of: HashMap<u32, usize> = HashMap::new();
    for (i, o) in outlines.iter().enumerate() {
        if o.is_hole() {
            hole_of.insert(bg_comp[i], i);
        } else {
            outer_of.insert(fg_comp[i], i);
        }
    }
    for i in 0..outlines.len() {
        outlines[i].parent = if outlines[i].is_hole() {
            outer_of.get(&fg_comp[i]).copied()
        } else if bg_comp[i] == outside {
            None
        } else {
            hole_of.get(&bg_comp[i]).copied()
        };
    }
    for i in 0..outlines.len() {
        let mut depth = 0u32;
        let mut p = outlines[i].parent;
        while let Some(j) = p {
            depth += 1;
            if depth as usize > outlines.len() {
                break;
            }
            p = outlines[j].parent;
        }
        outlines[i].depth = depth;
    }
    // A speck is inside a dropped outline when the outline that would be its
    // parent (same rule as above) was not kept.
    let mut traced = Traced::default();
    let parents_kept = hole_specks.iter().map(|c| outer_of.contains_key(c)).chain(
        outer_specks
            .iter()
            .map(|c| *c == outside || hole_of.contains_key(c)),
    );
    for parent_kept in parents_kept {
        if parent_kept {
            traced.below_min_area += 1;
        } else {
            traced.inside_dropped += 1;
        }
    }
    traced.outlines = outlines;
    Ok(traced)
}
