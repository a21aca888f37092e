//! Points (which are also vectors: a point minus a point), polyline vertices and
//! bounding boxes.

use std::ops::{Add, Mul, Neg, Sub};

use serde::{Deserialize, Serialize};

/// A point in the plane, or the vector from the origin to it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub x: f64,
    pub y: f64,
}

impl Point {
    pub const fn new(x: f64, y: f64) -> Self {
        Point { x, y }
    }
    pub fn dist(self, o: Point) -> f64 {
        (self.x - o.x).hypot(self.y - o.y)
    }
    /// Length of the vector.
    pub fn length(self) -> f64 {
        self.x.hypot(self.y)
    }
    pub fn dot(self, o: Point) -> f64 {
        self.x * o.x + self.y * o.y
    }
    /// The z component of the cross product: positive when `o` turns
    /// counter-clockwise from `self`.
    pub fn cross(self, o: Point) -> f64 {
        self.x * o.y - self.y * o.x
    }
    /// The unit vector of the same direction; the x axis for the zero vector (a
    /// direction is always needed where this is used, and any will do there).
    pub fn unit(self) -> Point {
        let l = self.length();
        if l > 0.0 {
            self * (1.0 / l)
        } else {
            Point::new(1.0, 0.0)
        }
    }
    /// The vector turned a quarter turn counter-clockwise (to the left of the
    /// direction of travel).
    pub fn left(self) -> Point {
        Point::new(-self.y, self.x)
    }
    pub fn midpoint(self, o: Point) -> Point {
        Point::new((self.x + o.x) / 2.0, (self.y + o.y) / 2.0)
    }
}

impl Add for Point {
    type Output = Point;
    fn add(self, o: Point) -> Point {
        Point::new(self.x + o.x, self.y + o.y)
    }
}

impl Sub for Point {
    type Output = Point;
    fn sub(self, o: Point) -> Point {
        Point::new(self.x - o.x, self.y - o.y)
    }
}

impl Mul<f64> for Point {
    type Output = Point;
    fn mul(self, k: f64) -> Point {
        Point::new(self.x * k, self.y * k)
    }
}

impl Neg for Point {
    type Output = Point;
    fn neg(self) -> Point {
        Point::new(-self.x, -self.y)
    }
}

/// A polyline vertex with the bulge of the segment starting at it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Vertex {
    pub x: f64,
    pub y: f64,
    pub bulge: f64,
}

impl Vertex {
    pub const fn new(x: f64, y: f64, bulge: f64) -> Self {
        Vertex { x, y, bulge }
    }
    pub fn point(&self) -> Point {
        Point::new(self.x, self.y)
    }
}

/// An axis-aligned bounding box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bbox {
    pub min_x: f64,
    pub min_y: f64,
    pub max_x: f64,
    pub max_y: f64,
}

impl Default for Bbox {
    fn default() -> Self {
        Self::EMPTY
    }
}

impl Bbox {
    pub const EMPTY: Bbox = Bbox {
        min_x: f64::INFINITY,
        min_y: f64::INFINITY,
        max_x: f64::NEG_INFINITY,
        max_y: f64::NEG_INFINITY,
    };
    /// The box `[min_x, min_y, max_x, max_y]` (as reports write it).
    pub const fn from_array([min_x, min_y, max_x, max_y]: [f64; 4]) -> Bbox {
        Bbox {
            min_x,
            min_y,
            max_x,
            max_y,
        }
    }
    /// The box of some points (empty for none).
    pub fn around(points: impl IntoIterator<Item = Point>) -> Bbox {
        let mut bb = Bbox::EMPTY;
        for p in points {
            bb.add(p);
        }
        bb
    }
    pub fn is_empty(&self) -> bool {
        self.min_x > self.max_x
    }
    pub fn add(&mut self, p: Point) {
        self.min_x = self.min_x.min(p.x);
        self.min_y = self.min_y.min(p.y);
        self.max_x = self.max_x.max(p.x);
        self.max_y = self.max_y.max(p.y);
    }
    pub fn union(&mut self, o: &Bbox) {
        if !o.is_empty() {
            self.add(Point::new(o.min_x, o.min_y));
            self.add(Point::new(o.max_x, o.max_y));
        }
    }
    pub fn width(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.max_x - self.min_x
        }
    }
    pub fn height(&self) -> f64 {
        if self.is_empty() {
            0.0
        } else {
            self.max_y - self.min_y
        }
    }
    pub fn to_array(&self) -> Option<[f64; 4]> {
        (!self.is_empty()).then_some([self.min_x, self.min_y, self.max_x, self.max_y])
    }
    /// `self` contains `o` (with a tolerance).
    pub fn contains(&self, o: &Bbox, tol: f64) -> bool {
        o.min_x >= self.min_x - tol
            && o.min_y >= self.min_y - tol
            && o.max_x <= self.max_x + tol
            && o.max_y <= self.max_y + tol
    }
    /// Distance between two boxes (0 when they overlap).
    pub fn distance(&self, o: &Bbox) -> f64 {
        let dx = (o.min_x - self.max_x).max(self.min_x - o.max_x).max(0.0);
        let dy = (o.min_y - self.max_y).max(self.min_y - o.max_y).max(0.0);
        dx.hypot(dy)
    }
}
