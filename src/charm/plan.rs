//! What each hook does, in one table. [`plan`] maps every hook, exhaustively, to a
//! [`HookPlan`]: when LXD is brought up, what becomes of the charm's background services,
//! whether a new path, token or secret revision is taken, and what work follows. `hooks`
//! carries a plan out in one straight line; a new hook or service is a new row or field here,
//! not a new code path there. Pure: no I/O.

pub(crate) use super::bring_up::When;
use crate::config::{CharmConfig, Pool};
use crate::event::Hook;
use crate::host::systemd_unit::Restart;
use crate::manager::plan::{Elastic, Share, Sizing};
use crate::manager::{BinaryCheck, Flush, OnNewBinary, Steps};

/// One hook's plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct HookPlan {
    /// When LXD is brought up (installed where no daemon answers).
    pub lxd: BringUp,
    /// What becomes of the reconcile timer and the metrics exporter.
    pub services: Services,
    /// A changed `path`, token or `token-secret-id` revision is taken up: `token-secret-id`
    /// is read at its latest revision (`secret-get --refresh`), and the runners made with the
    /// old values become a previous generation. Only where Juju tells of a change: any other
    /// hook moving the secret's tracked revision would swallow the `secret-changed` that
    /// retires the old token's runners.
    pub takes_new_token: bool,
    /// The exporter (from `metrics-port` alone) and the `cos-agent` data are kept first,
    /// whatever else the config says (as `COSAgentProvider` publishes on relation joined and
    /// changed, config-changed and upgrade-charm).
    pub publishes_cos: bool,
    /// What the hook does once the above is done.
    pub work: Work,
}

/// When a hook brings LXD up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BringUp {
    Never,
    /// First, whatever the config (`install`: a unit deployed before it is configured must
    /// have LXD by then); the snap is installed, or refreshed, where no daemon answers.
    First,
    /// Once the config is valid and the services are kept: at upgrade-charm as at install
    /// ([`When::Install`]); at start and config-changed only where there is no LXD at all
    /// ([`When::Retry`]: a daemon that is slow or restarting is waited for).
    AfterServices(When),
}

/// What a hook does to the charm's background services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Services {
    /// Left alone.
    Leave,
    /// The timer started again if someone stopped it; nothing else (`update-status`).
    RepairTimer,
    /// Written where their text changed and started where they are not running; the
    /// exporter (kept with the cos-agent data, [`HookPlan::publishes_cos`]) restarted as
    /// `exporter` says.
    Keep { exporter: Restart },
    /// Stopped and deleted (`stop`).
    Remove,
}

/// What a hook does after LXD and the services.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Work {
    /// The runner pipeline ([`super::pipeline`]): LXD set up, previous generations' idle
    /// runners retired, then these steps on the current runners, to `virtual-machines`.
    Runners {
        steps: RunnerSteps,
        /// Only while the reconcile timer is installed: a run that waited for the machine
        /// lock while `stop` removed it does nothing.
        only_while_timer: bool,
    },
    /// Nothing more than the `cos-agent` data ([`HookPlan::publishes_cos`]).
    CosRelation,
    /// Every runner removed, busy ones too, then the unit's LXD objects (`stop`).
    TearDown,
    /// The charm's state and metrics deleted (`remove`).
    ForgetState,
    /// Nothing more.
    Nothing,
}

/// The manager's steps, before the target is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RunnerSteps {
    pub flush: Option<Flush>,
    pub binary: BinaryCheck,
    pub on_new_binary: OnNewBinary,
}

impl RunnerSteps {
    const fn reconcile(binary: BinaryCheck) -> Self {
        RunnerSteps {
            flush: None,
            binary,
            on_new_binary: OnNewBinary::Keep,
        }
    }

    /// The steps, reconciling to what `target` wants; `relabel` replaces idle runners first
    /// (their labels changed).
    pub fn to(self, target: Sizing, relabel: bool) -> Steps {
        let steps = Steps::reconcile(self.binary, target).on_new_binary(self.on_new_binary);
        match (self.flush, relabel) {
            (Some(flush), _) => steps.flushing(flush),
            (None, true) => steps.flushing(Flush::Idle),
            (None, false) => steps,
        }
    }
}

/// How many runners the config wants at `now`: `virtual-machines`, or the elastic pool's floor
/// (the schedule's at `now`), ceiling and this unit's `share` of the queue (which the manager
/// reads).
pub(crate) fn sizing(config: &CharmConfig, now: jiff::Timestamp, share: Share) -> Sizing {
    match &config.pool {
        Pool::Fixed => Sizing::Fixed(config.virtual_machines as usize),
        Pool::Elastic {
            max,
            schedule,
            idle_wait_minutes,
            ..
        } => Sizing::Elastic(Elastic {
            floor: schedule.floor_at(now, config.virtual_machines) as usize,
            max: *max as usize,
            queued: 0,
            idle_wait_secs: u64::from(*idle_wait_minutes) * 60,
            share,
            held: 0,
        }),
    }
}

/// The plan of every hook.
pub(crate) fn plan(hook: Hook) -> HookPlan {
    use BinaryCheck::{IfMissing, Latest};
    let runners = |steps| Work::Runners {
        steps,
        only_while_timer: false,
    };
    let keep = Services::Keep {
        exporter: Restart::IfChanged,
    };
    match hook {
        Hook::Install => HookPlan {
            lxd: BringUp::First,
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: false,
            work: runners(RunnerSteps::reconcile(Latest)),
        },
        Hook::Start => HookPlan {
            lxd: BringUp::AfterServices(When::Retry),
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: false,
            // The original flushed the runners config-changed had just made.
            work: runners(RunnerSteps::reconcile(IfMissing)),
        },
        Hook::ConfigChanged | Hook::SecretChanged => HookPlan {
            lxd: BringUp::AfterServices(When::Retry),
            services: keep,
            takes_new_token: true,
            publishes_cos: hook == Hook::ConfigChanged,
            work: runners(RunnerSteps::reconcile(IfMissing)),
        },
        Hook::UpgradeCharm => HookPlan {
            lxd: BringUp::AfterServices(When::Install),
            // Its binary is new.
            services: Services::Keep {
                exporter: Restart::Always,
            },
            takes_new_token: false,
            publishes_cos: true,
            // Idle runners replaced; busy ones finish their job (the original flushed them too).
            work: runners(RunnerSteps {
                flush: Some(Flush::Idle),
                ..RunnerSteps::reconcile(IfMissing)
            }),
        },
        Hook::ReconcileRunners => HookPlan {
            lxd: BringUp::Never,
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: false,
            work: Work::Runners {
                steps: RunnerSteps {
                    on_new_binary: OnNewBinary::FlushIdle,
                    ..RunnerSteps::reconcile(Latest)
                },
                only_while_timer: true,
            },
        },
        // A unit came or went: this unit's share of the queue moved (a fixed pool's target
        // did not, and the reconcile changes nothing there).
        Hook::PeersChanged => HookPlan {
            lxd: BringUp::Never,
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: false,
            work: Work::Runners {
                steps: RunnerSteps::reconcile(IfMissing),
                only_while_timer: true,
            },
        },
        Hook::CosAgentChanged => HookPlan {
            lxd: BringUp::Never,
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: true,
            work: Work::CosRelation,
        },
        // It holds the machine lock and runs every few minutes: nothing else.
        Hook::UpdateStatus => HookPlan {
            lxd: BringUp::Never,
            services: Services::RepairTimer,
            takes_new_token: false,
            publishes_cos: false,
            work: Work::Nothing,
        },
        Hook::Stop => HookPlan {
            lxd: BringUp::Never,
            services: Services::Remove,
            takes_new_token: false,
            publishes_cos: false,
            work: Work::TearDown,
        },
        Hook::Remove => HookPlan {
            lxd: BringUp::Never,
            services: Services::Leave,
            takes_new_token: false,
            publishes_cos: false,
            work: Work::ForgetState,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [Hook; 10] = [
        Hook::Install,
        Hook::Start,
        Hook::ConfigChanged,
        Hook::SecretChanged,
        Hook::UpgradeCharm,
        Hook::ReconcileRunners,
        Hook::CosAgentChanged,
        Hook::UpdateStatus,
        Hook::Stop,
        Hook::Remove,
    ];

    #[test]
    fn only_config_changed_and_secret_changed_take_a_new_token() {
        for hook in ALL {
            let expected = matches!(hook, Hook::ConfigChanged | Hook::SecretChanged);
            assert_eq!(plan(hook).takes_new_token, expected, "{hook:?}");
        }
    }

    #[test]
    fn the_cos_agent_data_is_published_where_the_python_provider_publishes_it() {
        for hook in ALL {
            let expected = matches!(hook, Hook::ConfigChanged | Hook::UpgradeCharm | Hook::CosAgentChanged);
            assert_eq!(plan(hook).publishes_cos, expected, "{hook:?}");
        }
    }

    #[test]
    fn lxd_is_installed_first_at_install_and_after_the_services_where_the_config_may_have_come() {
        assert_eq!(plan(Hook::Install).lxd, BringUp::First);
        assert_eq!(plan(Hook::UpgradeCharm).lxd, BringUp::AfterServices(When::Install));
        for hook in [Hook::Start, Hook::ConfigChanged, Hook::SecretChanged] {
            assert_eq!(plan(hook).lxd, BringUp::AfterServices(When::Retry), "{hook:?}");
        }
        for hook in [Hook::ReconcileRunners, Hook::UpdateStatus, Hook::Stop, Hook::Remove] {
            assert_eq!(plan(hook).lxd, BringUp::Never, "{hook:?}");
        }
    }

    #[test]
    fn only_stop_removes_the_services_and_only_upgrade_restarts_the_exporter() {
        for hook in ALL {
            let services = plan(hook).services;
            assert_eq!(services == Services::Remove, hook == Hook::Stop, "{hook:?}");
            assert_eq!(
                services
                    == Services::Keep {
                        exporter: Restart::Always
                    },
                hook == Hook::UpgradeCharm,
                "{hook:?}"
            );
        }
    }

    #[test]
    fn the_timer_s_reconcile_checks_for_a_new_binary_and_replaces_idle_runners_for_it() {
        let Work::Runners {
            steps,
            only_while_timer,
        } = plan(Hook::ReconcileRunners).work
        else {
            panic!("the timer reconciles");
        };
        assert!(only_while_timer, "a reconcile that waited for stop's lock does nothing");
        let steps = steps.to(Sizing::Fixed(3), false);
        assert_eq!(steps.binary, Some(BinaryCheck::Latest));
        assert_eq!(steps.on_new_binary, OnNewBinary::FlushIdle);
        assert_eq!(steps.target, Some(Sizing::Fixed(3)));
        assert_eq!(steps.flush, None);
    }

    #[test]
    fn new_labels_replace_idle_runners_and_upgrade_charm_always_does() {
        let Work::Runners { steps, .. } = plan(Hook::Start).work else {
            panic!("start reconciles");
        };
        assert_eq!(steps.to(Sizing::Fixed(2), false).flush, None);
        assert_eq!(steps.to(Sizing::Fixed(2), true).flush, Some(Flush::Idle));
        let Work::Runners { steps, .. } = plan(Hook::UpgradeCharm).work else {
            panic!("upgrade reconciles");
        };
        assert_eq!(steps.to(Sizing::Fixed(2), false).flush, Some(Flush::Idle));
        assert_eq!(steps.to(Sizing::Fixed(2), false).binary, Some(BinaryCheck::IfMissing));
    }
}
