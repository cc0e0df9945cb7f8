//! The figures as a Markdown table (pasted into BENCHMARKS.md as printed).

use std::time::Duration;

pub struct Report {
    notes: Vec<String>,
    rows: Vec<[String; 4]>,
}

pub fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

pub fn mb(bytes: Option<u64>) -> String {
    bytes
        .map(|b| format!("{:.1} MB", b as f64 / 1e6))
        .unwrap_or_else(|| "n/a".into())
}

pub fn verdict(ratio: String, met: bool) -> String {
    let word = if met { "met" } else { "**missed**" };
    if ratio.is_empty() {
        word.to_string()
    } else {
        format!("{ratio}: {word}")
    }
}

pub fn verdict_mb(bytes: Option<u64>, target_mb: f64) -> String {
    match bytes {
        Some(b) => verdict(
            format!("{:.2}× target", b as f64 / 1e6 / target_mb),
            b as f64 / 1e6 <= target_mb,
        ),
        None => "n/a".into(),
    }
}

/// Bytes under `dir`, recursively.
pub fn dir_size(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.metadata() {
                    Ok(m) if m.is_dir() => dir_size(&e.path()),
                    Ok(m) => m.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}

impl Report {
    pub fn new() -> Self {
        Self {
            notes: Vec::new(),
            rows: Vec::new(),
        }
    }

    pub fn note(&mut self, text: String) {
        self.notes.push(text);
    }

    pub fn row(&mut self, measure: &str, value: String, target: &str, result: impl Into<String>) {
        self.rows.push([
            measure.to_string(),
            value,
            target.to_string(),
            result.into(),
        ]);
    }

    pub fn print(&self) {
        println!("# syncwarden loadgen");
        println!();
        for n in &self.notes {
            println!("- {n}");
        }
        println!();
        println!("| measure | value | target | ratio |");
        println!("| --- | --- | --- | --- |");
        for [a, b, c, d] in &self.rows {
            println!("| {a} | {b} | {c} | {d} |");
        }
    }
}
