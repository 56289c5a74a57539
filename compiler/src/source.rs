//! Input files and positions in them.
//!
//! Front ends and diagnostics work with byte spans into a [`SourceFile`];
//! provenance in the IR ([`ir::Source`]) and the human and JSON renderings use
//! 1-based lines and columns counted in characters. This module converts
//! between the two without ever slicing inside a UTF-8 sequence.

use std::ops::Range;
use std::sync::Arc;

/// A byte range in a [`SourceFile`]'s text.
pub type Span = Range<usize>;

/// One input file: its name as the user gave it and its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFile {
    name: Arc<str>,
    text: String,
    /// Byte offset of the start of every line; the first is 0.
    line_starts: Vec<usize>,
}

impl SourceFile {
    /// A file called `name` holding `text`.
    pub fn new(name: impl Into<Arc<str>>, text: impl Into<String>) -> Arc<Self> {
        let text = text.into();
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect();
        Arc::new(SourceFile {
            name: name.into(),
            text,
            line_starts,
        })
    }

    /// The name as the user gave it (a path or a label).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name, shareable (as [`ir::Source::file`] wants it).
    pub fn name_arc(&self) -> Arc<str> {
        self.name.clone()
    }

    /// The whole text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// `offset` moved back onto a character boundary within the text.
    pub fn floor_char_boundary(&self, offset: usize) -> usize {
        let mut i = offset.min(self.text.len());
        while !self.text.is_char_boundary(i) {
            i -= 1;
        }
        i
    }

    /// `span` clamped to the text and to character boundaries, never reversed.
    pub fn clamp(&self, span: Span) -> Span {
        let start = self.floor_char_boundary(span.start);
        let end = self.floor_char_boundary(span.end).max(start);
        start..end
    }

    /// The text of `span` (clamped, so this never panics).
    pub fn slice(&self, span: Span) -> &str {
        let s = self.clamp(span);
        &self.text[s]
    }

    /// 0-based index of the line holding `offset`.
    pub fn line_index(&self, offset: usize) -> usize {
        let offset = offset.min(self.text.len());
        match self.line_starts.binary_search(&offset) {
            Ok(i) => i,
            Err(i) => i - 1,
        }
    }

    /// The byte range of 0-based line `index`, without its line break.
    /// Past the last line, the empty range at the end of the text.
    pub fn line_range(&self, index: usize) -> Span {
        let len = self.text.len();
        let Some(&start) = self.line_starts.get(index) else {
            return len..len;
        };
        let end = self
            .line_starts
            .get(index + 1)
            .map(|&next| next - 1)
            .unwrap_or(len);
        let end = if end > start && self.text.as_bytes().get(end - 1) == Some(&b'\r') {
            end - 1
        } else {
            end
        };
        start..end
    }

    /// 1-based line and column (in characters) of `offset`.
    pub fn line_col(&self, offset: usize) -> (u32, u32) {
        let offset = self.floor_char_boundary(offset);
        let line = self.line_index(offset);
        let start = self.line_starts.get(line).copied().unwrap_or(0);
        let column = self.text[start..offset].chars().count() + 1;
        (saturate(line + 1), saturate(column))
    }

    /// The span a provenance position names: an element's `<name` (`<ip` of
    /// `<ip …>`) when the position is a start tag, else as many bytes as
    /// `other` finds in the text from the position on. `None` when the
    /// position is outside the file.
    pub fn span_at(&self, at: &ir::Source, other: impl FnOnce(&str) -> usize) -> Option<Span> {
        let start = self.offset_of(at.line, at.column)?;
        let rest = self.slice(start..self.text().len());
        let len = match rest.strip_prefix('<') {
            Some(name) => {
                1 + name
                    .find(|c: char| c.is_whitespace() || c == '>' || c == '/')
                    .unwrap_or(name.len())
            }
            None => other(rest),
        };
        Some(start..start + len)
    }

    /// The byte offset of a 1-based line and character column, if the file
    /// has such a position (the inverse of [`SourceFile::line_col`]).
    pub fn offset_of(&self, line: u32, column: u32) -> Option<usize> {
        let index = (line as usize).checked_sub(1)?;
        let range = self.line_range(index);
        if index >= self.line_starts.len() {
            return None;
        }
        let skip = (column as usize).checked_sub(1)?;
        let line_text = &self.text[range.clone()];
        if skip == line_text.chars().count() {
            return Some(range.end);
        }
        line_text
            .char_indices()
            .nth(skip)
            .map(|(i, _)| range.start + i)
    }

    /// The IR provenance of the element whose tag starts at `offset`.
    pub fn ir_source(&self, offset: usize, element: &str) -> ir::Source {
        let (line, column) = self.line_col(offset);
        ir::Source {
            file: self.name_arc(),
            line,
            column,
            element: element.into(),
        }
    }
}

fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_columns_are_one_based_and_count_characters() {
        let f = SourceFile::new("t.xml", "ab\nçd\r\nx");
        assert_eq!(f.line_col(0), (1, 1));
        assert_eq!(f.line_col(1), (1, 2));
        assert_eq!(f.line_col(3), (2, 1));
        // 'd' follows the two-byte 'ç': byte 5, character column 2.
        assert_eq!(f.line_col(5), (2, 2));
        assert_eq!(f.line_col(8), (3, 1));
        assert_eq!(f.line_range(1), 3..6);
        assert_eq!(f.offset_of(2, 2), Some(5));
        assert_eq!(f.offset_of(3, 1), Some(8));
        assert_eq!(f.offset_of(4, 1), None);
        assert_eq!(f.offset_of(0, 1), None);
    }

    #[test]
    fn offsets_inside_a_character_are_clamped() {
        let f = SourceFile::new("t.xml", "ç");
        assert_eq!(f.clamp(1..2), 0..2);
        assert_eq!(f.line_col(1), (1, 1));
        assert_eq!(f.slice(5..9), "");
        let reversed = std::ops::Range { start: 2, end: 1 };
        assert_eq!(f.clamp(reversed), 2..2);
    }
}
