//! Reports print as Markdown tables, readable in a terminal and pasteable into
//! `bench/README.md`.

use std::fmt;

/// Writes `rows` under `headers` as a Markdown table with aligned columns.
pub fn write(f: &mut fmt::Formatter<'_>, headers: &[&str], rows: &[Vec<String>]) -> fmt::Result {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |f: &mut fmt::Formatter<'_>, cells: &mut dyn Iterator<Item = &str>| {
        for (cell, width) in cells.zip(&widths) {
            write!(f, "| {cell:<width$} ")?;
        }
        writeln!(f, "|")
    };
    line(f, &mut headers.iter().copied())?;
    let rules: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    line(f, &mut rules.iter().map(String::as_str))?;
    for row in rows {
        line(f, &mut row.iter().map(String::as_str))?;
    }
    Ok(())
}

/// `value` with one decimal.
pub fn num(value: f64) -> String {
    format!("{value:.1}")
}

/// `ratio` as a percentage, e.g. `42 %`.
pub fn percent(ratio: f64) -> String {
    format!("{:.0} %", ratio * 100.0)
}

/// `met` or `NOT met`.
pub fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
