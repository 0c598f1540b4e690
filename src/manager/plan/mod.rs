//! Decides what reconcile and flush must do, from a snapshot of what exists.
//!
//! Owns every rule: who is healthy, who is idle, what to remove, how many to create, what
//! never to touch, whether creating needs the binary, how many are healthy after acting.
//! Each runner's (LXD instance, GitHub registration) pairing gets one named [`Verdict`] in
//! one exhaustive `match` ([`verdict`]), so a forgotten case does not compile. No I/O here:
//! no clock, no network, no LXD. `act` carries a [`Plan`] out.
//!
//! The original's rules, kept: unhealthy runners are replaced; the target counts healthy
//! runners (a local instance whose runner process lives and that GitHub lists, online yet or
//! not; one GitHub does not list is replaced: its registration is gone); scale-down
//! removes only runners GitHub shows online and idle; the delta returned is `target − healthy`.
//! Fixed: a busy runner is never removed by reconcile, not even an unhealthy one (GitHub may
//! still be finishing its job); this unit's registrations that have no instance and are not
//! busy (orphans: a creation that died half way, runners stopped by a reboot, a runner GitHub
//! has not seen leave yet) are deleted, by reconcile and by flush, online or not: a name of
//! this unit's exact pattern lives only in this unit's LXD, so no runner is behind it.
//! New: a runner's life is bounded: one GitHub shows offline past the grace a new runner has
//! to come online is replaced (its listener is gone), and one idle past `runner-max-age` too;
//! never a busy one.

/// What GitHub says about one runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GithubSide {
    pub id: u64,
    pub online: bool,
    pub busy: bool,
}

/// What the unit's LXD says about one runner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalSide {
    /// The instance runs and its runner process lives.
    pub healthy: bool,
    pub age: Age,
    /// Seconds since its creation (`None`: an instance an earlier release made). An ephemeral
    /// runner idle now has been idle since then.
    pub age_secs: Option<u64>,
}

/// How old a runner's instance is, against the unit's lifetimes (observe reads the clock).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Age {
    /// Within the grace a new runner has to come online on GitHub (or of an unknown age: an
    /// instance an earlier release made).
    New,
    /// Past that grace: a runner GitHub shows offline now has no listener, whatever its pid
    /// file says.
    Grown,
    /// Past the maximum age (`runner-max-age`).
    Expired,
}

/// How long a runner may live.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lifetimes {
    /// A new runner's time to come online on GitHub.
    pub online_grace_secs: u64,
    /// An idle runner's longest life (`runner-max-age`).
    pub max_age_secs: u64,
}

impl Age {
    /// The age of an instance created at `created` (Unix seconds; `None`: not known) at `now`.
    pub fn of(created: Option<u64>, now: u64, lifetimes: &Lifetimes) -> Age {
        let Some(age) = created.map(|c| now.saturating_sub(c)) else {
            return Age::New;
        };
        if age > lifetimes.max_age_secs {
            Age::Expired
        } else if age > lifetimes.online_grace_secs {
            Age::Grown
        } else {
            Age::New
        }
    }
}

/// One runner name of this unit, seen from both sides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub name: String,
    pub local: Option<LocalSide>,
    pub github: Option<GithubSide>,
}

impl Observed {
    pub fn busy(&self) -> bool {
        self.github.is_some_and(|g| g.busy)
    }

    pub fn healthy(&self) -> bool {
        self.local.is_some_and(|l| l.healthy)
    }
}

/// The unit's runners by state, as one look found them: healthy or unhealthy in LXD; busy,
/// idle (online, no job) or offline on GitHub.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub healthy: usize,
    pub unhealthy: usize,
    pub busy: usize,
    pub idle: usize,
    pub offline: usize,
}

impl Counts {
    pub fn of(snapshot: &[Observed]) -> Counts {
        let mut counts = Counts::default();
        for runner in snapshot {
            match runner.local {
                Some(LocalSide { healthy: true, .. }) => counts.healthy += 1,
                Some(LocalSide { healthy: false, .. }) => counts.unhealthy += 1,
                None => {}
            }
            match runner.github {
                Some(GithubSide { busy: true, .. }) => counts.busy += 1,
                Some(GithubSide { online: true, .. }) => counts.idle += 1,
                Some(GithubSide { online: false, .. }) => counts.offline += 1,
                None => {}
            }
        }
        counts
    }
}

/// Why a runner goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// Its instance is stopped or its runner process died.
    Unhealthy,
    /// A live instance whose registration is gone (a removal killed half way, a registration
    /// deleted by hand): no job can reach it. Runners register before their creation ends,
    /// and no creation runs while the charm looks, so it is never one still registering.
    Unregistered,
    /// More runners than the target.
    ScaleDown,
    /// A registration with no instance, not busy.
    Orphan,
    Flush,
    /// Past its grace, and GitHub shows it offline: its listener is gone (a job may have
    /// killed it and kept the instance alive), whatever its pid file says.
    Offline,
    /// Idle past the maximum age.
    Expired,
}

impl Reason {
    /// Every reason, in the order the metrics show them.
    pub const ALL: [Reason; 7] = [
        Reason::Unhealthy,
        Reason::Unregistered,
        Reason::ScaleDown,
        Reason::Orphan,
        Reason::Flush,
        Reason::Offline,
        Reason::Expired,
    ];

    /// The reason as a metric label and in the event log.
    pub fn label(self) -> &'static str {
        match self {
            Reason::Unhealthy => "unhealthy",
            Reason::Unregistered => "unregistered",
            Reason::ScaleDown => "scale_down",
            Reason::Orphan => "orphan",
            Reason::Flush => "flush",
            Reason::Offline => "offline",
            Reason::Expired => "expired",
        }
    }
}

/// Why a runner is left alone for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hold {
    /// GitHub says it runs a job: never killed by a reconcile, even when its instance looks
    /// broken (GitHub may still be finishing the job).
    Busy,
    /// Seen on neither side: nothing exists to act on (observe never yields it).
    Unseen,
}

/// What one runner's two sides decide, before counting against the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Healthy: it counts toward the target.
    Keep,
    /// Broken: removed, and counted as missing (a new one is created in its place).
    Replace(Reason),
    /// Removed, and never counted.
    Remove(Reason),
    /// Neither counted nor removed.
    Wait(Hold),
}

/// Which runners a flush removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flush {
    /// Runners GitHub does not show busy: no job is killed.
    Idle,
    /// Every runner, busy ones too (their jobs fail): the unit is going away, or the
    /// operator asked.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removal {
    pub name: String,
    pub github_id: Option<u64>,
    pub reason: Reason,
    /// Whether the instance goes even if GitHub says busy ([`Flush::All`] only): otherwise
    /// the registration goes first and a busy answer keeps the instance.
    pub kill_busy: bool,
}

/// How many healthy runners a reconcile wants, decided once the runners are seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sizing {
    /// This many, busy or idle (the original's pool).
    Fixed(usize),
    /// The elastic pool.
    Elastic(Elastic),
}

/// Every busy runner plus `max(floor, queued)` idle ones, at most `max` runners in all;
/// an idle runner above that goes once it has waited `idle_wait_secs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elastic {
    pub floor: usize,
    pub max: usize,
    /// Queued jobs this unit's runners could take and no runner has (this unit's share).
    pub queued: usize,
    pub idle_wait_secs: u64,
    /// This unit's part of the application's queue.
    pub share: Share,
    /// Instances here of runners this reconcile does not work on (an earlier path's or
    /// token's, busy until their job ends): they count toward the ceiling.
    pub held: usize,
}

/// Which part of a queue the application shares between its units this unit takes, with no
/// coordinator: each knows how many units there are and its rank among them, and takes the
/// `rank`-th slice. Four jobs and two units: two each; five: three and two.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Share {
    pub units: usize,
    pub rank: usize,
}

impl Share {
    /// The whole queue (one unit, or no way to know of others).
    pub const WHOLE: Share = Share { units: 1, rank: 0 };

    /// This unit's slice of `total` queued jobs.
    pub fn of(self, total: usize) -> usize {
        let units = self.units.max(1);
        if self.rank >= units {
            return 0; // not among the units: none
        }
        total / units + usize::from(self.rank < total % units)
    }

    /// None of the queue: a unit going away.
    pub const NONE: Share = Share { units: 1, rank: 1 };

    /// Rank `unit` among `units` (unit names, `app/N`) by number; none of the queue when it
    /// is not among them (Juju lists a unit going away as dying: its jobs are for the rest).
    pub fn among(units: &[String], unit: &str) -> Share {
        let number = |name: &str| name.rsplit('/').next().and_then(|n| n.parse::<u64>().ok());
        let mut numbers: Vec<u64> = units.iter().filter_map(|u| number(u)).collect();
        numbers.sort_unstable();
        numbers.dedup();
        match number(unit).and_then(|own| numbers.iter().position(|n| *n == own)) {
            Some(rank) => Share {
                units: numbers.len(),
                rank,
            },
            None => Share::NONE,
        }
    }
}

/// Why an elastic target is what it is: for the status, the action and the metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Demand {
    /// Runners busy now, with an instance here.
    pub busy: usize,
    pub floor: usize,
    pub queued: usize,
    pub max: usize,
}

impl Elastic {
    /// Idle runners wanted: the floor, or this unit's share of the queue when it is longer.
    pub fn idle(&self) -> usize {
        self.floor.max(self.queued)
    }

    /// Healthy runners wanted with `busy` healthy ones busy, while `holding` other instances
    /// here (broken but busy) and the earlier generations' ([`Elastic::held`]) count toward
    /// the ceiling.
    pub fn target(&self, busy: usize, holding: usize) -> usize {
        (busy + self.idle()).min(self.max.saturating_sub(holding + self.held))
    }

    /// Why the target is what it is, with `busy` runners busy in all.
    pub fn demand(&self, busy: usize) -> Demand {
        Demand {
            busy,
            floor: self.floor,
            queued: self.queued,
            max: self.max,
        }
    }
}

impl Sizing {
    /// The runners wanted before any is seen: the fixed count, or the floor.
    pub fn nominal(self) -> usize {
        match self {
            Sizing::Fixed(n) => n,
            Sizing::Elastic(e) => e.floor,
        }
    }
}

impl Demand {
    /// `2 busy, floor 2, 2 queued` (the queue only when there is one).
    pub fn why(&self) -> String {
        let queued = if self.queued > 0 {
            format!(", {} queued", self.queued)
        } else {
            String::new()
        };
        format!("{} busy, floor {}{queued}", self.busy, self.floor)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// Healthy runners wanted.
    pub target: usize,
    /// The elastic pool's reasons (`None` for a fixed pool).
    pub demand: Option<Demand>,
    pub remove: Vec<Removal>,
    pub create: usize,
    /// `target − healthy`, the original's meaning.
    pub delta: i64,
    /// Healthy runners the plan keeps (all healthy ones but those scaled down).
    pub healthy_kept: usize,
}

impl Plan {
    /// Creating runners needs the runner binary; a plan that creates none does not.
    pub fn needs_binary(&self) -> bool {
        self.create > 0
    }

    /// Healthy runners once the plan was carried out: those kept, the scale-downs that
    /// failed (still running), and the creations that succeeded.
    pub fn healthy_after(&self, removed: &[Removal], created: usize) -> usize {
        let planned = self.remove.iter().filter(|r| r.reason == Reason::ScaleDown).count();
        let done = removed.iter().filter(|r| r.reason == Reason::ScaleDown).count();
        self.healthy_kept + planned.saturating_sub(done) + created
    }
}

fn removal(runner: &Observed, reason: Reason) -> Removal {
    Removal {
        name: runner.name.clone(),
        github_id: runner.github.map(|g| g.id),
        reason,
        kill_busy: false,
    }
}

/// The verdict on one runner, from every pairing of what LXD and GitHub say.
pub fn verdict(runner: &Observed) -> Verdict {
    let expired = |age| age == Age::Expired;
    match (runner.local, runner.github) {
        (Some(LocalSide { healthy: true, age, .. }), Some(GithubSide { busy: false, .. })) if expired(age) => {
            Verdict::Replace(Reason::Expired)
        }
        (
            Some(LocalSide {
                healthy: true,
                age: Age::Grown | Age::Expired,
                ..
            }),
            Some(GithubSide {
                online: false,
                busy: false,
                ..
            }),
        ) => Verdict::Replace(Reason::Offline),
        (Some(LocalSide { healthy: true, .. }), Some(_)) => Verdict::Keep,
        (Some(LocalSide { healthy: true, .. }), None) => Verdict::Replace(Reason::Unregistered),
        (Some(LocalSide { healthy: false, .. }), Some(GithubSide { busy: true, .. })) => Verdict::Wait(Hold::Busy),
        (Some(LocalSide { healthy: false, .. }), Some(GithubSide { busy: false, .. }) | None) => {
            Verdict::Replace(Reason::Unhealthy)
        }
        (None, Some(GithubSide { busy: true, .. })) => Verdict::Wait(Hold::Busy),
        // Online or not: GitHub may not have seen the runner go (a reboot stopped it).
        (None, Some(GithubSide { busy: false, .. })) => Verdict::Remove(Reason::Orphan),
        (None, None) => Verdict::Wait(Hold::Unseen),
    }
}

/// Whether a healthy runner may go in a scale-down: only one GitHub shows online and idle
/// (one still registering, or busy, is never taken).
fn idle(runner: &Observed) -> bool {
    matches!(
        runner.github,
        Some(GithubSide {
            online: true,
            busy: false,
            ..
        })
    )
}

/// What reconcile does to reach the healthy runners `sizing` wants.
pub fn reconcile(snapshot: &[Observed], sizing: Sizing) -> Plan {
    let mut remove = Vec::new();
    let mut healthy: Vec<&Observed> = Vec::new();
    let mut busy_waiting = 0;
    for runner in snapshot {
        match verdict(runner) {
            Verdict::Keep => healthy.push(runner),
            Verdict::Replace(reason) | Verdict::Remove(reason) => remove.push(removal(runner, reason)),
            // A broken runner GitHub shows busy still holds an instance here.
            Verdict::Wait(Hold::Busy) if runner.local.is_some() => busy_waiting += 1,
            Verdict::Wait(_) => {}
        }
    }
    let (target, demand, idle_wait) = match sizing {
        Sizing::Fixed(target) => (target, None, None),
        Sizing::Elastic(e) => {
            let busy = healthy.iter().filter(|r| r.busy()).count();
            let target = e.target(busy, busy_waiting);
            (target, Some(e.demand(busy + busy_waiting)), Some(e.idle_wait_secs))
        }
    };
    let delta = target as i64 - healthy.len() as i64;
    let create = usize::try_from(delta).unwrap_or(0);
    let excess = usize::try_from(-delta).unwrap_or(0);
    // An elastic pool keeps an idle runner for the next job until it has waited.
    let waited = |r: &Observed| match (idle_wait, r.local.and_then(|l| l.age_secs)) {
        (Some(wait), Some(age)) => age >= wait,
        _ => true,
    };
    let mut idle: Vec<&&Observed> = healthy.iter().filter(|r| idle(r) && waited(r)).collect();
    // Deterministic: the same snapshot always removes the same runners.
    idle.sort_by(|a, b| a.name.cmp(&b.name));
    let scaled_down: Vec<Removal> = idle
        .into_iter()
        .take(excess)
        .map(|r| removal(r, Reason::ScaleDown))
        .collect();
    let healthy_kept = healthy.len() - scaled_down.len();
    remove.extend(scaled_down);
    Plan {
        target,
        demand,
        remove,
        create,
        delta,
        healthy_kept,
    }
}

/// What a flush removes: every runner with an instance (busy ones only with [`Flush::All`]),
/// and the orphans. It creates nothing; the caller reconciles after.
pub fn flush(snapshot: &[Observed], which: Flush) -> Plan {
    let mut remove = Vec::new();
    for runner in snapshot {
        let reason = match (runner.local, runner.github, which) {
            (Some(_), Some(GithubSide { busy: true, .. }), Flush::Idle) => None,
            (Some(_), _, _) => Some(Reason::Flush),
            (None, _, _) => match verdict(runner) {
                Verdict::Remove(reason) => Some(reason),
                Verdict::Keep | Verdict::Replace(_) | Verdict::Wait(_) => None,
            },
        };
        if let Some(reason) = reason {
            remove.push(Removal {
                kill_busy: which == Flush::All && runner.local.is_some(),
                ..removal(runner, reason)
            });
        }
    }
    Plan {
        remove,
        ..Plan::default()
    }
}

#[cfg(test)]
mod elastic_tests;
#[cfg(test)]
mod tests;
