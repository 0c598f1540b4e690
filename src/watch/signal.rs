//! When the watcher asks for a reconcile, from what one look at GitHub saw: pure.
//!
//! A look sees the unit's busy runners, the jobs waiting that its runners could take, the
//! floor the schedule sets now, and how many runners the unit has registered. Demand moving
//! either way asks for a reconcile now: more runners are due, or a used one is gone and must
//! be replaced. Demand falling also asks for one after `idle-wait`, when the idle runners
//! above the new target may go.

/// Demand on the unit at one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Signal {
    pub busy: usize,
    pub queued: usize,
    pub floor: usize,
}

impl Signal {
    /// Runners wanted: every busy one, plus the floor or the queue, whichever is more, at
    /// most `max` (the plan's own rule, [`crate::manager::plan::Elastic::target`], before this
    /// unit's share of the queue).
    pub fn wanted(&self, max: usize) -> usize {
        (self.busy + self.queued.max(self.floor)).min(max)
    }
}

/// What to do after a look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reaction {
    /// Reconcile now.
    pub now: bool,
    /// Reconcile once idle runners above the new target have waited their `idle-wait`.
    pub after_wait: bool,
}

/// The reaction to `seen` after `last` (none: the watcher's first look, when only too few
/// registered runners, `have`, ask for a reconcile: the hook that started the watcher has
/// just reconciled).
pub fn react(last: Option<Signal>, seen: Signal, have: usize, max: usize) -> Reaction {
    let Some(last) = last else {
        return Reaction {
            now: have < seen.wanted(max),
            after_wait: false,
        };
    };
    if last == seen {
        return Reaction::default();
    }
    Reaction {
        now: true,
        after_wait: seen.wanted(max) < last.wanted(max),
    }
}

/// After a counted delivery: the demand as it now stands, and whether to reconcile now. A
/// runner that took a job may need replacing; for a repository GitHub's own list (which the
/// reconcile reads) may hold the new job; for an organisation the book is its queue, and only
/// a move of the target is worth a reconcile (a flood of jobs past the ceiling is one).
pub fn after_delivery(
    last: Option<Signal>,
    queued: usize,
    taken: bool,
    repository: bool,
    max: usize,
) -> (Option<Signal>, bool) {
    match last {
        None => (None, true),
        Some(seen) if repository => (Some(seen), true),
        Some(seen) => {
            let now = Signal { queued, ..seen };
            (Some(now), taken || now.wanted(max) != seen.wanted(max))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(busy: usize, queued: usize, floor: usize) -> Signal {
        Signal { busy, queued, floor }
    }

    #[test]
    fn nothing_changed_asks_for_nothing() {
        assert_eq!(react(Some(signal(1, 0, 2)), signal(1, 0, 2), 3, 6), Reaction::default());
    }

    #[test]
    fn a_runner_taking_a_job_or_a_job_queued_asks_for_a_reconcile_now() {
        let took = react(Some(signal(0, 0, 1)), signal(1, 0, 1), 1, 4);
        assert_eq!(
            took,
            Reaction {
                now: true,
                after_wait: false
            }
        );
        let queued = react(Some(signal(1, 0, 1)), signal(1, 3, 1), 2, 4);
        assert_eq!(
            queued,
            Reaction {
                now: true,
                after_wait: false
            }
        );
    }

    #[test]
    fn demand_falling_asks_now_and_again_after_the_idle_wait() {
        let done = react(Some(signal(3, 1, 1)), signal(0, 0, 1), 4, 4);
        assert_eq!(
            done,
            Reaction {
                now: true,
                after_wait: true
            }
        );
        let window_ended = react(Some(signal(0, 0, 4)), signal(0, 0, 1), 4, 6);
        assert_eq!(
            window_ended,
            Reaction {
                now: true,
                after_wait: true
            }
        );
    }

    #[test]
    fn an_organisation_s_deliveries_reconcile_only_when_the_target_moves_or_a_runner_is_taken() {
        let seen = Some(signal(0, 3, 1));
        assert_eq!(after_delivery(seen, 4, false, false, 4), (Some(signal(0, 4, 1)), true));
        assert_eq!(
            after_delivery(seen, 9, false, false, 3),
            (Some(signal(0, 9, 1)), false),
            "at the ceiling"
        );
        assert!(after_delivery(seen, 3, true, false, 4).1, "a runner took a job");
        assert!(
            after_delivery(seen, 3, false, true, 4).1,
            "a repository's list is read by the reconcile"
        );
        assert!(after_delivery(None, 0, false, false, 4).1, "nothing seen yet");
    }

    #[test]
    fn the_first_look_asks_only_when_runners_are_missing() {
        assert!(!react(None, signal(1, 0, 2), 3, 6).now);
        assert!(react(None, signal(1, 2, 2), 2, 6).now);
        assert!(!react(None, signal(4, 9, 2), 6, 6).now, "the ceiling is reached");
    }
}
