//! JSON bodies: parsed as the framework parses them, with one difference.
//! A body field the endpoint does not know is refused as a misspelt query
//! parameter or form field is (400 `unknown_field`, naming the closest
//! known field through [`crate::error::unknown_field_message`]) rather
//! than with the deserializer's raw text under `invalid_json`.

use axum::extract::{FromRequest, Request};
use serde::de::{self, DeserializeOwned, Visitor};
use serde_json::value::RawValue;

use crate::error::{ApiError, Code};

/// `Json` whose rejection is our JSON error, with unknown top-level fields
/// answered as `unknown_field`.
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // The content type, the body limit and the JSON syntax are checked
        // as before, with the same rejections; the text is kept so that
        // a body `T` refuses can be looked at again.
        let axum::Json(raw) = axum::Json::<Box<RawValue>>::from_request(req, state).await?;
        parse_body(raw.get(), &|_| None).map(ApiJson)
    }
}

/// `body` as a `T`; refused as [`ApiJson`] refuses it, and when `T` refuses
/// it, with `nested`'s refusal of an unknown field inside (see
/// [`unknown_item_field`]) before the deserializer's text.
pub fn parse_body<T: DeserializeOwned>(
    body: &str,
    nested: &dyn Fn(&str) -> Option<ApiError>,
) -> Result<T, ApiError> {
    match axum::Json::<T>::from_bytes(body.as_bytes()) {
        Ok(axum::Json(value)) => Ok(value),
        Err(rejection) => Err(unknown_top_level_field::<T>(body)
            .or_else(|| nested(body))
            .unwrap_or_else(|| rejection.into())),
    }
}

/// The refusal of the first field of an object of the list `list` in `body`
/// that neither `Item`'s fields nor `also` include, named by its place
/// (`jobs[1].kidn`): the nodes of a flow are job requests with a name.
pub fn unknown_item_field<Item: DeserializeOwned>(
    body: &str,
    list: &str,
    also: &[&'static str],
) -> Option<ApiError> {
    let known: Vec<&str> = struct_fields::<Item>()?
        .iter()
        .chain(also)
        .copied()
        .collect();
    let given: std::collections::BTreeMap<String, serde_json::Value> =
        serde_json::from_str(body).ok()?;
    let items = given.get(list)?.as_array()?;
    items.iter().enumerate().find_map(|(i, item)| {
        let unknown = item
            .as_object()?
            .keys()
            .find(|k| !known.contains(&k.as_str()))?;
        Some(ApiError::new(
            Code::UnknownField,
            format!(
                "{list}[{i}]: {}",
                crate::error::unknown_field_message(unknown, known.iter().copied())
            ),
        ))
    })
}

/// The refusal of the first field of `body` (a JSON object) that `T`'s
/// fields do not include; `None` when `T` is not a struct with named fields
/// (a map, a bare value) or every field is known.
fn unknown_top_level_field<T: DeserializeOwned>(body: &str) -> Option<ApiError> {
    let known = struct_fields::<T>()?;
    let given: std::collections::BTreeMap<String, de::IgnoredAny> =
        serde_json::from_str(body).ok()?;
    let unknown = given.keys().find(|name| !known.contains(&name.as_str()))?;
    Some(ApiError::new(
        Code::UnknownField,
        crate::error::unknown_field_message(unknown, known.iter().copied()),
    ))
}

/// The field names `T`'s derived `Deserialize` knows, as serde itself
/// lists them (renames applied), so no list is written twice; `None` when
/// `T` does not deserialize from a struct.
pub fn struct_fields<T: DeserializeOwned>() -> Option<&'static [&'static str]> {
    match T::deserialize(FieldProbe) {
        Err(Probed::Fields(fields)) => Some(fields),
        _ => None,
    }
}

/// A deserializer that answers nothing: it only records the fields a
/// struct asks it for.
struct FieldProbe;

#[derive(Debug)]
enum Probed {
    Fields(&'static [&'static str]),
    NotAStruct,
}

impl std::fmt::Display for Probed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("field probe")
    }
}

impl std::error::Error for Probed {}

impl de::Error for Probed {
    fn custom<M: std::fmt::Display>(_: M) -> Self {
        Probed::NotAStruct
    }
}

impl<'de> de::Deserializer<'de> for FieldProbe {
    type Error = Probed;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Probed> {
        Err(Probed::NotAStruct)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Probed> {
        Err(Probed::Fields(fields))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Probe {
        width: f64,
        #[serde(rename = "mat")]
        material: Option<String>,
    }

    #[test]
    fn the_fields_are_serdes_own_list_and_maps_have_none() {
        assert_eq!(struct_fields::<Probe>(), Some(&["width", "mat"][..]));
        assert_eq!(struct_fields::<serde_json::Value>(), None);
        assert_eq!(
            struct_fields::<serde_json::Map<String, serde_json::Value>>(),
            None
        );
        assert_eq!(struct_fields::<Vec<Probe>>(), None);
    }

    #[test]
    fn an_unknown_field_is_named_with_the_closest_known_one() {
        let e = unknown_top_level_field::<Probe>(r#"{"width": 1, "widht": 2}"#)
            .map(|e| (e.code, e.message));
        assert_eq!(
            e,
            Some((
                Code::UnknownField,
                r#"unknown field "widht"; did you mean "width"?"#.to_owned()
            ))
        );
        assert!(unknown_top_level_field::<Probe>(r#"{"width": "x"}"#).is_none());
        assert!(unknown_top_level_field::<Probe>("[1]").is_none());
    }
}
