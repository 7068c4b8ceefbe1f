//! Markdown that people write (a repository's description) as HTML the
//! portal can show safely.

use maud::{Markup, PreEscaped};
use pulldown_cmark::{html, CowStr, Event, HeadingLevel, LinkType, Options, Parser, Tag, TagEnd};

/// Renders `text`: raw HTML is shown as text, links go only to web and mail
/// addresses or within the page, images become links (the portal loads
/// nothing from elsewhere), and headings sit below the page's own.
pub fn render(text: &str) -> Markup {
    let options =
        Options::ENABLE_TABLES | Options::ENABLE_STRIKETHROUGH | Options::ENABLE_TASKLISTS;
    let events = Parser::new_ext(text, options).map(|event| match event {
        Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
        Event::Start(Tag::Link {
            link_type,
            dest_url,
            title,
            id,
        }) => Event::Start(Tag::Link {
            link_type,
            dest_url: safe(dest_url),
            title,
            id,
        }),
        Event::Start(Tag::Image {
            dest_url,
            title,
            id,
            ..
        }) => Event::Start(Tag::Link {
            link_type: LinkType::Inline,
            dest_url: safe(dest_url),
            title,
            id,
        }),
        Event::End(TagEnd::Image) => Event::End(TagEnd::Link),
        Event::Start(Tag::Heading {
            level,
            id,
            classes,
            attrs,
        }) => Event::Start(Tag::Heading {
            level: below(level),
            id,
            classes,
            attrs,
        }),
        Event::End(TagEnd::Heading(level)) => Event::End(TagEnd::Heading(below(level))),
        other => other,
    });
    let mut out = String::new();
    html::push_html(&mut out, events);
    PreEscaped(out)
}

/// A heading two levels down: the page has its `h1` and `h2`s.
fn below(level: HeadingLevel) -> HeadingLevel {
    match level {
        HeadingLevel::H1 => HeadingLevel::H3,
        HeadingLevel::H2 => HeadingLevel::H4,
        HeadingLevel::H3 => HeadingLevel::H5,
        _ => HeadingLevel::H6,
    }
}

/// A link target, unless its scheme could run script (`javascript:`,
/// `data:` …): browsers ignore blanks and control characters inside a
/// scheme, so they are left out before it is read.
fn safe(url: CowStr<'_>) -> CowStr<'_> {
    let plain: String = url
        .chars()
        .filter(|c| !c.is_whitespace() && !c.is_control())
        .collect::<String>()
        .to_ascii_lowercase();
    let has_scheme = plain
        .find([':', '/', '?', '#'])
        .is_some_and(|i| plain[i..].starts_with(':'));
    let allowed = ["http:", "https:", "mailto:"];
    if !has_scheme || allowed.iter().any(|s| plain.starts_with(s)) {
        url
    } else {
        CowStr::Borrowed("#")
    }
}

#[cfg(test)]
mod tests {
    use super::render;

    #[test]
    fn html_is_text_and_only_safe_links_stay() {
        let out = render("# Title\n\n<script>alert(1)</script>\n\n**bold** <b>x</b>\n\n[a](JaVa&#9;script:alert(1)) [d](JAVASCRIPT:x) [b](https://example.com/x) [c](docs/run.md) ![logo](data:image/png;base64,AA)").into_string();
        assert!(out.contains("<h3>Title</h3>"), "{out}");
        assert!(
            out.contains("&lt;script&gt;") && !out.contains("<script"),
            "{out}"
        );
        assert!(out.contains("<strong>bold</strong>"), "{out}");
        assert!(out.contains(r##"<a href="#">a</a>"##), "{out}");
        assert!(out.contains(r##"<a href="#">d</a>"##), "{out}");
        assert!(out.contains("&lt;b&gt;x"), "{out}");
        assert!(
            out.contains(r#"<a href="https://example.com/x">b</a>"#),
            "{out}"
        );
        assert!(out.contains(r#"<a href="docs/run.md">c</a>"#), "{out}");
        assert!(
            out.contains(r##"<a href="#">logo</a>"##) && !out.contains("<img"),
            "{out}"
        );
    }
}
