//! `${VAR}` and `${VAR:-default}` expansion inside the string values of the file (`$$` is a
//! literal `$`), before the file is decoded, so every field of every type can take a variable.

use super::Problem;

/// Expands every string inside `value`, reporting each failure at its path.
pub(crate) fn expand_value(
    value: &mut yaml_serde::Value,
    path: String,
    env: &dyn Fn(&str) -> Option<String>,
    problems: &mut Vec<Problem>,
) {
    match value {
        yaml_serde::Value::String(s) => match expand(s, env) {
            Ok(expanded) => *s = expanded,
            Err(message) => problems.push(Problem { path, message }),
        },
        yaml_serde::Value::Sequence(items) => {
            for (i, item) in items.iter_mut().enumerate() {
                expand_value(item, format!("{path}[{i}]"), env, problems);
            }
        }
        yaml_serde::Value::Mapping(map) => {
            for (key, item) in map.iter_mut() {
                let key = key.as_str().unwrap_or("?");
                let child = if path.is_empty() {
                    key.to_owned()
                } else {
                    format!("{path}.{key}")
                };
                expand_value(item, child, env, problems);
            }
        }
        yaml_serde::Value::Tagged(tagged) => expand_value(&mut tagged.value, path, env, problems),
        _ => {}
    }
}

/// Expands `${VAR}` and `${VAR:-default}`; `$$` is a literal `$`.
///
/// # Errors
/// A message naming an unset variable that has no default, or an unclosed `${`.
pub fn expand(input: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err(format!("unclosed ${{ in {input:?}"));
            };
            let expr = &body[..end];
            let (name, default) = match expr.split_once(":-") {
                Some((name, default)) => (name, Some(default)),
                None => (expr, None),
            };
            match (env(name).filter(|v| !v.is_empty()), default) {
                (Some(v), _) => out.push_str(&v),
                (None, Some(d)) => out.push_str(d),
                (None, None) => {
                    return Err(format!(
                        "environment variable {name} is not set (use ${{{name}:-default}} for a default)"
                    ))
                }
            }
            rest = &body[end + 1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::tests::env_of;

    #[test]
    fn env_expansion_with_defaults_and_escapes() {
        let env = env_of(&[("HOST", "rae.local")]);
        assert_eq!(
            expand("http://${HOST}:8000", &env).unwrap(),
            "http://rae.local:8000"
        );
        assert_eq!(expand("${MISSING:-x}", &env).unwrap(), "x");
        assert_eq!(expand("$$HOME", &env).unwrap(), "$HOME");
        let err = expand("${MISSING}", &env).unwrap_err();
        assert!(err.contains("MISSING"), "{err}");
    }
}

#[cfg(test)]
mod proptests {
    use super::*;
    use proptest::prelude::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("value".into()),
            "EMPTY" => Some(String::new()),
            "DOLLAR" => Some("${SET}$$".into()),
            _ => None,
        }
    }

    /// Strings made of the pieces the expansion reads, and anything else.
    fn template() -> impl Strategy<Value = String> {
        let pieces = prop_oneof![
            ".{0,4}",
            prop::sample::select(vec![
                "$",
                "$$",
                "${",
                "}",
                ":-",
                "${SET}",
                "${EMPTY:-d}",
                "${UNSET}",
                "${DOLLAR}",
                "${SET:-x}",
                "${}",
                "${:-}",
                "é",
                "\0",
            ])
            .prop_map(str::to_owned),
        ];
        prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(crate::proptest_cases(1024)))]

        #[test]
        fn expansion_never_panics(input in prop_oneof![template(), any::<String>()]) {
            match expand(&input, &env) {
                Ok(_) => {}
                Err(message) => prop_assert!(
                    message.starts_with("unclosed ${") || message.contains("is not set"),
                    "{}", message
                ),
            }
        }

        #[test]
        fn text_without_dollars_is_unchanged(input in "[^$]{0,64}") {
            prop_assert_eq!(expand(&input, &env), Ok(input.clone()));
        }

        #[test]
        fn doubled_dollars_are_literal(input in any::<String>()) {
            prop_assert_eq!(expand(&input.replace('$', "$$"), &env), Ok(input.clone()));
        }

        #[test]
        fn an_unclosed_brace_is_an_error(before in "[^$]{0,16}", after in "[^}]{0,16}") {
            let err = expand(&format!("{before}${{{after}"), &env).unwrap_err();
            prop_assert!(err.starts_with("unclosed ${"), "{}", err);
        }

        #[test]
        fn values_are_inserted_once_and_not_expanded_again(before in "[^$]{0,16}", after in "[^$]{0,16}") {
            prop_assert_eq!(
                expand(&format!("{before}${{DOLLAR}}{after}${{SET}}"), &env),
                Ok(format!("{before}${{SET}}$${after}value"))
            );
        }
    }
}
