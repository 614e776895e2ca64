//! `release` deliveries: `published` is remembered, `released` (sent with it) is not.

use serde_json::Map;

use rae_core::event::InvalidField;
use rae_core::text::clip_chars;

use super::draft::{push_body, put_text, short, Context, Draft};
use super::fields::{flag, object_at, one_line, string_at, text, time_at};
use super::{ignored, ignored_action, Outcome, LINE_CHARS};

pub(super) fn release(ctx: &Context<'_>, action: &str) -> Result<Outcome, InvalidField> {
    if action == "released" {
        return Ok(ignored(
            "release released is not stored (the same release's published is)",
        ));
    }
    if action != "published" {
        return Ok(ignored_action("release", action));
    }
    let release = object_at(ctx.payload, "release", "release")?;
    let tag_name = string_at(release, "tag_name", "release.tag_name")?;
    let name = text(release, &["name"]).filter(|n| *n != tag_name);
    let prerelease = flag(release, "prerelease");
    let author = text(release, &["author", "login"]).unwrap_or(ctx.who());
    let label = match name {
        Some(name) => format!(
            "\"{}\" ({})",
            clip_chars(one_line(name), LINE_CHARS),
            clip_chars(tag_name, LINE_CHARS)
        ),
        None => clip_chars(tag_name, LINE_CHARS).into_owned(),
    };
    let mut content = format!(
        "Release {label} published by {author}{}{}",
        ctx.in_repo(),
        if prerelease { " as a prerelease" } else { "" }
    );
    push_body(&mut content, text(release, &["body"]));

    let mut attributes = Map::new();
    attributes.insert("action".into(), short(action));
    put_text(&mut attributes, "tag_name", Some(tag_name));
    put_text(&mut attributes, "name", name);
    attributes.insert("prerelease".into(), prerelease.into());
    put_text(
        &mut attributes,
        "target_commitish",
        text(release, &["target_commitish"]),
    );
    put_text(&mut attributes, "author", Some(author));
    let tags = if prerelease {
        vec!["prerelease".to_owned()]
    } else {
        Vec::new()
    };
    Ok(ctx.finish(Draft {
        kind: "release_published",
        kind_tag: "release",
        content,
        url: text(release, &["html_url"]),
        occurred_at: time_at(release, &["published_at", "created_at"]),
        tags,
        attributes,
        // A release is published once; its id outlives a renamed tag.
        key: match release.get("id").and_then(serde_json::Value::as_u64) {
            Some(id) => ctx.key(format_args!("release {id}")),
            None => ctx.key(format_args!("release tag {tag_name}")),
        },
    }))
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use crate::github::normalize::test_support::*;
    use crate::github::normalize::{ignored, Outcome};

    #[test]
    fn release_published() {
        let m = memory("release.published.json");
        assert_eq!(m.kind, "release_published");
        assert_eq!(
            m.content,
            "Release \"Hello-World 0.0.1\" (0.0.1) published by Codertocat in \
             Codertocat/Hello-World\n\n## What's Changed\n\
             * Update the README with new information by @Codertocat in \
             https://github.com/Codertocat/Hello-World/pull/2\n\n\
             **Full Changelog**: https://github.com/Codertocat/Hello-World/commits/0.0.1"
        );
        assert_eq!(
            m.url.as_deref(),
            Some("https://github.com/Codertocat/Hello-World/releases/tag/0.0.1")
        );
        assert_eq!(m.tags, ["github", "release"]);
        assert_eq!(m.attributes["tag_name"], "0.0.1");
        assert_eq!(m.attributes["prerelease"], false);
        assert_eq!(m.occurred_at, at("2019-05-15T15:20:53Z"));
    }

    #[test]
    fn prereleases_are_noted_and_released_is_not_stored_twice() {
        let mut p = payload("release.published.json");
        p["release"]["prerelease"] = true.into();
        p["release"]["name"] = "".into();
        p["release"]["body"] = Value::Null;
        let Outcome::Memory(m) = run("release", &p).unwrap() else {
            panic!()
        };
        assert_eq!(
            m.content,
            "Release 0.0.1 published by Codertocat in Codertocat/Hello-World as a prerelease"
        );
        assert_eq!(m.tags, ["github", "release", "prerelease"]);

        p["action"] = "released".into();
        assert!(matches!(
            run("release", &p).unwrap(),
            Outcome::Ignored { .. }
        ));
        p["action"] = "created".into();
        assert_eq!(
            run("release", &p).unwrap(),
            ignored("release action created is not stored")
        );
    }
}
