//! Summaries (p50 / p95 / max over N runs) and the tables they go into.

use std::fmt::Write as _;

/// A set of samples of one figure, in milliseconds (or any unit).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: Vec<f64>,
    /// Runs that produced no value (e.g. the event never came).
    pub missing: usize,
}

impl Samples {
    pub fn push(&mut self, v: f64) {
        self.values.push(v);
    }

    pub fn push_opt(&mut self, v: Option<f64>) {
        match v {
            Some(v) => self.push(v),
            None => self.missing += 1,
        }
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    fn sorted(&self) -> Vec<f64> {
        let mut v = self.values.clone();
        v.sort_by(f64::total_cmp);
        v
    }

    /// Nearest-rank percentile (`p` in 0..=100).
    pub fn percentile(&self, p: f64) -> Option<f64> {
        let v = self.sorted();
        if v.is_empty() {
            return None;
        }
        let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
        v.get(rank.min(v.len()) - 1).copied()
    }

    pub fn max(&self) -> Option<f64> {
        self.sorted().last().copied()
    }

    pub fn min(&self) -> Option<f64> {
        self.sorted().first().copied()
    }

    /// The largest absolute value (for errors around zero).
    pub fn max_abs(&self) -> Option<f64> {
        self.values.iter().map(|v| v.abs()).max_by(f64::total_cmp)
    }
}

pub fn fmt_num(v: Option<f64>) -> String {
    match v {
        None => "–".into(),
        Some(v) if v.abs() >= 100.0 => format!("{v:.0}"),
        Some(v) if v.abs() >= 10.0 => format!("{v:.1}"),
        Some(v) => format!("{v:.2}"),
    }
}

/// A Markdown table that also prints well in a terminal.
#[derive(Debug, Clone)]
pub struct Table {
    pub header: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(header: &[&str]) -> Self {
        Self {
            header: header.iter().map(|s| (*s).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// A row for a figure: name, N, p50, p95, max, goal, verdict.
    pub fn figure(&mut self, name: &str, s: &Samples, goal: Goal) {
        let verdict = goal.verdict(s);
        let n = if s.missing > 0 {
            format!("{} (+{} missing)", s.len(), s.missing)
        } else {
            s.len().to_string()
        };
        self.row(vec![
            name.to_owned(),
            n,
            fmt_num(s.percentile(50.0)),
            fmt_num(s.percentile(95.0)),
            fmt_num(s.max()),
            goal.text(),
            verdict.to_owned(),
        ]);
    }

    pub fn markdown(&self) -> String {
        let widths: Vec<usize> = (0..self.header.len())
            .map(|i| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(i))
                    .chain(std::iter::once(&self.header[i]))
                    .map(|c| c.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let line = |cells: &[String]| {
            let mut s = String::from("|");
            for (i, w) in widths.iter().enumerate() {
                let c = cells.get(i).map_or("", String::as_str);
                let pad = w.saturating_sub(c.chars().count());
                let _ = write!(s, " {c}{} |", " ".repeat(pad));
            }
            s.push('\n');
            s
        };
        let mut out = line(&self.header);
        out.push('|');
        for w in &widths {
            let _ = write!(out, "{}|", "-".repeat(w + 2));
        }
        out.push('\n');
        for r in &self.rows {
            out.push_str(&line(r));
        }
        out
    }
}

/// What a figure is held against.
#[derive(Debug, Clone, Copy)]
pub enum Goal {
    /// p95 at most this.
    P95AtMost(f64),
    /// p95 at least this.
    AtLeast(f64),
    /// every sample within ±this.
    WithinAbs(f64),
    /// Reported only.
    None,
}

impl Goal {
    fn text(self) -> String {
        match self {
            Self::P95AtMost(v) => format!("p95 ≤ {}", fmt_num(Some(v))),
            Self::AtLeast(v) => format!("≥ {}", fmt_num(Some(v))),
            Self::WithinAbs(v) => format!("all within ±{}", fmt_num(Some(v))),
            Self::None => "–".into(),
        }
    }

    fn verdict(self, s: &Samples) -> &'static str {
        if s.len() == 0 {
            return "no data";
        }
        let ok = match self {
            Self::P95AtMost(v) => s.percentile(95.0).is_some_and(|p| p <= v) && s.missing == 0,
            Self::AtLeast(v) => s.min().is_some_and(|m| m >= v),
            Self::WithinAbs(v) => s.max_abs().is_some_and(|m| m <= v) && s.missing == 0,
            Self::None => return "",
        };
        if ok {
            "met"
        } else {
            "MISSED"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_are_nearest_rank() {
        let mut s = Samples::default();
        for v in 1..=20 {
            s.push(f64::from(v));
        }
        assert_eq!(s.percentile(50.0), Some(10.0));
        assert_eq!(s.percentile(95.0), Some(19.0));
        assert_eq!(s.max(), Some(20.0));
        let mut one = Samples::default();
        one.push(3.0);
        assert_eq!(one.percentile(95.0), Some(3.0));
    }

    #[test]
    fn tables_align() {
        let mut t = Table::new(&["a", "bee"]);
        t.row(vec!["long cell".into(), "x".into()]);
        let md = t.markdown();
        assert!(
            md.starts_with("| a         | bee |\n|-----------|-----|\n"),
            "{md}"
        );
    }
}
