//! CSV analysis (tests come with the analysis).
