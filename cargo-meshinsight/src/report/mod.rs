//! Every renderer: results for people (terminal tables, markdown, SVG plots) and machines
//! (JSON, JUnit XML). Pure functions from a stage's output to text.
//!
//! Terminal text fits a [`Width`] the application layer chooses (the terminal's, or
//! `COLUMNS`): tables through [`fit`] (comfy-table's dynamic arrangement wraps cells), prose
//! through [`wrap`]. Markdown is never wrapped. Numbers are written by [`num`].

pub(crate) mod analyze;
pub(crate) mod analyze_plot;
pub(crate) mod bench;
pub(crate) mod critical_path;
pub(crate) mod junit;
pub(crate) mod num;
pub(crate) mod prediction;
pub(crate) mod probe;
pub(crate) mod profile;
pub(crate) mod validate;
pub(crate) mod validate_plot;
pub(crate) mod verdict;

use comfy_table::presets::UTF8_BORDERS_ONLY;
use comfy_table::{ColumnConstraint, ContentArrangement, Table};

pub(crate) use num::{cores, us};

/// How a result is printed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum Format {
    /// A table for the terminal.
    #[default]
    Table,
    /// JSON for programs.
    Json,
    /// A markdown table (PR comments, step summaries).
    Markdown,
}

/// How many columns terminal text may take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Width(pub(crate) u16);

impl Width {
    /// The width when standard output is not a terminal and `COLUMNS` is not set: wide
    /// enough that a log or a file keeps most tables on one line per row.
    pub(crate) const DEFAULT: Width = Width(160);
    /// Narrower than this, tables cannot fit their numbers: a smaller width is raised to it.
    pub(crate) const MIN: Width = Width(40);

    /// `columns`, raised to [`Width::MIN`].
    pub(crate) fn new(columns: u16) -> Width {
        Width(columns.max(Width::MIN.0))
    }
}

/// Makes `table` fit in `width`; call it once the table has its rows.
///
/// A table that fits as it is stays as it is. Otherwise every column gets at least its
/// longest word (numbers and names stay whole; cells wrap at spaces), the space left goes to
/// the columns that want more, the least demanding first. When even the longest words do not
/// fit, the widest column gives up a character, again and again: a column of text (names,
/// paths) down to its header's longest word, one of numbers down to its longest number (its
/// header breaks); numbers break only when nothing else is left.
pub(crate) fn fit(table: &mut Table, width: Width) -> &mut Table {
    tighten(table);
    let natural = table.column_max_content_widths();
    let words = longest_words(table);
    let frame = frame_width(table);
    let available = (width.0 as usize).saturating_sub(frame);
    let total: usize = natural.iter().map(|&w| w as usize).sum();
    if total <= available {
        return table;
    }
    let widths = column_widths(&natural, &words, available);
    table
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(width.0);
    for (column, w) in table.column_iter_mut().zip(widths) {
        let padded = w.saturating_add(column.padding_width());
        column.set_constraint(ColumnConstraint::Absolute(comfy_table::Width::Fixed(
            padded,
        )));
    }
    table
}

/// In the borders-only style, columns two spaces apart instead of three: its columns are
/// separated by a blank vertical line besides their padding, which a narrow terminal cannot
/// spare on a table of nine columns.
fn tighten(table: &mut Table) {
    if table.style() != UTF8_BORDERS_ONLY {
        return;
    }
    let last = table.column_count().saturating_sub(1);
    for column in table.column_iter_mut() {
        let right = if column.index == last { 1 } else { 0 };
        column.set_padding((1, right));
    }
}

/// Content widths for columns whose content is `natural` wide with longest words `words`,
/// in `available` columns (see [`fit`]).
fn column_widths(natural: &[u16], words: &[Words], available: usize) -> Vec<u16> {
    let mut widths: Vec<u16> = words
        .iter()
        .zip(natural)
        .map(|(w, &n)| w.longest.min(n).max(1))
        .collect();
    let mut used: usize = widths.iter().map(|&w| w as usize).sum();
    // Too narrow for the longest words: take one character at a time from the widest column
    // still above its floor: text down to its header's words, numbers down to their longest;
    // then any column down to one character.
    for last_resort in [false, true] {
        let floor = |i: usize| match (last_resort, words[i].text) {
            (true, _) => 1,
            (false, true) => words[i].header.min(words[i].body).max(1),
            (false, false) => words[i].body.max(1),
        };
        while used > available {
            let Some(i) = (0..widths.len())
                .filter(|&i| widths[i] > floor(i))
                .max_by_key(|&i| widths[i])
            else {
                break;
            };
            widths[i] -= 1;
            used -= 1;
        }
    }
    // Room to spare: the columns that want the least more get theirs first; the rest share.
    let mut wanting: Vec<usize> = (0..widths.len())
        .filter(|&i| natural[i] > widths[i])
        .collect();
    wanting.sort_by_key(|&i| natural[i] - widths[i]);
    let mut left = available.saturating_sub(used);
    for (k, &i) in wanting.iter().enumerate() {
        let share = left / (wanting.len() - k);
        let give = share.min((natural[i] - widths[i]) as usize);
        widths[i] += give as u16;
        left -= give;
    }
    widths
}

/// The columns a table's borders and padding take: its width with every column one
/// character wide, less one per column.
fn frame_width(table: &Table) -> usize {
    let mut probe = table.clone();
    let columns = probe.column_count();
    for column in probe.column_iter_mut() {
        let padded = 1 + column.padding_width();
        column.set_constraint(ColumnConstraint::Absolute(comfy_table::Width::Fixed(
            padded,
        )));
    }
    // Constraints apply only to a table of a known width.
    probe
        .set_content_arrangement(ContentArrangement::Dynamic)
        .set_width(u16::MAX);
    widest_line(&probe.to_string()).saturating_sub(columns)
}

/// What [`fit`] needs to know of a column's words.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Words {
    /// The display width of its longest word (a run without whitespace), header included.
    longest: u16,
    /// That of its header's longest word.
    header: u16,
    /// That of the longest word in its cells below the header.
    body: u16,
    /// Whether its cells hold text (a letter in a cell), not only numbers.
    text: bool,
}

/// The [`Words`] of each column.
fn longest_words(table: &mut Table) -> Vec<Words> {
    let mut words = vec![Words::default(); table.column_count()];
    let longest = |text: &str| {
        let w = text
            .split_whitespace()
            .map(textwrap::core::display_width)
            .max()
            .unwrap_or(0);
        u16::try_from(w).unwrap_or(u16::MAX)
    };
    if let Some(header) = table.header() {
        for (w, cell) in words.iter_mut().zip(header.cell_iter()) {
            w.header = longest(&cell.content());
            w.longest = w.header;
        }
    }
    for row in table.row_iter() {
        for (w, cell) in words.iter_mut().zip(row.cell_iter()) {
            let content = cell.content();
            w.body = w.body.max(longest(&content));
            w.longest = w.longest.max(w.body);
            w.text |= content.chars().any(char::is_alphabetic);
        }
    }
    words
}

/// The display width of the widest line of `text`.
pub(crate) fn widest_line(text: &str) -> usize {
    text.lines()
        .map(textwrap::core::display_width)
        .max()
        .unwrap_or(0)
}

/// `text` with every line longer than `width` wrapped at spaces; a wrapped line's
/// continuation is indented two spaces more than the line itself.
pub(crate) fn wrap(text: &str, width: Width) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 40);
    for line in text.split_inclusive('\n') {
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line, ""),
        };
        if textwrap::core::display_width(body) <= width.0 as usize {
            out.push_str(line);
            continue;
        }
        let lead = &body[..body.len() - body.trim_start().len()];
        let more = format!("{lead}  ");
        // Words stay whole (no splitting at hyphens: ids and file names keep theirs); only a
        // word longer than a line is broken.
        let options = textwrap::Options::new(width.0 as usize)
            .initial_indent(lead)
            .subsequent_indent(&more)
            .word_splitter(textwrap::WordSplitter::NoHyphenation);
        out.push_str(&textwrap::fill(body.trim_start(), options));
        out.push_str(newline);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_short_lines_and_indents_continuations() {
        let text = "short\n  a line that is certainly longer than twenty columns\nend";
        let wrapped = wrap(text, Width(20));
        assert_eq!(
            wrapped,
            "short\n  a line that is\n    certainly longer\n    than twenty\n    columns\nend"
        );
        assert!(
            wrapped.lines().all(|l| l.chars().count() <= 20),
            "{wrapped}"
        );
    }

    fn number(longest: u16) -> Words {
        Words {
            longest,
            header: longest,
            body: longest,
            text: false,
        }
    }

    #[test]
    fn column_widths_keep_words_whole_and_share_what_is_left() {
        let words = [number(8), number(12), number(4)];
        // The words fit; of the 6 left, 2 go to the column that wants 2, 4 to the other.
        assert_eq!(column_widths(&[10, 30, 4], &words, 30), vec![10, 16, 4]);
        // Not even the words fit: the widest is narrowed.
        assert_eq!(column_widths(&[10, 30, 4], &words, 20), vec![8, 8, 4]);
        // A column of names gives up width first, down to its header's words.
        let names = Words {
            longest: 16,
            header: 4,
            body: 16,
            text: true,
        };
        let words = [names, number(10), number(9)];
        assert_eq!(column_widths(&[16, 10, 9], &words, 30), vec![11, 10, 9]);
        assert_eq!(column_widths(&[16, 10, 9], &words, 20), vec![4, 8, 8]);
        // A long header breaks before a name or the numbers under it.
        let long_header = Words {
            longest: 9,
            header: 9,
            body: 4,
            text: false,
        };
        let words = [names, long_header, number(6)];
        assert_eq!(column_widths(&[16, 9, 6], &words, 26), vec![11, 9, 6]);
        assert_eq!(column_widths(&[16, 9, 6], &words, 15), vec![5, 4, 6]);
    }

    #[test]
    fn a_fitted_table_is_no_wider_than_asked() {
        let mut t = Table::new();
        t.load_style(comfy_table::presets::UTF8_BORDERS_ONLY)
            .set_header(vec!["fixture", "a long header of a column", "another"]);
        t.add_row(vec![
            "boutique-q2-product",
            "frontend → productcatalog → currency → cart → currency-2",
            "1725",
        ]);
        fit(&mut t, Width(40));
        let text = t.to_string();
        assert!(text.lines().all(|l| l.chars().count() <= 40), "{text}");
    }
}
