//! The name a person most likely meant, for the "did you mean" of a
//! refusal. Every crate's messages use this one measure, so a typo is
//! caught (or not) the same way at every door.

/// The closest of `known` to `given`, when it is close enough to be what
/// was meant (a typo, not another word).
pub fn closest<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let given = given.to_ascii_lowercase();
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(&given, k), k))
        // Within a third of the word, at least one edit: `materail`,
        // `thicknes` and `time_limit` are found, `colour` is not `kerf`.
        .filter(|(d, k)| *d <= (k.len().max(given.len()) / 3).max(1))
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::closest;

    #[test]
    fn typos_are_found_and_other_words_are_not() {
        let known = ["material", "thickness", "kerf"];
        assert_eq!(closest("materail", known), Some("material"));
        assert_eq!(closest("Thicknes", known), Some("thickness"));
        assert_eq!(closest("colour", known), None);
    }
}
