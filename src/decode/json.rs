//! Lenient serde helpers for vendor JSON: a field whose type varies between records (a string in
//! one, an object or number in another) must never reject the whole record.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

/// A string borrowed from the input when it has no escapes; `None` for null, numbers, objects,
/// arrays and booleans (skipped without allocating).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LStr<'a>(pub Option<Cow<'a, str>>);

impl<'a> LStr<'a> {
    pub fn get(&self) -> Option<&str> {
        self.0.as_deref().filter(|s| !s.is_empty())
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for LStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LStr<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Borrowed(v))))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v.to_owned()))))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(LStr(Some(Cow::Owned(v))))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LStr(None))
            }
            fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
                d.deserialize_any(self)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LStr(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LStr(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A boolean that may also be logged as `"true"` / `"false"` (any case); other values are `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LBool(pub Option<bool>);

impl<'de> Deserialize<'de> for LBool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LBool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<LBool, E> {
                Ok(LBool(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LBool, E> {
                Ok(LBool(parse_bool_word(v)))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LBool, E> {
                Ok(LBool(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LBool, E> {
                Ok(LBool(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LBool, E> {
                Ok(LBool(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LBool, E> {
                Ok(LBool(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<LBool, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LBool(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LBool, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LBool(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// `true`/`yes` and `false`/`no`, any case.
pub fn parse_bool_word(v: &str) -> Option<bool> {
    if v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("yes") {
        Some(true)
    } else if v.eq_ignore_ascii_case("false") || v.eq_ignore_ascii_case("no") {
        Some(false)
    } else {
        None
    }
}

/// `T` when the value is a JSON object, `None` for anything else (null, string, array, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<T> Obj<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(a)).map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Obj<T>, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A number that may also be logged as a numeric string (`1710000000000`, `"1710000000000"`,
/// `1.71e12`); other values are `None`.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct LNum(pub Option<f64>);

impl LNum {
    /// As an integer (fractions truncated), when it fits.
    pub fn int(self) -> Option<i64> {
        self.0
            .filter(|v| v.is_finite() && v.abs() < 9.2e18)
            .map(|v| v as i64)
    }
}

impl<'de> Deserialize<'de> for LNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LNum;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a number")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<LNum, E> {
                Ok(LNum(Some(v as f64)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<LNum, E> {
                Ok(LNum(Some(v as f64)))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<LNum, E> {
                Ok(LNum(Some(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<LNum, E> {
                Ok(LNum(v.trim().parse::<f64>().ok().filter(|f| f.is_finite())))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LNum, E> {
                Ok(LNum(None))
            }
            fn visit_unit<E: de::Error>(self) -> Result<LNum, E> {
                Ok(LNum(None))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<LNum, A::Error> {
                while a.next_element::<IgnoredAny>()?.is_some() {}
                Ok(LNum(None))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<LNum, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LNum(None))
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of strings that may also be logged as one string; non-string elements are skipped
/// and anything else is an empty list.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct LStrs<'a>(pub Vec<Cow<'a, str>>);

impl<'de: 'a, 'a> Deserialize<'de> for LStrs<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = LStrs<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(s) = a.next_element::<LStr<'a>>()? {
                    if let Some(v) = s.0.filter(|v| !v.is_empty()) {
                        out.push(v);
                    }
                }
                Ok(LStrs(out))
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(LStrs(vec![Cow::Borrowed(v)]))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(LStrs(vec![Cow::Owned(v.to_owned())]))
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
                Ok(LStrs::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
                Ok(LStrs::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
                Ok(LStrs::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
                Ok(LStrs::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(LStrs::default())
            }
            fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Self::Value, A::Error> {
                while a.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(LStrs::default())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// A list of `T` that tolerates a single object in place of the list; elements of the wrong type
/// are skipped, anything else is an empty list.
#[derive(Debug, Clone, PartialEq)]
pub struct LList<T>(pub Vec<T>);

impl<T> Default for LList<T> {
    fn default() -> Self {
        LList(Vec::new())
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for LList<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = LList<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of objects")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<LList<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(Obj(v)) = a.next_element::<Obj<T>>()? {
                    out.extend(v);
                }
                Ok(LList(out))
            }
            fn visit_map<A: MapAccess<'de>>(self, a: A) -> Result<LList<T>, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(a)).map(|t| LList(vec![t]))
            }
            fn visit_str<E: de::Error>(self, _: &str) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
            fn visit_bool<E: de::Error>(self, _: bool) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
            fn visit_i64<E: de::Error>(self, _: i64) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
            fn visit_u64<E: de::Error>(self, _: u64) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
            fn visit_f64<E: de::Error>(self, _: f64) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
            fn visit_unit<E: de::Error>(self) -> Result<LList<T>, E> {
                Ok(LList::default())
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize)]
    struct Probe<'a> {
        #[serde(borrow, default)]
        s: LStr<'a>,
        #[serde(default)]
        b: LBool,
        #[serde(default)]
        o: Obj<Inner>,
    }
    #[derive(Deserialize)]
    struct Inner {
        x: u32,
    }

    #[test]
    fn odd_types_are_none_not_errors() {
        let p: Probe = serde_json::from_str(r#"{"s":{"a":[1,2]},"b":"maybe","o":"text"}"#).unwrap();
        assert_eq!(p.s.get(), None);
        assert_eq!(p.b.0, None);
        assert!(p.o.get().is_none());
        let p: Probe = serde_json::from_str(r#"{"s":"plain","b":"TRUE","o":{"x":3}}"#).unwrap();
        assert!(matches!(p.s.0, Some(Cow::Borrowed("plain"))));
        assert_eq!(p.b.0, Some(true));
        assert_eq!(p.o.get().unwrap().x, 3);
        let p: Probe = serde_json::from_str(r#"{"s":"esc\"aped"}"#).unwrap();
        assert_eq!(p.s.get(), Some("esc\"aped"));
    }

    #[derive(Deserialize)]
    struct Probe2<'a> {
        #[serde(default)]
        n: LNum,
        #[serde(borrow, default)]
        l: LStrs<'a>,
        #[serde(default)]
        o: LList<Inner>,
    }

    #[test]
    fn numbers_lists_and_objects_in_lists() {
        let p: Probe2 =
            serde_json::from_str(r#"{"n":"1710000000000","l":"one","o":{"x":1}}"#).unwrap();
        assert_eq!(p.n.int(), Some(1_710_000_000_000));
        assert_eq!(p.l.0, vec!["one"]);
        assert_eq!(p.o.0.len(), 1);
        let p: Probe2 = serde_json::from_str(
            r#"{"n":1.5e3,"l":["a",null,2,"b",""],"o":[{"x":1},"junk",{"x":2}]}"#,
        )
        .unwrap();
        assert_eq!(p.n.int(), Some(1500));
        assert_eq!(p.l.0, vec!["a", "b"]);
        assert_eq!(p.o.0.iter().map(|i| i.x).collect::<Vec<_>>(), vec![1, 2]);
        let p: Probe2 = serde_json::from_str(r#"{"n":{"a":1},"l":{"k":"v"},"o":null}"#).unwrap();
        assert_eq!((p.n.int(), p.l.0.len(), p.o.0.len()), (None, 0, 0));
        let p: Probe2 = serde_json::from_str(r#"{"n":"soon"}"#).unwrap();
        assert_eq!(p.n.0, None);
    }
}
