//! The foreground console of `pier up`, like foreman: every line prefixed with the time and
//! its source (`web.1`), each source in its own colour, pier's own notes set apart.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::Arc;

use pier_supervisor::{LogBus, LogLine, LogStream};
use tokio::sync::broadcast::error::RecvError;

const COLOURS: &[&str] = &["36", "33", "32", "35", "34", "91", "96", "93", "92", "95"];

/// How the console prints.
#[derive(Clone, Copy)]
pub struct Style {
    pub colour: bool,
}

impl Style {
    /// Colour when stdout is a terminal, NO_COLOR is unset and `--no-color` was not given.
    pub fn detect(no_color: bool) -> Style {
        let colour =
            !no_color && std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal();
        Style { colour }
    }

    pub fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// Prints every new line of `logs` until the bus closes or the task is aborted.
pub fn spawn_printer(logs: &LogBus, style: Style) -> tokio::task::JoinHandle<()> {
    let mut rx = logs.subscribe();
    tokio::spawn(async move {
        let mut printer = Printer {
            style,
            colours: HashMap::new(),
            width: 8,
        };
        loop {
            match rx.recv().await {
                Ok(line) => printer.print(&line),
                Err(RecvError::Lagged(n)) => printer.note(&format!(
                    "{n} log lines not shown (console too slow; see `pier logs`)"
                )),
                Err(RecvError::Closed) => return,
            }
        }
    })
}

struct Printer {
    style: Style,
    colours: HashMap<String, &'static str>,
    width: usize,
}

impl Printer {
    fn print(&mut self, line: &Arc<LogLine>) {
        self.width = self.width.max(line.source.len());
        let next = self.colours.len();
        let colour = *self
            .colours
            .entry(line.service().to_string())
            .or_insert(COLOURS[next % COLOURS.len()]);
        let time = jiff::Zoned::try_from(line.at).map_or_else(
            |_| "--:--:--".to_string(),
            |t| t.strftime("%H:%M:%S").to_string(),
        );
        let prefix = format!("{time} {:<width$} |", line.source, width = self.width);
        let text = match line.stream {
            LogStream::System => self.style.paint("2", &format!("pier: {}", line.text)),
            _ => line.text.clone(),
        };
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{} {text}", self.style.paint(colour, &prefix));
    }

    fn note(&self, text: &str) {
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            self.style.paint("2", &format!("pier: {text}"))
        );
    }
}

/// A step heading, like Heroku's build output: `-----> Building`.
pub fn step(style: Style, text: &str) {
    println!("{} {text}", style.paint("1;35", "----->"));
}
