//! Aligned text tables for the CLI: columns as wide as their widest cell, two spaces apart,
//! no trailing spaces.

/// A table with a header row.
pub struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Table {
            rows: vec![header.iter().map(|h| h.to_string()).collect()],
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn render(&self) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = String::new();
            for (c, cell) in row.iter().enumerate() {
                if c + 1 == row.len() {
                    line.push_str(cell);
                } else {
                    line.push_str(&format!("{cell:<width$}  ", width = widths[c]));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `3d4h`, `5m12s`, `42s`: short, like kubectl's AGE column.
pub fn short_duration(secs: u64) -> String {
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m{}s", s / 60, s % 60),
        s if s < 86_400 => format!("{}h{}m", s / 3600, s % 3600 / 60),
        s => format!("{}d{}h", s / 86_400, s % 86_400 / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_columns() {
        let mut t = Table::new(&["NAME", "STATE"]);
        t.row(vec!["web.10".into(), "running".into()]);
        t.row(vec!["a".into(), "crashloop".into()]);
        assert_eq!(
            t.render(),
            "NAME    STATE\nweb.10  running\na       crashloop\n"
        );
    }

    #[test]
    fn durations_are_short() {
        assert_eq!(short_duration(42), "42s");
        assert_eq!(short_duration(312), "5m12s");
        assert_eq!(short_duration(7_260), "2h1m");
        assert_eq!(short_duration(90_000), "1d1h");
    }
}
