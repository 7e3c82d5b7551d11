//! Markdown export and import of a whole spec, in one fixed format: export → import → export is identical.
//!
//! Every piece of user text is escaped so that it can never be mistaken for the format's own
//! structure: Markdown's special characters get a backslash, a newline becomes `<br>`,
//! control characters and spaces at either end become numeric entities. The labels of the
//! format (`**Target:**`, `- [x]`…) contain characters that escaped text never holds raw,
//! so parsing them back is unambiguous. Item ids are not exported; import makes new ones.

use std::fmt::Write as _;

use rand_core::RngCore;
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use crate::edit::{AnchorSpan, NewConstraint, NewDecision, NewStory};
use crate::error::{EditError, ImportError};
use crate::ids::{Author, ItemId, UnixMillis};
use crate::read;
use crate::schema::{
    ConstraintKind, ConstraintStatus, CriterionKind, Severity, StoryField, StoryStatus,
};
use crate::spec::Spec;
use crate::view::{Anchor, ConstraintView, SpecView, StoryView};

const PROBLEM: &str = "## Problem";
const METRICS: &str = "## Success metrics";
const STORIES: &str = "## User stories";
const DECISIONS: &str = "## Decision log";
const QUESTIONS: &str = "## Open questions";
const DETACHED: &str = "## Detached constraints";
const CONSTRAINTS: &str = "#### Constraints";
const TARGET: &str = " — **Target:**";
const DECIDED_ON: &str = " **on** ";

/// Characters that always get a backslash in exported text.
const SPECIAL: &[char] = &['\\', '`', '*', '_', '[', ']', '<', '>', '#', '|', '~', '&'];

/// Escapes one field's text for the export (see the module docs).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    let leading_digits = chars.iter().take_while(|c| c.is_ascii_digit()).count();
    for (i, &c) in chars.iter().enumerate() {
        let at_edge = i == 0 || i + 1 == chars.len();
        match c {
            '\n' => out.push_str("<br>"),
            ' ' if at_edge => out.push_str("&#32;"),
            c if c.is_control() => {
                let _ = write!(out, "&#{};", u32::from(c));
            }
            c if SPECIAL.contains(&c) => {
                out.push('\\');
                out.push(c);
            }
            '-' | '+' if i == 0 => {
                out.push('\\');
                out.push(c);
            }
            '.' | ')' if leading_digits > 0 && i == leading_digits => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Reverses [`escape`]. Lenient: anything that is not an escape stays as written.
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c == '\\' {
            if let Some(next) = rest[1..]
                .chars()
                .next()
                .filter(|n| n.is_ascii_punctuation())
            {
                out.push(next);
                rest = &rest[1 + next.len_utf8()..];
                continue;
            }
        } else if let Some(after) = rest.strip_prefix("<br>") {
            out.push('\n');
            rest = after;
            continue;
        } else if let Some(after) = rest.strip_prefix("&#") {
            let digits = after.bytes().take_while(u8::is_ascii_digit).count();
            if (1..=7).contains(&digits) && after[digits..].starts_with(';') {
                if let Some(ch) = after[..digits].parse().ok().and_then(char::from_u32) {
                    out.push(ch);
                    rest = &after[digits + 1..];
                    continue;
                }
            }
        }
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

/// Byte offset of the first occurrence of `token` in escaped `text` outside an escape pair.
fn find_raw(text: &str, token: &str) -> Option<usize> {
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(token) {
            return Some(i);
        }
        let c = text[i..].chars().next()?;
        i += c.len_utf8();
        if c == '\\' {
            if let Some(next) = text[i..].chars().next() {
                i += next.len_utf8();
            }
        }
    }
    None
}

/// Formats a time as RFC 3339 (UTC); times outside its range as raw milliseconds.
fn format_time(at: UnixMillis) -> String {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(at.0) * 1_000_000)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| format!("{}ms", at.0))
}

fn parse_time(s: &str) -> Option<UnixMillis> {
    if let Some(ms) = s.strip_suffix("ms") {
        return ms.parse().ok().map(UnixMillis);
    }
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000))
        .ok()
        .map(UnixMillis)
}

/// Renders the whole spec as Markdown.
pub fn export(spec: &SpecView) -> String {
    let mut md = String::new();
    let mut block = |text: String| {
        if !md.is_empty() {
            md.push('\n');
        }
        md.push_str(&text);
        md.push('\n');
    };
    block(format!("# {}", escape(&spec.title)).trim_end().to_owned());
    block(PROBLEM.into());
    if !spec.problem.is_empty() {
        block(escape(&spec.problem));
    }
    block(METRICS.into());
    if !spec.metrics.is_empty() {
        block(
            spec.metrics
                .iter()
                .map(|m| {
                    line(&format!(
                        "- {}{TARGET} {}",
                        escape(&m.name),
                        escape(&m.target)
                    ))
                })
                .collect::<Vec<_>>()
                .join("\n"),
        );
    }
    block(STORIES.into());
    for (n, story) in spec.stories.iter().enumerate() {
        block(format!("### Story {} · {}", n + 1, story.status.label()));
        block(
            StoryField::ALL
                .iter()
                .map(|f| line(&format!("- **{}** {}", f.label(), escape(story.field(*f)))))
                .collect::<Vec<_>>()
                .join("\n"),
        );
        for kind in CriterionKind::ALL {
            let items: Vec<String> = story
                .criteria
                .iter()
                .filter(|c| c.kind == *kind)
                .map(|c| {
                    let mark = if c.done { "x" } else { " " };
                    line(&format!("- [{mark}] {}", escape(&c.text)))
                })
                .collect();
            if !items.is_empty() {
                block(format!("#### {} criteria", kind.label()));
                block(items.join("\n"));
            }
        }
        if !story.constraints.is_empty() {
            block(CONSTRAINTS.into());
            block(constraint_lines(&story.constraints, &spec.stories));
        }
    }
    block(DECISIONS.into());
    for d in &spec.decisions {
        block(format!("### {}", escape(&d.title)).trim_end().to_owned());
        let mut lines = vec![
            line(&format!("- **Decision:** {}", escape(&d.decision))),
            line(&format!("- **Why:** {}", escape(&d.rationale))),
        ];
        let numbers: Vec<String> = d
            .stories
            .iter()
            .filter_map(|id| spec.stories.iter().position(|s| &s.id == id))
            .map(|n| format!("Story {}", n + 1))
            .collect();
        if !numbers.is_empty() {
            lines.push(format!("- **Stories:** {}", numbers.join(", ")));
        }
        lines.push(format!(
            "- **Decided by** {}{DECIDED_ON}{}",
            escape(&d.decided_by),
            format_time(d.decided_at)
        ));
        block(lines.join("\n"));
    }
    block(QUESTIONS.into());
    if !spec.questions.is_empty() {
        let mut lines = Vec::new();
        for q in &spec.questions {
            lines.push(line(&format!("- **Q:** {}", escape(&q.question))));
            if !q.answer.is_empty() {
                lines.push(line(&format!("  - **A:** {}", escape(&q.answer))));
            }
            if !q.asked_by.is_empty() {
                lines.push(format!("  - Asked by {}", escape(&q.asked_by)));
            }
            if !q.answered_by.is_empty() {
                lines.push(format!("  - Answered by {}", escape(&q.answered_by)));
            }
        }
        block(lines.join("\n"));
    }
    if !spec.detached.is_empty() {
        block(DETACHED.into());
        block(constraint_lines(&spec.detached, &spec.stories));
    }
    md
}

/// A list line; a line whose text is empty loses its trailing space (editors strip it).
fn line(s: &str) -> String {
    s.trim_end_matches(' ').to_owned()
}

/// UTF-16 start offsets of every (possibly overlapping) occurrence of `quote` in `text`.
fn occurrences(text: &str, quote: &str) -> Vec<usize> {
    if quote.is_empty() {
        return Vec::new();
    }
    text.char_indices()
        .filter(|(at, _)| text[*at..].starts_with(quote))
        .map(|(at, _)| read::utf16_len(&text[..at]))
        .collect()
}

fn constraint_lines(constraints: &[ConstraintView], stories: &[StoryView]) -> String {
    let story_text = |c: &ConstraintView, field: &StoryField| -> Option<&str> {
        stories
            .iter()
            .find(|s| s.id.as_str() == c.story)
            .map(|s| s.field(*field))
    };
    let mut lines = Vec::new();
    for c in constraints {
        lines.push(line(&format!(
            "- **{}** · {} · {} — {}",
            c.severity.label(),
            c.kind.label(),
            c.status.label(),
            escape(&c.text)
        )));
        if !c.author.is_empty() {
            lines.push(format!("  - Raised by {}", escape(&c.author)));
        }
        match &c.anchor {
            Anchor::Story => {}
            Anchor::Span {
                field, start, text, ..
            } => {
                // Which occurrence of the quote, when it is not the first.
                let n = story_text(c, field)
                    .map(|t| occurrences(t, text).iter().filter(|at| *at < start).count())
                    .unwrap_or(0);
                let nth = if n > 0 {
                    format!(" (occurrence {})", n + 1)
                } else {
                    String::new()
                };
                lines.push(format!(
                    "  - Anchored to **{}**{nth}: {}",
                    field.label(),
                    escape(text)
                ))
            }
            Anchor::Orphaned { field, quote } => lines.push(line(&format!(
                "  - Orphaned from **{}**: {}",
                field.label(),
                escape(quote)
            ))),
        }
    }
    lines.join("\n")
}

// ---------------------------------------------------------------- import

#[derive(Debug, Default)]
struct ParsedSpec {
    title: String,
    problem: Option<String>,
    metrics: Vec<(String, String)>,
    stories: Vec<ParsedStory>,
    decisions: Vec<ParsedDecision>,
    questions: Vec<ParsedQuestion>,
    detached: Vec<ParsedConstraint>,
}

#[derive(Debug)]
struct ParsedStory {
    status: StoryStatus,
    fields: [Option<String>; 3],
    criteria: Vec<(CriterionKind, bool, String)>,
    constraints: Vec<ParsedConstraint>,
}

#[derive(Debug)]
struct ParsedConstraint {
    severity: Severity,
    kind: ConstraintKind,
    status: ConstraintStatus,
    text: String,
    author: String,
    /// Field, quote, orphaned, which occurrence (1-based).
    anchor: Option<(StoryField, String, bool, usize)>,
}

#[derive(Debug, Default)]
struct ParsedDecision {
    title: String,
    decision: String,
    rationale: String,
    stories: Vec<usize>,
    decided_by: String,
    decided_at: UnixMillis,
}

#[derive(Debug, Default)]
struct ParsedQuestion {
    question: String,
    answer: String,
    asked_by: String,
    answered_by: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Section {
    Start,
    Problem,
    Metrics,
    Stories,
    Criteria(CriterionKind),
    Constraints,
    Decisions,
    Questions,
    Detached,
}

/// Text after a fixed label, with the one optional separating space removed.
fn after<'a>(line: &'a str, label: &str) -> Option<&'a str> {
    let rest = line.strip_prefix(label)?;
    if rest.is_empty() {
        return Some(rest);
    }
    rest.strip_prefix(' ')
}

fn parse_constraint(line: &str) -> Option<ParsedConstraint> {
    let rest = line.strip_prefix("- **")?;
    let (severity, rest) = rest.split_once("** · ")?;
    let (kind, rest) = rest.split_once(" · ")?;
    let (status, text) = match rest.split_once(" — ") {
        Some((status, text)) => (status, text),
        None => (rest.strip_suffix(" —")?, ""),
    };
    Some(ParsedConstraint {
        severity: Severity::from_label(severity)?,
        kind: ConstraintKind::from_label(kind)?,
        status: ConstraintStatus::from_label(status)?,
        text: unescape(text),
        author: String::new(),
        anchor: None,
    })
}

fn parse_anchor(line: &str) -> Option<(StoryField, String, bool, usize)> {
    let (rest, orphaned) = match line.strip_prefix("  - Anchored to **") {
        Some(rest) => (rest, false),
        None => (line.strip_prefix("  - Orphaned from **")?, true),
    };
    let (label, rest) = rest.split_once("**")?;
    let (nth, quote) = match rest.strip_prefix(" (occurrence ") {
        Some(r) => {
            let (n, quote) = r.split_once("):")?;
            (n.parse::<usize>().ok().filter(|n| *n >= 2)?, quote)
        }
        None => (1, rest.strip_prefix(':')?),
    };
    let quote = quote.strip_prefix(' ').unwrap_or(quote);
    Some((
        StoryField::from_label(label)?,
        unescape(quote),
        orphaned,
        nth,
    ))
}

fn parse(md: &str) -> Result<ParsedSpec, ImportError> {
    let mut spec = ParsedSpec::default();
    let mut section = Section::Start;
    let mut seen_title = false;
    for (n, raw) in md.split('\n').enumerate() {
        let line_no = n + 1;
        let err = |message: &str| ImportError {
            line: line_no,
            message: message.to_owned(),
        };
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        if line.trim().is_empty() {
            continue;
        }
        // Section headings.
        let next = match line {
            PROBLEM => Some(Section::Problem),
            METRICS => Some(Section::Metrics),
            STORIES => Some(Section::Stories),
            DECISIONS => Some(Section::Decisions),
            QUESTIONS => Some(Section::Questions),
            DETACHED => Some(Section::Detached),
            _ => None,
        };
        if let Some(next) = next {
            if !seen_title {
                return Err(err("the spec must start with its `# title`"));
            }
            section = next;
            continue;
        }
        if !seen_title {
            let title =
                after(line, "#").ok_or_else(|| err("the spec must start with its `# title`"))?;
            spec.title = unescape(title);
            seen_title = true;
            continue;
        }
        match section {
            Section::Start => return Err(err("expected `## Problem` after the title")),
            Section::Problem => {
                if spec.problem.is_some() {
                    return Err(err(
                        "the problem is one paragraph (newlines are written `<br>`)",
                    ));
                }
                spec.problem = Some(unescape(line));
            }
            Section::Metrics => {
                let rest = after(line, "-")
                    .ok_or_else(|| err("expected a metric `- name — **Target:** target`"))?;
                let at =
                    find_raw(rest, TARGET).ok_or_else(|| err("a metric needs ` — **Target:**`"))?;
                let target = &rest[at + TARGET.len()..];
                let target = target.strip_prefix(' ').unwrap_or(target);
                spec.metrics.push((unescape(&rest[..at]), unescape(target)));
            }
            Section::Stories | Section::Criteria(_) | Section::Constraints => {
                if let Some(rest) = line.strip_prefix("### Story ") {
                    let (_, status) = rest
                        .split_once(" · ")
                        .ok_or_else(|| err("expected `### Story N · Status`"))?;
                    let status = StoryStatus::from_label(status)
                        .ok_or_else(|| err("unknown story status"))?;
                    spec.stories.push(ParsedStory {
                        status,
                        fields: [None, None, None],
                        criteria: Vec::new(),
                        constraints: Vec::new(),
                    });
                    section = Section::Stories;
                    continue;
                }
                let story = spec
                    .stories
                    .last_mut()
                    .ok_or_else(|| err("expected `### Story N · Status`"))?;
                if line == CONSTRAINTS {
                    section = Section::Constraints;
                    continue;
                }
                if let Some(kind) = line
                    .strip_prefix("#### ")
                    .and_then(|h| h.strip_suffix(" criteria"))
                {
                    let kind = CriterionKind::from_label(kind)
                        .ok_or_else(|| err("unknown criteria kind"))?;
                    section = Section::Criteria(kind);
                    continue;
                }
                match section {
                    Section::Stories => {
                        let found = StoryField::ALL.iter().enumerate().find_map(|(i, f)| {
                            after(line, &format!("- **{}**", f.label())).map(|t| (i, t))
                        });
                        let (i, text) = found.ok_or_else(|| {
                            err("expected `- **As a**`, `- **I want**` or `- **So that**`")
                        })?;
                        if story.fields[i].is_some() {
                            return Err(err("this story field appears twice"));
                        }
                        story.fields[i] = Some(unescape(text));
                    }
                    Section::Criteria(kind) => {
                        let (done, text) = if let Some(t) = after(line, "- [ ]") {
                            (false, t)
                        } else if let Some(t) = after(line, "- [x]") {
                            (true, t)
                        } else {
                            return Err(err("expected a criterion `- [ ] text` or `- [x] text`"));
                        };
                        story.criteria.push((kind, done, unescape(text)));
                    }
                    _ => constraint_line(&mut story.constraints, line).map_err(err)?,
                }
            }
            Section::Decisions => {
                if let Some(title) = after(line, "###") {
                    spec.decisions.push(ParsedDecision {
                        title: unescape(title),
                        ..ParsedDecision::default()
                    });
                    continue;
                }
                let d = spec
                    .decisions
                    .last_mut()
                    .ok_or_else(|| err("expected a decision `### title`"))?;
                if let Some(t) = after(line, "- **Decision:**") {
                    d.decision = unescape(t);
                } else if let Some(t) = after(line, "- **Why:**") {
                    d.rationale = unescape(t);
                } else if let Some(t) = after(line, "- **Stories:**") {
                    for s in t.split(", ") {
                        let n: usize = s
                            .strip_prefix("Story ")
                            .and_then(|n| n.parse().ok())
                            .filter(|n| *n >= 1)
                            .ok_or_else(|| err("expected `Story N, Story M`"))?;
                        d.stories.push(n - 1);
                    }
                } else if let Some(t) = after(line, "- **Decided by**") {
                    let at =
                        find_raw(t, DECIDED_ON).ok_or_else(|| err("expected `**on** <time>`"))?;
                    d.decided_by = unescape(&t[..at]);
                    d.decided_at = parse_time(&t[at + DECIDED_ON.len()..])
                        .ok_or_else(|| err("expected an RFC 3339 time"))?;
                } else {
                    return Err(err("unexpected line in a decision"));
                }
            }
            Section::Questions => {
                if let Some(q) = after(line, "- **Q:**") {
                    spec.questions.push(ParsedQuestion {
                        question: unescape(q),
                        ..ParsedQuestion::default()
                    });
                    continue;
                }
                let q = spec
                    .questions
                    .last_mut()
                    .ok_or_else(|| err("expected a question `- **Q:** …`"))?;
                if let Some(a) = after(line, "  - **A:**") {
                    q.answer = unescape(a);
                } else if let Some(a) = after(line, "  - Asked by") {
                    q.asked_by = unescape(a);
                } else if let Some(a) = after(line, "  - Answered by") {
                    q.answered_by = unescape(a);
                } else {
                    return Err(err("unexpected line in a question"));
                }
            }
            Section::Detached => constraint_line(&mut spec.detached, line).map_err(err)?,
        }
    }
    if !seen_title {
        return Err(ImportError {
            line: 1,
            message: "the spec must start with its `# title`".into(),
        });
    }
    for d in &spec.decisions {
        if d.stories.iter().any(|n| *n >= spec.stories.len()) {
            return Err(ImportError {
                line: 1,
                message: format!("decision {:?} names a story that does not exist", d.title),
            });
        }
    }
    Ok(spec)
}

/// One line of a constraints list: a constraint or one of its detail lines.
fn constraint_line(list: &mut Vec<ParsedConstraint>, line: &str) -> Result<(), &'static str> {
    if let Some(c) = parse_constraint(line) {
        list.push(c);
        return Ok(());
    }
    let c = list
        .last_mut()
        .ok_or("expected a constraint `- **Severity** · Kind · Status — text`")?;
    if let Some(author) = after(line, "  - Raised by") {
        c.author = unescape(author);
    } else if let Some(anchor) = parse_anchor(line) {
        c.anchor = Some(anchor);
    } else {
        return Err("unexpected line in a constraint");
    }
    Ok(())
}

/// Builds a new spec from Markdown in the export format, as one change by `author`.
/// Fresh item ids come from `rng`.
pub fn import(
    md: &str,
    author: Author,
    now: UnixMillis,
    rng: &mut impl RngCore,
) -> Result<Spec, ImportError> {
    let parsed = parse(md)?;
    let mut spec = Spec::new(author);
    spec.batch("import markdown", now, |spec| {
        build(spec, &parsed, now, rng)
    })
    .map_err(|e| ImportError {
        line: 0,
        message: format!("the spec could not be built: {e}"),
    })?;
    Ok(spec)
}

fn build(
    spec: &mut Spec,
    p: &ParsedSpec,
    now: UnixMillis,
    rng: &mut impl RngCore,
) -> Result<(), EditError> {
    use crate::schema::TextField;
    spec.set_text(&TextField::Title, &p.title, now)?;
    spec.set_text(&TextField::Problem, p.problem.as_deref().unwrap_or(""), now)?;
    for (i, (name, target)) in p.metrics.iter().enumerate() {
        spec.add_metric(&ItemId::random(rng), i, name, target, now)?;
    }
    let mut story_ids = Vec::new();
    for (i, s) in p.stories.iter().enumerate() {
        let id = ItemId::random(rng);
        let [as_a, i_want, so_that] = s.fields.clone().map(Option::unwrap_or_default);
        let new = NewStory {
            as_a,
            i_want,
            so_that,
        };
        spec.add_story(&id, i, &new, now)?;
        if s.status != StoryStatus::Draft {
            spec.set_story_status(&id, s.status, now)?;
        }
        for (j, (kind, done, text)) in s.criteria.iter().enumerate() {
            let cid = ItemId::random(rng);
            spec.add_criterion(&id, &cid, j, *kind, text, now)?;
            if *done {
                spec.set_criterion_done(&id, &cid, true, now)?;
            }
        }
        for (j, c) in s.constraints.iter().enumerate() {
            let anchor = match &c.anchor {
                Some((field, quote, false, nth)) => {
                    let text = new.field(*field);
                    occurrences(text, quote)
                        .get(nth - 1)
                        .map(|start| AnchorSpan {
                            field: *field,
                            start: *start,
                            end: start + read::utf16_len(quote),
                        })
                }
                _ => None,
            };
            let cid = ItemId::random(rng);
            let new_c = NewConstraint {
                kind: c.kind,
                severity: c.severity,
                text: c.text.clone(),
                anchor,
            };
            spec.add_constraint(&id, &cid, j, &new_c, now)?;
            finish_constraint(spec, &cid, c, anchor.is_some(), now)?;
        }
        story_ids.push(id);
    }
    for (i, d) in p.decisions.iter().enumerate() {
        let id = ItemId::random(rng);
        let new = NewDecision {
            title: d.title.clone(),
            decision: d.decision.clone(),
            rationale: d.rationale.clone(),
            stories: d
                .stories
                .iter()
                .filter_map(|n| story_ids.get(*n).cloned())
                .collect(),
        };
        spec.add_decision(&id, i, &new, now)?;
        spec.set_attribution(
            "decision",
            &id,
            &[("decided_by", &d.decided_by)],
            Some(d.decided_at),
        )?;
    }
    for (i, q) in p.questions.iter().enumerate() {
        let id = ItemId::random(rng);
        spec.add_question(&id, i, &q.question, now)?;
        spec.set_text(
            &TextField::Question {
                question: id.clone(),
                field: crate::schema::QuestionField::Answer,
            },
            &q.answer,
            now,
        )?;
        spec.set_attribution(
            "question",
            &id,
            &[("asked_by", &q.asked_by), ("answered_by", &q.answered_by)],
            None,
        )?;
    }
    if !p.detached.is_empty() {
        // Detached constraints belong to a story that no longer exists: give them a story id
        // that no story has, so they stay detached after import.
        let gone = ItemId::random(rng);
        for (j, c) in p.detached.iter().enumerate() {
            let cid = ItemId::random(rng);
            spec.add_detached_constraint(&gone, &cid, j, c.kind, c.severity, &c.text, now)?;
            finish_constraint(spec, &cid, c, false, now)?;
        }
    }
    Ok(())
}

/// Status, author and an anchor that could not be placed, for an imported constraint.
fn finish_constraint(
    spec: &mut Spec,
    id: &ItemId,
    c: &ParsedConstraint,
    anchored: bool,
    now: UnixMillis,
) -> Result<(), EditError> {
    if c.status != ConstraintStatus::Open {
        spec.set_constraint_status(id, c.status, now)?;
    }
    spec.set_attribution("constraint", id, &[("author", &c.author)], None)?;
    if let (Some((field, quote, _, _)), false) = (&c.anchor, anchored) {
        spec.set_orphaned_anchor(id, *field, quote)?;
    }
    Ok(())
}

impl NewStory {
    fn field(&self, field: StoryField) -> &str {
        match field {
            StoryField::AsA => &self.as_a,
            StoryField::IWant => &self.i_want,
            StoryField::SoThat => &self.so_that,
        }
    }
}
