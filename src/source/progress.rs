//! Download progress: a bar per download (indicatif) when stderr is a
//! terminal, plain `tracing` lines otherwise.

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// How downloads report progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ProgressMode {
    /// Bars if stderr is a terminal, else log lines.
    #[default]
    Auto,
    /// Always bars (drawn only if stderr is a terminal).
    Bars,
    /// Log lines only.
    Log,
}

pub struct Progress {
    multi: Option<MultiProgress>,
}

impl Progress {
    pub fn new(mode: ProgressMode) -> Progress {
        let bars = match mode {
            ProgressMode::Auto => std::io::stderr().is_terminal(),
            ProgressMode::Bars => true,
            ProgressMode::Log => false,
        };
        Progress {
            multi: bars.then(MultiProgress::new),
        }
    }

    pub fn uses_bars(&self) -> bool {
        self.multi.is_some()
    }

    /// A bar for one download of `name` (a file name, never a secret).
    pub fn bar(&self, name: &str) -> Bar {
        let pb = self.multi.as_ref().map(|m| {
            let pb = m.add(ProgressBar::no_length());
            if let Ok(style) =
                ProgressStyle::with_template("{prefix:.bold} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
            {
                pb.set_style(style);
            }
            pb.set_prefix(name.to_string());
            pb
        });
        Bar { pb }
    }
}

pub struct Bar {
    pb: Option<ProgressBar>,
}

impl Bar {
    pub fn start(&self, len: Option<u64>) {
        if let Some(pb) = &self.pb {
            pb.reset();
            match len {
                Some(l) => pb.set_length(l),
                None => pb.unset_length(),
            }
        }
    }

    pub fn inc(&self, n: u64) {
        if let Some(pb) = &self.pb {
            pb.inc(n);
        }
    }

    pub fn message(&self, msg: &str) {
        if let Some(pb) = &self.pb {
            pb.set_message(msg.to_string());
        }
    }

    pub fn finish(&self, msg: &str) {
        if let Some(pb) = &self.pb {
            pb.finish_with_message(msg.to_string());
        }
    }

    pub fn fail(&self, msg: &str) {
        if let Some(pb) = &self.pb {
            pb.abandon_with_message(msg.to_string());
        }
    }
}
