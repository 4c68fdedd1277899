//! A progress line on stderr for steps that can take seconds (compiling a module, pulling one), so a first
//! run is not silent. indicatif draws it only when stderr is a terminal and clears it when the step ends;
//! piped or redirected stderr gets nothing.

use std::borrow::Cow;
use std::future::Future;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

/// How often the spinner moves.
const TICK: Duration = Duration::from_millis(120);

/// A step in progress: a spinner, what is being done and for how long, until it is dropped.
pub struct Step(ProgressBar);

impl Step {
    /// Shows `message` (e.g. "compiling module webservice") until the step is dropped.
    pub fn start(message: impl Into<Cow<'static, str>>) -> Self {
        let bar = ProgressBar::new_spinner().with_message(message);
        if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
            bar.set_style(style);
        }
        bar.enable_steady_tick(TICK);
        Step(bar)
    }
}

impl Drop for Step {
    fn drop(&mut self) {
        self.0.finish_and_clear();
    }
}

/// Runs `future` with a progress line saying `message`.
pub async fn step<T>(message: impl Into<Cow<'static, str>>, future: impl Future<Output = T>) -> T {
    let _step = Step::start(message);
    future.await
}
