//! Affine maps of the plane: block inserts, mirrors, placements.

use super::point::Point;

/// A 2D affine map: `x' = a x + b y + e`, `y' = c x + d y + f`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine {
    pub a: f64,
    pub b: f64,
    pub c: f64,
    pub d: f64,
    pub e: f64,
    pub f: f64,
}

impl Affine {
    pub const IDENTITY: Affine = Affine {
        a: 1.0,
        b: 0.0,
        c: 0.0,
        d: 1.0,
        e: 0.0,
        f: 0.0,
    };
    pub fn translate(x: f64, y: f64) -> Self {
        Affine {
            e: x,
            f: y,
            ..Self::IDENTITY
        }
    }
    pub fn scale(sx: f64, sy: f64) -> Self {
        Affine {
            a: sx,
            d: sy,
            ..Self::IDENTITY
        }
    }
    pub fn rotate(rad: f64) -> Self {
        let (s, c) = rad.sin_cos();
        Affine {
            a: c,
            b: -s,
            c: s,
            d: c,
            e: 0.0,
            f: 0.0,
        }
    }
    /// First `self`, then `next`.
    pub fn then(&self, next: &Affine) -> Affine {
        Affine {
            a: next.a * self.a + next.b * self.c,
            b: next.a * self.b + next.b * self.d,
            c: next.c * self.a + next.d * self.c,
            d: next.c * self.b + next.d * self.d,
            e: next.a * self.e + next.b * self.f + next.e,
            f: next.c * self.e + next.d * self.f + next.f,
        }
    }
    pub fn apply(&self, p: Point) -> Point {
        Point::new(
            self.a * p.x + self.b * p.y + self.e,
            self.c * p.x + self.d * p.y + self.f,
        )
    }
    pub fn det(&self) -> f64 {
        self.a * self.d - self.b * self.c
    }
    /// A similarity (rotation, uniform scale, maybe a mirror): circles stay circles.
    pub fn is_conformal(&self) -> bool {
        let s = self
            .a
            .abs()
            .max(self.b.abs())
            .max(self.c.abs())
            .max(self.d.abs());
        if s == 0.0 {
            return false;
        }
        let tol = 1e-9 * s;
        ((self.a - self.d).abs() <= tol && (self.b + self.c).abs() <= tol)
            || ((self.a + self.d).abs() <= tol && (self.b - self.c).abs() <= tol)
    }
    /// The largest stretch of the linear part.
    pub fn max_scale(&self) -> f64 {
        let n1 = self.a.hypot(self.c);
        let n2 = self.b.hypot(self.d);
        n1.max(n2).max(1e-300)
    }
}
