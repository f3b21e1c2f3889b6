//! Waiting until a restarted exporter is healthy.
//!
//! Polls fast at first (10 ms, ×1.5 each time, at most 500 ms apart) until
//! `spec.timeout` after the restart. Healthy means, all at once:
//! - the HTTP check passes (skipped without `spec.url`);
//! - the unit is active;
//! - at least `spec.settle` has passed since the restart, during which
//!   `NRestarts` did not move and the main PID stayed the same.
//!
//! It fails fast, without waiting for the timeout, when the unit is `failed`
//! or `inactive` once the first [`FAIL_FAST_AFTER`] have passed, when
//! `NRestarts` moved, or when the main PID changed. The `none` manager has no
//! unit to watch: only the HTTP check counts, with no settle time.

use super::probe::Probe;
use super::{HealthFailure, HealthReport};
use crate::health::HealthSpec;
use crate::service::ServiceManagerKind;
use crate::service::{ServiceManager, ServiceSpec, UnitStatus};
use std::time::{Duration, Instant};

pub const FIRST_DELAY: Duration = Duration::from_millis(10);
pub const MAX_DELAY: Duration = Duration::from_millis(500);
/// A unit seen down this long after the restart is down for good.
pub const FAIL_FAST_AFTER: Duration = Duration::from_millis(100);
/// The shortest wait for one `/metrics` answer (see `attempt`).
pub const FIRST_ATTEMPT_TIMEOUT: Duration = Duration::from_millis(250);

/// Why one attempt did not pass.
enum Miss {
    /// Give up now.
    Fatal(HealthFailure),
    /// Try again (until the timeout).
    NotYet(HealthFailure),
}

struct Watch<'a> {
    svc: &'a dyn ServiceManager,
    service: &'a ServiceSpec,
    baseline: &'a UnitStatus,
    /// The main PID to stay with: the baseline's, or the first one seen.
    main_pid: Option<u32>,
}

impl Watch<'_> {
    fn check_unit(&mut self, since_restart: Duration) -> Result<(), Miss> {
        let unit = &self.service.unit;
        let st = self.svc.status(self.service).map_err(|e| Miss::Fatal(e.into()))?;
        if st.n_restarts != self.baseline.n_restarts {
            return Err(Miss::Fatal(HealthFailure::UnitRestarted {
                unit: unit.clone(),
                before: self.baseline.n_restarts,
                after: st.n_restarts,
                output: self.svc.recent_output(self.service),
            }));
        }
        match (self.main_pid, st.main_pid) {
            (Some(before), Some(after)) if before != after => {
                return Err(Miss::Fatal(HealthFailure::MainPidChanged {
                    unit: unit.clone(),
                    before,
                    after,
                }))
            }
            (None, Some(now)) => self.main_pid = Some(now),
            _ => {}
        }
        if st.is_down() {
            let fatal = since_restart >= FAIL_FAST_AFTER;
            // Only a verdict quotes the exporter's output: reading it costs
            // a journal query, which a retry within the first moments need not pay.
            let f = HealthFailure::UnitDown {
                unit: unit.clone(),
                status: st,
                output: fatal.then(|| self.svc.recent_output(self.service)).flatten(),
            };
            return Err(if fatal { Miss::Fatal(f) } else { Miss::NotYet(f) });
        }
        if !st.is_active() {
            return Err(Miss::NotYet(HealthFailure::UnitNotActive {
                unit: unit.clone(),
                status: st,
            }));
        }
        Ok(())
    }
}

impl Probe {
    /// Waits until the exporter restarted at `restarted_at` is healthy.
    /// `baseline` is the unit's status right after the restart returned
    /// (its `NRestarts` and `MainPID` must not move from there).
    pub fn wait_healthy(
        &self,
        svc: &dyn ServiceManager,
        service: &ServiceSpec,
        spec: &HealthSpec,
        version: &str,
        restarted_at: Instant,
        baseline: &UnitStatus,
    ) -> Result<HealthReport, HealthFailure> {
        let mut watch = (svc.kind() != ServiceManagerKind::None).then_some(Watch {
            svc,
            service,
            baseline,
            main_pid: baseline.main_pid,
        });
        // Validation bounds both; a state.json edited by hand is held to the
        // same bound here, and the additions cannot overflow (an overflowing
        // deadline would panic after the flip, and again on resume).
        let timeout = spec.timeout.min(super::MAX_HEALTH_WAIT);
        let settle = if watch.is_some() {
            spec.settle.min(super::MAX_HEALTH_WAIT)
        } else {
            Duration::ZERO
        };
        let settled_at = restarted_at.checked_add(settle).unwrap_or(restarted_at);
        let deadline = restarted_at.checked_add(timeout).unwrap_or(restarted_at);
        let mut delay = FIRST_DELAY;
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            let outcome = self.attempt(watch.as_mut(), spec, version, restarted_at, deadline);
            let now = Instant::now();
            let last = match outcome {
                Ok(()) if now >= settled_at => {
                    return Ok(HealthReport {
                        elapsed: now.duration_since(restarted_at),
                        attempts,
                    })
                }
                Ok(()) => HealthFailure::Settling {
                    unit: service.unit.clone(),
                    settle,
                },
                Err(Miss::Fatal(f)) => return Err(f),
                Err(Miss::NotYet(f)) => f,
            };
            if now >= deadline {
                return Err(HealthFailure::TimedOut {
                    after: timeout,
                    attempts,
                    last: Box::new(last),
                });
            }
            let mut sleep = delay.min(deadline - now);
            if matches!(last, HealthFailure::Settling { .. }) {
                // Look again right when the settle time is over.
                sleep = sleep.min(settled_at - now);
            }
            tracing::trace!(attempt = attempts, ?sleep, %last, "not healthy yet");
            std::thread::sleep(sleep);
            delay = (delay * 3 / 2).min(MAX_DELAY);
        }
    }

    fn attempt(
        &self,
        watch: Option<&mut Watch<'_>>,
        spec: &HealthSpec,
        version: &str,
        restarted_at: Instant,
        deadline: Instant,
    ) -> Result<(), Miss> {
        let since_restart = restarted_at.elapsed();
        if let Some(w) = watch {
            w.check_unit(since_restart)?;
        }
        // A request may take as long as the exporter has been up (at least
        // FIRST_ATTEMPT_TIMEOUT, at most the probe's timeout): behind a
        // socket, a release that died at start leaves the request queued with
        // nobody to answer it, and a full timeout would hide the dead unit
        // that the next look at it reports. A slow exporter still gets its
        // full allowance once it has been up that long.
        let allowance = since_restart.clamp(FIRST_ATTEMPT_TIMEOUT, self.request_timeout().max(FIRST_ATTEMPT_TIMEOUT));
        let left = deadline.saturating_duration_since(Instant::now());
        self.check_within(spec, version, allowance.min(left))
            .map_err(Miss::NotYet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::{ServiceError, ServiceSpec};
    use std::sync::Mutex;

    /// A manager whose `status` answers from a script, repeating the last entry.
    struct Scripted {
        kind: ServiceManagerKind,
        states: Mutex<Vec<UnitStatus>>,
        calls: Mutex<u32>,
    }

    impl Scripted {
        fn new(kind: ServiceManagerKind, states: Vec<UnitStatus>) -> Self {
            Scripted {
                kind,
                states: Mutex::new(states),
                calls: Mutex::new(0),
            }
        }
    }

    impl ServiceManager for Scripted {
        fn kind(&self) -> ServiceManagerKind {
            self.kind
        }
        fn preflight(&self) -> Result<(), ServiceError> {
            Ok(())
        }
        fn restart(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            Ok(())
        }
        fn stop(&self, _: &ServiceSpec) -> Result<(), ServiceError> {
            Ok(())
        }
        fn status(&self, _: &ServiceSpec) -> Result<UnitStatus, ServiceError> {
            *self.calls.lock().unwrap() += 1;
            let mut s = self.states.lock().unwrap();
            Ok(if s.len() > 1 { s.remove(0) } else { s[0].clone() })
        }
    }

    fn st(active: &str, n_restarts: u64, pid: Option<u32>) -> UnitStatus {
        UnitStatus {
            active_state: active.into(),
            sub_state: "x".into(),
            n_restarts,
            main_pid: pid,
        }
    }

    fn service() -> ServiceSpec {
        ServiceSpec {
            exporter: "x".into(),
            unit: "x.service".into(),
            exec: "/bin/true".into(),
            args: vec![],
            environment: Default::default(),
            socket: None,
        }
    }

    /// No URL: only the unit counts.
    fn spec(timeout_ms: u64, settle_ms: u64) -> HealthSpec {
        HealthSpec {
            timeout: Duration::from_millis(timeout_ms),
            settle: Duration::from_millis(settle_ms),
            ..HealthSpec::default()
        }
    }

    fn wait(m: &Scripted, spec: &HealthSpec, baseline: &UnitStatus) -> Result<HealthReport, HealthFailure> {
        Probe::new()
            .unwrap()
            .wait_healthy(m, &service(), spec, "1", Instant::now(), baseline)
    }

    #[test]
    fn active_and_settled_passes_after_the_settle_time() {
        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("active", 0, Some(7))]);
        let r = wait(&m, &spec(60_000, 150), &st("active", 0, Some(7))).unwrap();
        assert!(r.elapsed >= Duration::from_millis(150));
        assert!(r.attempts >= 2);
    }

    #[test]
    fn a_dead_unit_behind_a_socket_is_seen_before_a_request_times_out() {
        // A socket-activated unit whose release died at start: the port
        // accepts (the kernel queues the connection) and nobody answers.
        let queue = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let spec = HealthSpec {
            url: Some(format!("http://{}/metrics", queue.local_addr().unwrap())),
            timeout: Duration::from_secs(3),
            settle: Duration::ZERO,
            ..HealthSpec::default()
        };
        let dead = UnitStatus {
            sub_state: "auto-restart".into(),
            ..st("activating", 0, None)
        };
        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("active", 0, Some(7)), dead]);
        // A request allowed the probe's whole timeout from the start would
        // outlast the health timeout and report a timeout instead.
        let e = Probe::with_request_timeout(Duration::from_secs(5))
            .unwrap()
            .wait_healthy(&m, &service(), &spec, "1", Instant::now(), &st("active", 0, Some(7)))
            .unwrap_err();
        assert!(matches!(e, HealthFailure::UnitDown { .. }), "{e}");
    }

    #[test]
    fn restarts_fail_fast() {
        let m = Scripted::new(
            ServiceManagerKind::Systemd,
            vec![st("active", 0, Some(7)), st("activating", 1, None)],
        );
        let e = wait(&m, &spec(60_000, 60_000), &st("active", 0, Some(7))).unwrap_err();
        assert!(
            matches!(
                e,
                HealthFailure::UnitRestarted {
                    before: 0,
                    after: 1,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn a_new_main_pid_fails_fast() {
        let m = Scripted::new(ServiceManagerKind::Process, vec![st("active", 0, Some(8))]);
        let e = wait(&m, &spec(60_000, 60_000), &st("active", 0, Some(7))).unwrap_err();
        assert!(
            matches!(
                e,
                HealthFailure::MainPidChanged {
                    before: 7,
                    after: 8,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn the_first_main_pid_seen_is_adopted() {
        let m = Scripted::new(
            ServiceManagerKind::Systemd,
            vec![
                st("activating", 0, None),
                st("active", 0, Some(9)),
                st("active", 0, Some(10)),
            ],
        );
        let e = wait(&m, &spec(60_000, 60_000), &st("activating", 0, None)).unwrap_err();
        assert!(
            matches!(
                e,
                HealthFailure::MainPidChanged {
                    before: 9,
                    after: 10,
                    ..
                }
            ),
            "{e}"
        );
    }

    #[test]
    fn failed_fails_fast_but_not_in_the_first_moments() {
        // Down at first, then up: within the first 100 ms that is tolerated.
        let m = Scripted::new(
            ServiceManagerKind::Systemd,
            vec![st("inactive", 0, None), st("active", 0, Some(3))],
        );
        wait(&m, &spec(60_000, 0), &st("inactive", 0, None)).unwrap();

        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("failed", 0, None)]);
        let e = wait(&m, &spec(60_000, 0), &st("active", 0, None)).unwrap_err();
        assert!(matches!(e, HealthFailure::UnitDown { .. }), "{e}");
        assert_eq!(
            e.to_string(),
            "x.service is not running: its process exited (failed (x))"
        );
    }

    #[test]
    fn a_unit_that_stays_activating_times_out_saying_so() {
        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("activating", 0, None)]);
        let e = wait(&m, &spec(200, 0), &st("activating", 0, None)).unwrap_err();
        match &e {
            HealthFailure::TimedOut { attempts, last, .. } => {
                assert!(*attempts >= 2);
                assert!(matches!(**last, HealthFailure::UnitNotActive { .. }), "{e}");
            }
            other => panic!("{other}"),
        }
    }

    #[test]
    fn a_settle_time_longer_than_the_timeout_times_out_settling() {
        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("active", 0, Some(1))]);
        let e = wait(&m, &spec(100, 10_000), &st("active", 0, Some(1))).unwrap_err();
        assert!(matches!(e.last_seen(), HealthFailure::Settling { .. }), "{e}");
    }

    #[test]
    fn durations_from_a_hand_edited_state_cannot_overflow_the_deadline() {
        // `400000000000y` in a state.json: adding it to an Instant panicked.
        let endless = HealthSpec {
            timeout: Duration::MAX,
            settle: Duration::MAX,
            ..HealthSpec::default()
        };
        let m = Scripted::new(ServiceManagerKind::None, vec![]);
        assert_eq!(wait(&m, &endless, &UnitStatus::unknown()).unwrap().attempts, 1);
        let m = Scripted::new(ServiceManagerKind::Systemd, vec![st("failed", 0, None)]);
        let e = wait(&m, &endless, &st("active", 0, Some(1))).unwrap_err();
        assert!(e.to_string().contains("is not running"), "{e}");
    }

    #[test]
    fn none_manager_skips_unit_checks_and_settle() {
        let m = Scripted::new(ServiceManagerKind::None, vec![st("failed", 5, Some(1))]);
        let r = wait(&m, &spec(60_000, 60_000), &UnitStatus::unknown()).unwrap();
        assert_eq!(r.attempts, 1);
        assert_eq!(*m.calls.lock().unwrap(), 0);
    }
}
