//! Structured logs on stderr (stdout is kept for command output). Request logs come from
//! `tracing-actix-web` and carry a request id; they never include headers or query strings,
//! so never a token. Logs cannot be forged: in the text format every event is one line, with
//! line breaks and control characters in user-controlled text (filters, ids, names) escaped,
//! and colour only when stderr is a terminal.

use std::io::{IsTerminal, Write};

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// Installs the global subscriber. `RUST_LOG`, when set, overrides the configured level.
pub fn init(level: &str, format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let terminal = std::io::stderr().is_terminal();
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let installed = match format {
        // JSON escapes every string itself.
        LogFormat::Json => builder
            .json()
            .with_ansi(false)
            .with_writer(std::io::stderr)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(terminal)
            .with_writer(OneLineStderr { colour: terminal })
            .try_init(),
    };
    if let Err(error) = installed {
        eprintln!("logging was already set up: {error}");
    }
}

/// Writes each formatted event to stderr as exactly one line.
#[derive(Clone, Copy)]
struct OneLineStderr {
    /// The formatter's own colour codes are let through (user text is escaped by it).
    colour: bool,
}

impl<'a> MakeWriter<'a> for OneLineStderr {
    type Writer = Self;

    fn make_writer(&'a self) -> Self::Writer {
        *self
    }
}

impl Write for OneLineStderr {
    /// The formatter hands over one whole event per call.
    fn write(&mut self, event: &[u8]) -> std::io::Result<usize> {
        std::io::stderr()
            .lock()
            .write_all(one_line(event, self.colour).as_bytes())?;
        Ok(event.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// `event` with every control character but a final newline (and, with `colour`, escape
/// sequences) written as a visible escape.
fn one_line(event: &[u8], colour: bool) -> String {
    let text = String::from_utf8_lossy(event);
    let (body, ending) = match text.strip_suffix('\n') {
        Some(body) => (body, "\n"),
        None => (text.as_ref(), ""),
    };
    let mut line = String::with_capacity(body.len() + 1);
    for c in body.chars() {
        match c {
            '\t' => line.push(c),
            '\u{1b}' if colour => line.push(c),
            c if c.is_control() => line.extend(c.escape_default()),
            c => line.push(c),
        }
    }
    line.push_str(ending);
    line
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn an_event_is_one_line_whatever_its_fields_hold() {
        let forged = "INFO request filter=\"x\n2026-01-01T00:00:00Z  INFO admin signed in\r\u{1b}[2J\u{9b}1m\"\n";
        let line = one_line(forged.as_bytes(), false);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        assert!(!line.contains('\r') && !line.contains('\u{1b}') && !line.contains('\u{9b}'));
        assert!(line.contains("\\n2026-01-01") && line.contains("\\u{1b}[2J"));
    }

    #[test]
    fn colour_codes_of_the_formatter_pass_on_a_terminal() {
        let coloured = "\u{1b}[32m INFO\u{1b}[0m request\n";
        assert_eq!(one_line(coloured.as_bytes(), true), coloured);
        assert_eq!(one_line(b"plain\tline\n", false), "plain\tline\n");
    }
}
