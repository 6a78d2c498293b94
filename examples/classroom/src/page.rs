//! The HTML of the web service's single page: the teacher's question, the answer form and the
//! recent answers. Pure string building with escaping; it knows nothing of HTTP.

use std::fmt::Write as _;

use crate::answers::Answer;

/// What the home page shows.
pub struct Home<'a> {
    /// The teacher's current question.
    pub question: &'a str,
    /// Recent answers, newest first; `None` when the answers service could not be reached.
    pub recent: Option<&'a [Answer]>,
    /// A message about the last submission, shown above the form.
    pub notice: Option<&'a str>,
    /// Students seen by this replica in the last five minutes.
    pub connected: usize,
    /// Which process served the page (`web.1`), when pier said so.
    pub served_by: Option<&'a str>,
}

/// Renders the whole page.
pub fn home(page: &Home<'_>) -> String {
    let mut html = String::with_capacity(4096);
    html.push_str(HEAD);
    let _ = write!(
        html,
        "<main><header><h1>Classroom</h1><p class=\"muted\">{} active in the last 5 minutes</p>\
         </header><section class=\"question\"><p class=\"label\">Today's question</p>\
         <h2>{}</h2></section>",
        plural(page.connected as u64, "student"),
        escape(page.question)
    );
    if page.recent.is_none() {
        html.push_str(
            "<p class=\"notice\"><strong>answers service unavailable</strong>: \
             answers cannot be shown or sent right now.</p>",
        );
    }
    if let Some(notice) = page.notice {
        let _ = write!(html, "<p class=\"notice\">{}</p>", escape(notice));
    }
    html.push_str(FORM);
    if let Some(recent) = page.recent {
        answers_list(&mut html, recent);
    }
    if let Some(served_by) = page.served_by {
        let _ = write!(
            html,
            "<footer class=\"muted\">served by {} on pier</footer>",
            escape(served_by)
        );
    }
    html.push_str("</main></body></html>\n");
    html
}

fn answers_list(html: &mut String, recent: &[Answer]) {
    html.push_str("<section><h3>Recent answers</h3>");
    if recent.is_empty() {
        html.push_str("<p class=\"muted\">No answers yet: be the first!</p></section>");
        return;
    }
    html.push_str("<ul class=\"answers\">");
    for answer in recent {
        let _ = write!(
            html,
            "<li><strong>{}</strong><span>{}</span><time datetime=\"{}\">{}</time></li>",
            escape(&answer.student),
            escape(&answer.answer),
            escape(&answer.at),
            escape(clock_time(&answer.at)),
        );
    }
    html.push_str("</ul></section>");
}

/// `2024-05-01T14:03:07Z` → `14:03:07`; anything else is shown as is.
fn clock_time(at: &str) -> &str {
    at.get(11..19).unwrap_or(at)
}

/// `1 student`, `3 students`.
pub fn plural(count: u64, noun: &str) -> String {
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Classroom</title>
<style>
  :root { --ink: #1f2937; --muted: #6b7280; --accent: #2f6f4f; --paper: #fbfaf6; }
  body { margin: 0; background: var(--paper); color: var(--ink);
         font: 17px/1.5 system-ui, -apple-system, "Segoe UI", sans-serif; }
  main { max-width: 40rem; margin: 0 auto; padding: 2rem 1.25rem 3rem; }
  h1 { margin: 0; font-size: 1.4rem; color: var(--accent); }
  .muted { color: var(--muted); margin: .2rem 0 0; font-size: .9rem; }
  .question { margin: 1.5rem 0; padding: 1.25rem 1.5rem; border-radius: 12px;
              background: #173b2b; color: #f5f1e6; box-shadow: 0 2px 8px #0002; }
  .question h2 { margin: .2rem 0 0; font-size: 1.5rem; }
  .label { margin: 0; text-transform: uppercase; letter-spacing: .08em; font-size: .75rem; opacity: .8; }
  .notice { padding: .75rem 1rem; border-radius: 8px; background: #fff4e5; border: 1px solid #f0b45b; }
  form { display: grid; gap: .75rem; margin: 1.5rem 0; }
  label { display: grid; gap: .25rem; font-weight: 600; }
  input, textarea { font: inherit; padding: .5rem .65rem; border: 1px solid #cfcabc;
                    border-radius: 8px; background: #fff; }
  button { justify-self: start; font: inherit; font-weight: 600; padding: .55rem 1.2rem;
           border: 0; border-radius: 8px; background: var(--accent); color: #fff; cursor: pointer; }
  .answers { list-style: none; padding: 0; margin: 0; }
  .answers li { display: grid; grid-template-columns: 8rem 1fr auto; gap: .75rem;
                padding: .55rem 0; border-bottom: 1px solid #e7e2d5; }
  .answers time { color: var(--muted); font-size: .85rem; }
  footer { margin-top: 2rem; }
</style></head><body>
"#;

const FORM: &str = r#"<form method="post" action="/answer">
<label>Your name <input name="student" required maxlength="64" autocomplete="name"></label>
<label>Your answer <textarea name="answer" required maxlength="500" rows="3"></textarea></label>
<button type="submit">Send answer</button>
</form>"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn degraded_page_says_so() {
        let html = home(&Home {
            question: "2 + 2?",
            recent: None,
            notice: None,
            connected: 1,
            served_by: None,
        });
        assert!(html.contains("answers service unavailable"));
        assert!(html.contains("1 student active"));
    }
}
