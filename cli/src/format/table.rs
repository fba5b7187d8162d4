//! Column alignment as docker's output goes through Go's `tabwriter` (minimum cell width 10,
//! padding 3, spaces): a tab ends a cell, and every tab-terminated cell of a column is padded
//! to the column's widest; the last cell of a line is written as it is.

/// Aligns tab-separated `text` (lines ending in `\n`).
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    let lines: Vec<Vec<&str>> = text
        .split_inclusive('\n')
        .map(|l| l.strip_suffix('\n').unwrap_or(l).split('\t').collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        // Every cell but the last is tab-terminated and so aligned.
        for (c, cell) in cells[..cells.len() - 1].iter().enumerate() {
            let w = (cell.chars().count() + PADDING).max(MIN_WIDTH);
            if widths.len() <= c {
                widths.push(w);
            } else {
                widths[c] = widths[c].max(w);
            }
        }
    }
    let mut out = String::with_capacity(text.len() * 2);
    for (i, cells) in lines.iter().enumerate() {
        for (c, cell) in cells.iter().enumerate() {
            out.push_str(cell);
            if c + 1 < cells.len() {
                let pad = widths[c] - cell.chars().count();
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        if i + 1 < lines.len() || text.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pads_columns_to_the_widest_cell_plus_three() {
        let out = tabwrite("REPOSITORY\tTAG\tIMAGE ID\nbusybox\tlatest\t0123456789ab\n");
        assert_eq!(
            out,
            "REPOSITORY   TAG       IMAGE ID\nbusybox      latest    0123456789ab\n"
        );
    }

    #[test]
    fn an_empty_last_cell_keeps_the_padding_before_it() {
        let out = tabwrite("SIZE\tCOMMENT\n0B\t\n");
        assert_eq!(out, "SIZE      COMMENT\n0B        \n");
    }

    #[test]
    fn wide_characters_count_once() {
        let out = tabwrite("a…\tb\nlonger-cell\tc\n");
        assert_eq!(out, "a…            b\nlonger-cell   c\n");
    }
}
