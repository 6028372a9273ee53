//! Records inside a JSON document: a wrapper object (`{"Records":[...]}` from CloudTrail,
//! `{"records":[...]}` from Azure Monitor, a Kubernetes `EventList`'s `items`, a Graph page's
//! `value`), a JSON array, or a sequence of objects (pretty-printed records one after another).
//! Records before a cut or a malformed stretch are kept; the problem is reported at its byte.

use serde::de::IgnoredAny;

use super::Reason;

/// One thing found while walking a document; positions are byte offsets into the data.
#[derive(Debug, PartialEq)]
pub enum Item<'a> {
    Record {
        at: usize,
        text: &'a [u8],
    },
    Error {
        at: usize,
        reason: Reason,
        message: String,
    },
}

/// Keys whose array holds the records of a wrapper object, and when they count: `Records` and
/// `records` always; `items` inside a Kubernetes `EventList`; `value` in a Graph page (after
/// `@odata.*` keys, or first).
fn is_wrapper_key(key: &str, seen_event_list: bool, seen_odata: bool, first: bool) -> bool {
    match key {
        "Records" | "records" => true,
        "items" => seen_event_list,
        "value" => seen_odata || first,
        _ => false,
    }
}

fn skip_ws(data: &[u8], mut pos: usize) -> usize {
    while data.get(pos).is_some_and(|c| c.is_ascii_whitespace()) {
        pos += 1;
    }
    pos
}

/// Parse one JSON value of type `T` at `pos`; returns it and the position after it.
fn value_at<'a, T: serde::Deserialize<'a>>(
    data: &'a [u8],
    pos: usize,
) -> Result<(T, usize), serde_json::Error> {
    let mut it = serde_json::Deserializer::from_slice(&data[pos..]).into_iter::<T>();
    match it.next() {
        Some(Ok(v)) => Ok((v, pos + it.byte_offset())),
        Some(Err(e)) => Err(e),
        None => Err(serde::de::Error::custom("unexpected end of input")),
    }
}

/// Where a wrapper object keeps its records: the position of the `[` that opens the array.
/// `Ok(None)` when the object at `pos` is not a wrapper (it is a record itself); `Err` with the
/// position of a syntax problem or of the end of the data.
pub fn wrapper_array(data: &[u8], pos: usize) -> Result<Option<usize>, (usize, serde_json::Error)> {
    let mut p = skip_ws(data, pos + 1);
    let (mut event_list, mut odata, mut first) = (false, false, true);
    loop {
        match data.get(p) {
            Some(b'}') => return Ok(None),
            Some(b'"') => {}
            _ => return Ok(None),
        }
        let (key, after) = value_at::<String>(data, p).map_err(|e| (p, e))?;
        p = skip_ws(data, after);
        if data.get(p) != Some(&b':') {
            return Ok(None);
        }
        p = skip_ws(data, p + 1);
        if data.get(p) == Some(&b'[') && is_wrapper_key(&key, event_list, odata, first) {
            return Ok(Some(p));
        }
        odata |= key.starts_with("@odata.");
        p = if key == "kind" {
            let (kind, after) = value_at::<super::json::LStr>(data, p).map_err(|e| (p, e))?;
            event_list |= kind.get() == Some("EventList");
            after
        } else {
            value_at::<IgnoredAny>(data, p).map_err(|e| (p, e))?.1
        };
        first = false;
        p = skip_ws(data, p);
        match data.get(p) {
            Some(b',') => p = skip_ws(data, p + 1),
            _ => return Ok(None),
        }
    }
}

/// Whether `bytes` (one line, one message) is a wrapper object holding records.
pub fn is_wrapper(bytes: &[u8]) -> bool {
    let start = skip_ws(bytes, 0);
    bytes.get(start) == Some(&b'{') && matches!(wrapper_array(bytes, start), Ok(Some(_)))
}

/// Walk every record of `data`. `truncated` explains an early end of the data (a cut gzip
/// stream) and is reported where the walk runs out of input.
pub fn walk(data: &[u8], truncated: Option<&str>, f: &mut dyn FnMut(Item)) {
    let mut w = Walker {
        data,
        truncated,
        f,
        ended: false,
    };
    let mut pos = if data.starts_with(b"\xEF\xBB\xBF") {
        3
    } else {
        0
    };
    loop {
        pos = skip_ws(data, pos);
        let Some(&c) = data.get(pos) else { break };
        let next = match c {
            b'[' => w.array(pos + 1),
            b'{' => match wrapper_array(data, pos) {
                Ok(Some(arr)) => w.array(arr + 1).and_then(|end| w.close_object(end)),
                Ok(None) => w.record(pos),
                Err((at, e)) => {
                    w.fail(at, &e);
                    Err(())
                }
            },
            other => {
                let msg = format!(
                    "malformed JSON document: expected a record or an array but found {:?}",
                    other as char
                );
                w.error(pos, Reason::MalformedJson, msg);
                Err(())
            }
        };
        match next {
            Ok(end) => pos = end,
            Err(()) => return,
        }
    }
    if let Some(msg) = truncated {
        if !w.ended {
            (w.f)(Item::Error {
                at: data.len(),
                reason: Reason::TruncatedInput,
                message: msg.to_string(),
            });
        }
    }
}

struct Walker<'a, 'f> {
    data: &'a [u8],
    truncated: Option<&'a str>,
    f: &'f mut dyn FnMut(Item<'a>),
    /// an error that covers the end of the data has been reported
    ended: bool,
}

impl<'a> Walker<'a, '_> {
    fn error(&mut self, at: usize, reason: Reason, message: String) {
        (self.f)(Item::Error {
            at,
            reason,
            message,
        });
    }

    /// Report a parse error: a cut at the end of the data is a truncation, anything else
    /// malformed JSON (the rest of the document cannot be trusted and is skipped).
    fn fail(&mut self, at: usize, e: &serde_json::Error) {
        if e.is_eof() {
            self.ended = true;
            let msg = self
                .truncated
                .map(str::to_string)
                .unwrap_or_else(|| format!("JSON document cut off: {e}"));
            self.error(at, Reason::TruncatedInput, msg);
        } else {
            self.error(
                at,
                Reason::MalformedJson,
                format!("malformed JSON, rest of document skipped: {e}"),
            );
        }
    }

    fn record(&mut self, pos: usize) -> Result<usize, ()> {
        match value_at::<IgnoredAny>(self.data, pos) {
            Ok((_, end)) => {
                (self.f)(Item::Record {
                    at: pos,
                    text: &self.data[pos..end],
                });
                Ok(end)
            }
            Err(e) => {
                self.fail(pos, &e);
                Err(())
            }
        }
    }

    /// Records of an array whose `[` is just before `pos`; returns the position after `]`.
    fn array(&mut self, mut pos: usize) -> Result<usize, ()> {
        let mut first = true;
        loop {
            pos = skip_ws(self.data, pos);
            match self.data.get(pos) {
                Some(b']') => return Ok(pos + 1),
                Some(b',') if !first => pos = skip_ws(self.data, pos + 1),
                Some(_) if first => {}
                Some(&c) => {
                    let msg = format!(
                        "malformed JSON document: expected ',' or ']' but found {:?}",
                        c as char
                    );
                    self.error(pos, Reason::MalformedJson, msg);
                    return Err(());
                }
                None => {
                    self.ended = true;
                    let msg = self
                        .truncated
                        .map(str::to_string)
                        .unwrap_or_else(|| "JSON document ends inside its record array".into());
                    self.error(pos, Reason::TruncatedInput, msg);
                    return Err(());
                }
            }
            first = false;
            if self.data.get(pos) == Some(&b']') {
                return Ok(pos + 1);
            }
            pos = self.record(pos)?;
        }
    }

    /// Skip the keys after a wrapper's array up to the object's `}`.
    fn close_object(&mut self, mut pos: usize) -> Result<usize, ()> {
        loop {
            pos = skip_ws(self.data, pos);
            match self.data.get(pos) {
                Some(b'}') => return Ok(pos + 1),
                Some(b',') => pos = skip_ws(self.data, pos + 1),
                None => {
                    self.ended = true;
                    let msg = self
                        .truncated
                        .map(str::to_string)
                        .unwrap_or_else(|| "JSON document cut off after its records".into());
                    self.error(pos, Reason::TruncatedInput, msg);
                    return Err(());
                }
                Some(_) => {}
            }
            // key
            let after_key = match value_at::<IgnoredAny>(self.data, pos) {
                Ok((_, end)) => skip_ws(self.data, end),
                Err(e) => {
                    self.fail(pos, &e);
                    return Err(());
                }
            };
            if self.data.get(after_key) != Some(&b':') {
                self.error(
                    after_key,
                    Reason::MalformedJson,
                    "malformed JSON document: expected ':' after a key".into(),
                );
                return Err(());
            }
            pos = match value_at::<IgnoredAny>(self.data, skip_ws(self.data, after_key + 1)) {
                Ok((_, end)) => end,
                Err(e) => {
                    self.fail(after_key + 1, &e);
                    return Err(());
                }
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(doc: &str, truncated: Option<&str>) -> (Vec<String>, Vec<(usize, Reason)>) {
        let (mut recs, mut errs) = (Vec::new(), Vec::new());
        walk(doc.as_bytes(), truncated, &mut |item| match item {
            Item::Record { text, .. } => recs.push(String::from_utf8(text.to_vec()).unwrap()),
            Item::Error { at, reason, .. } => errs.push((at, reason)),
        });
        (recs, errs)
    }

    #[test]
    fn wrappers_arrays_and_record_sequences() {
        let cases = [
            r#"{"Records":[{"a":1},{"a":2}]}"#,
            "\u{feff}{\n \"records\" : [ {\"a\":1} ,\n {\"a\":2} ] }",
            r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","metadata":{},"items":[{"a":1},{"a":2}]}"#,
            r#"{"@odata.context":"https://graph.microsoft.com/v1.0/$metadata#auditLogs/signIns","value":[{"a":1},{"a":2}],"@odata.nextLink":"x"}"#,
            r#"[{"a":1},{"a":2}]"#,
            "{\n  \"a\": 1\n}\n{\n  \"a\": 2\n}\n",
            "{\"a\":1}\n{\"a\":2}\n",
            "{\"records\":[{\"a\":1}]}\n{\"records\":[{\"a\":2}]}\n",
        ];
        for doc in cases {
            let (recs, errs) = run(doc, None);
            assert_eq!(errs, vec![], "{doc}");
            let compact: Vec<String> = recs.iter().map(|r| r.replace([' ', '\n'], "")).collect();
            assert_eq!(compact, vec![r#"{"a":1}"#, r#"{"a":2}"#], "{doc}");
        }
    }

    #[test]
    fn look_alike_keys_are_records_not_wrappers() {
        // an `items` list outside an EventList, a `value` list after other keys
        let doc = r#"{"kind":"Order","items":[{"a":1}]}
{"user":"u","value":[1,2]}"#;
        let (recs, errs) = run(doc, None);
        assert!(errs.is_empty());
        assert_eq!(recs.len(), 2);
        assert!(recs[0].starts_with(r#"{"kind":"Order""#));
    }

    #[test]
    fn records_before_a_cut_are_kept() {
        let doc = r#"{"Records":[{"a":1},{"a":2},{"a":"#;
        let (recs, errs) = run(doc, Some("gzip stream truncated"));
        assert_eq!(recs.len(), 2);
        assert_eq!(errs, vec![(28, Reason::TruncatedInput)]);
        let (recs, errs) = run(r#"[{"a":1},{"a":2}"#, None);
        assert_eq!(recs.len(), 2);
        assert_eq!(errs[0].1, Reason::TruncatedInput);
        // the cut after a complete document is still reported once
        let (recs, errs) = run(r#"{"Records":[{"a":1}]}"#, Some("cut"));
        assert_eq!((recs.len(), errs.len()), (1, 1));
    }

    #[test]
    fn malformed_stretches_are_reported_where_they_start() {
        let (recs, errs) = run(r#"[{"a":1} {"a":2}]"#, None);
        assert_eq!(recs.len(), 1);
        assert_eq!(errs, vec![(9, Reason::MalformedJson)]);
        let (recs, errs) = run("{\"a\":1}\nnot json\n", None);
        assert_eq!(recs.len(), 1);
        assert_eq!(errs, vec![(8, Reason::MalformedJson)]);
        let (_, errs) = run(r#"{"Records":[{"a":1}], "x": tru}"#, None);
        assert_eq!(errs.len(), 1);
    }

    #[test]
    fn never_panics_on_fragments() {
        let doc =
            r#"{"@odata.context":"c","value":[{"a":[1,{"b":"c\"d"}]},{"e":null}],"k":{"x":[]}}"#;
        for end in 0..=doc.len() {
            let _ = run(&doc[..end], Some("cut"));
            let _ = run(&doc[end..], None);
        }
    }
}
