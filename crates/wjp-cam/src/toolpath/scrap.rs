//! The scrap test of leads: is a point in scrap (inside an even number of the
//! drawing's closed contours) and clear of every drawn contour? The contours are
//! kept flattened, with a coarse grid of their boxes for lookups.

use wjp_geometry::geom::point_in_ring;
use wjp_geometry::{Bbox, Path, Point};

use super::CutContour;

/// Closed contours are flattened this finely (mm) for the inside test.
const FLATTEN_TOL: f64 = 0.01;

/// The drawn contours, flattened, with a coarse grid for lookups.
pub(super) struct Obstacles {
    paths: Vec<Path>,
    polys: Vec<Option<Vec<Point>>>,
    bboxes: Vec<[f64; 4]>,
    grid: Vec<Vec<usize>>,
    /// Contours whose box covers too many cells: always checked.
    big: Vec<usize>,
    origin: Point,
    cell: f64,
    nx: usize,
    ny: usize,
}

impl Obstacles {
    pub(super) fn new(contours: &[CutContour], margin: f64) -> Obstacles {
        // An empty contour counts as a box at the origin.
        let bboxes: Vec<[f64; 4]> = contours
            .iter()
            .map(|c| c.path.bbox().to_array().unwrap_or([0.0; 4]))
            .collect();
        let extent = Bbox::around(
            bboxes
                .iter()
                .flat_map(|b| [Point::new(b[0], b[1]), Point::new(b[2], b[3])]),
        );
        let all = extent.to_array().unwrap_or([0.0, 0.0, 1.0, 1.0]);
        let w = (all[2] - all[0]).max(1.0);
        let h = (all[3] - all[1]).max(1.0);
        let n = (contours.len() as f64).sqrt().ceil().clamp(1.0, 128.0);
        let cell = (w.max(h) / n).max(1.0);
        let nx = ((w / cell).ceil() as usize + 1).min(256);
        let ny = ((h / cell).ceil() as usize + 1).min(256);
        let cell = (w / (nx as f64 - 0.5))
            .max(h / (ny as f64 - 0.5))
            .max(cell.min(1.0));
        let origin = Point::new(all[0], all[1]);
        let mut grid = vec![Vec::new(); nx * ny];
        let mut big = Vec::new();
        for (i, b) in bboxes.iter().enumerate() {
            let (x0, y0) = cell_of(origin, cell, nx, ny, b[0] - margin, b[1] - margin);
            let (x1, y1) = cell_of(origin, cell, nx, ny, b[2] + margin, b[3] + margin);
            if (x1 - x0 + 1) * (y1 - y0 + 1) > 256 {
                big.push(i);
                continue;
            }
            for gy in y0..=y1 {
                for gx in x0..=x1 {
                    grid[gy * nx + gx].push(i);
                }
            }
        }
        Obstacles {
            paths: contours.iter().map(|c| c.path.clone()).collect(),
            polys: contours
                .iter()
                .map(|c| c.path.closed.then(|| c.path.flatten(FLATTEN_TOL)))
                .collect(),
            bboxes,
            grid,
            big,
            origin,
            cell,
            nx,
            ny,
        }
    }

    fn near(&self, p: Point) -> impl Iterator<Item = &usize> {
        let outside = p.x < self.origin.x - self.cell
            || p.y < self.origin.y - self.cell
            || p.x > self.origin.x + self.cell * (self.nx as f64 + 1.0)
            || p.y > self.origin.y + self.cell * (self.ny as f64 + 1.0);
        let cell: &[usize] = if outside {
            &[]
        } else {
            let (gx, gy) = cell_of(self.origin, self.cell, self.nx, self.ny, p.x, p.y);
            &self.grid[gy * self.nx + gx]
        };
        cell.iter().chain(self.big.iter())
    }

    /// Is `p` in scrap (inside an even number of closed contours) and at least
    /// `clearance` from every drawn contour?
    pub(super) fn is_clear_scrap(&self, p: Point, clearance: f64) -> bool {
        let mut inside = 0usize;
        for &i in self.near(p) {
            let b = self.bboxes[i];
            if p.x < b[0] - clearance
                || p.x > b[2] + clearance
                || p.y < b[1] - clearance
                || p.y > b[3] + clearance
            {
                continue;
            }
            if self.paths[i].distance_to(p) < clearance {
                return false;
            }
            if let Some(poly) = &self.polys[i] {
                if p.x >= b[0]
                    && p.x <= b[2]
                    && p.y >= b[1]
                    && p.y <= b[3]
                    && point_in_ring(p, poly)
                {
                    inside += 1;
                }
            }
        }
        inside.is_multiple_of(2)
    }
}

fn cell_of(origin: Point, cell: f64, nx: usize, ny: usize, x: f64, y: f64) -> (usize, usize) {
    let gx = ((x - origin.x) / cell).floor().clamp(0.0, (nx - 1) as f64) as usize;
    let gy = ((y - origin.y) / cell).floor().clamp(0.0, (ny - 1) as f64) as usize;
    (gx, gy)
}
