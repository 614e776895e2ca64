//! Reads typed values out of a delivery's JSON: required fields that answer an [`InvalidField`]
//! naming their path, optional text, flags and times that are `None` for any other shape, and
//! the small derived values (titles, short shas, label names) several families share.

use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use rae_core::event::{InvalidField, Limits};
use rae_core::text::clip_chars;

use super::LINE_CHARS;

/// `parent[key]` when it is an object; `field` names it in the error.
pub(super) fn object_at<'v>(
    parent: &'v Value,
    key: &str,
    field: &str,
) -> Result<&'v Value, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(v) if v.is_object() => Ok(v),
        Some(_) => Err(InvalidField::new(field, "must be an object")),
    }
}

/// `parent[key]` when it is a non-negative integer.
pub(super) fn number_at(parent: &Value, key: &str, field: &str) -> Result<u64, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(v) => v
            .as_u64()
            .ok_or_else(|| InvalidField::new(field, "must be a non-negative integer")),
    }
}

/// `parent[key]` when it is a non-blank string.
pub(super) fn string_at<'v>(
    parent: &'v Value,
    key: &str,
    field: &str,
) -> Result<&'v str, InvalidField> {
    match parent.get(key) {
        None | Some(Value::Null) => Err(InvalidField::new(field, "missing")),
        Some(Value::String(s)) if s.trim().is_empty() => {
            Err(InvalidField::new(field, "must not be empty"))
        }
        Some(Value::String(s)) => Ok(s.trim()),
        Some(_) => Err(InvalidField::new(field, "must be a string")),
    }
}

/// The string at `path` below `value`, trimmed, when present and not blank. Any other shape
/// (missing key, null, array, number) is `None`.
pub(super) fn text<'v>(value: &'v Value, path: &[&str]) -> Option<&'v str> {
    path.iter()
        .try_fold(value, |v, key| v.get(*key))?
        .as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// `value[key]` is `true`.
pub(super) fn flag(value: &Value, key: &str) -> bool {
    value.get(key).and_then(Value::as_bool) == Some(true)
}

/// The first parseable RFC 3339 time among `keys` of `value`, in UTC.
pub(super) fn time_at(value: &Value, keys: &[&str]) -> Option<OffsetDateTime> {
    keys.iter()
        .filter_map(|key| value.get(*key)?.as_str())
        .find_map(|s| OffsetDateTime::parse(s.trim(), &Rfc3339).ok())
        .map(|t| t.to_offset(UtcOffset::UTC))
}

/// The one-line `title` of a PR or an issue, or `(no title)`.
pub(super) fn title_of(value: &Value) -> String {
    text(value, &["title"]).map_or_else(
        || "(no title)".to_owned(),
        |t| clip_chars(one_line(t), LINE_CHARS).into_owned(),
    )
}

/// The first non-blank line of `s`.
pub(super) fn one_line(s: &str) -> &str {
    s.lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("")
}

/// The first 7 characters of a commit id.
pub(super) fn short_sha(id: &str) -> String {
    id.chars().take(7).collect()
}

/// Names of `value.labels[*].name` that can be tags, at most `limits.max_tags`.
pub(super) fn label_names(value: &Value, limits: &Limits) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for label in value
        .get("labels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let Some(name) = text(label, &["name"]) else {
            continue;
        };
        if names.len() >= limits.max_tags {
            break;
        }
        if name.chars().count() <= limits.max_tag_chars
            && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
        {
            names.push(name.to_owned());
        }
    }
    names
}
