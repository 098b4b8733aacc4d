//! The measurement's CPUs: a CPU list (`2-7`, `0,2,4`; real CPU ids, as `taskset` and
//! `isolcpus=` write them) and the plan that places the load generator, the echo application
//! and the sidecar on them. Every CPU used lies in this process's allowed set
//! (`sched_getaffinity`): with `isolcpus=2-7` and `--cpus 2-7` the measurement runs on the
//! isolated cores, and without a list it stays within whatever cgroup or `taskset` confined
//! the tool to.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The largest CPU id a list may name (the kernel's `cpu_set_t` holds 1024).
const MAX_CPU: usize = 1023;

/// A set of CPU ids, written as comma-separated ids and ranges (`0-3,8,10-11`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CpuList(BTreeSet<usize>);

/// Text that is not a CPU list.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CpuListError {
    /// Nothing was given.
    #[error("the CPU list is empty")]
    Empty,
    /// An element that is neither `N` nor `N-M`.
    #[error("`{0}` is not a CPU id or a range of them (e.g. `2-7` or `0,2,4`)")]
    Element(String),
    /// A range whose end comes before its start.
    #[error("the range `{0}` ends before it starts")]
    Backwards(String),
    /// A CPU id the kernel cannot have.
    #[error("CPU {0} is beyond the largest CPU id, {MAX_CPU}")]
    TooLarge(usize),
}

impl CpuList {
    /// The ids in ascending order.
    pub fn ids(&self) -> Vec<usize> {
        self.0.iter().copied().collect()
    }

    fn from_ids(ids: impl IntoIterator<Item = usize>) -> CpuList {
        CpuList(ids.into_iter().collect())
    }
}

impl FromStr for CpuList {
    type Err = CpuListError;
    fn from_str(text: &str) -> Result<Self, CpuListError> {
        let mut ids = BTreeSet::new();
        for element in text.split(',').map(str::trim) {
            if element.is_empty() {
                continue;
            }
            let id = |s: &str| -> Result<usize, CpuListError> {
                let n: usize = s
                    .trim()
                    .parse()
                    .map_err(|_| CpuListError::Element(element.to_string()))?;
                if n > MAX_CPU {
                    return Err(CpuListError::TooLarge(n));
                }
                Ok(n)
            };
            match element.split_once('-') {
                Some((a, b)) => {
                    let (a, b) = (id(a)?, id(b)?);
                    if b < a {
                        return Err(CpuListError::Backwards(element.to_string()));
                    }
                    ids.extend(a..=b);
                }
                None => {
                    ids.insert(id(element)?);
                }
            }
        }
        if ids.is_empty() {
            return Err(CpuListError::Empty);
        }
        Ok(CpuList(ids))
    }
}

/// The kernel's list form: runs of consecutive ids as ranges (`0-3,8,10-11`).
impl fmt::Display for CpuList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ids = self.ids();
        let mut first = true;
        let mut i = 0;
        while i < ids.len() {
            let mut j = i;
            while j + 1 < ids.len() && ids[j + 1] == ids[j] + 1 {
                j += 1;
            }
            if !first {
                f.write_str(",")?;
            }
            first = false;
            if i == j {
                write!(f, "{}", ids[i])?;
            } else {
                write!(f, "{}-{}", ids[i], ids[j])?;
            }
            i = j + 1;
        }
        Ok(())
    }
}

impl Serialize for CpuList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for CpuList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// The measurement's CPUs cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CpuError {
    /// Some of the CPUs asked for are outside the allowed set.
    #[error(
        "CPUs {outside} of the measurement CPUs {asked} are not allowed to this process (allowed: {allowed})"
    )]
    NotAllowed {
        /// The CPUs asked for outside the allowed set.
        outside: CpuList,
        /// The CPUs asked for.
        asked: CpuList,
        /// The allowed set.
        allowed: CpuList,
    },
    /// The allowed set could not be read.
    #[error("could not read the CPUs this process may run on")]
    Affinity(#[source] std::io::Error),
}

/// The CPUs of a measurement's processes: the load generator's thread, the application and
/// the sidecar, and the set the whole measurement is confined to. `None` leaves a process
/// where the set (or, without one, the scheduler) puts it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CpuPlan {
    /// Every process of the measurement stays on these CPUs (`--cpus` without pinning):
    /// the measuring thread is confined to them, and children inherit it.
    pub confine: Option<Vec<usize>>,
    /// The load generator (this process's measuring thread).
    pub load: Option<usize>,
    /// The echo application.
    pub app: Option<Vec<usize>>,
    /// The sidecar (all of its processes).
    pub sidecar: Option<Vec<usize>>,
}

impl CpuPlan {
    /// The plan for this process: within `asked` when given, else within the allowed set.
    pub fn new(pin: bool, asked: Option<&CpuList>) -> Result<CpuPlan, CpuError> {
        CpuPlan::within(&allowed()?, pin, asked)
    }

    /// The plan within the `allowed` CPUs. The measurement's CPUs are `asked` (an error
    /// naming the CPUs outside `allowed`) or `allowed`. Pinned, the processes get separate
    /// CPUs of that set in ascending order: the load generator the first, the application
    /// the second, the sidecar the rest (with two, the load generator shares the
    /// application's; with one, all share it). Not pinned, they are only confined to `asked`.
    pub fn within(
        allowed: &CpuList,
        pin: bool,
        asked: Option<&CpuList>,
    ) -> Result<CpuPlan, CpuError> {
        if let Some(asked) = asked {
            let outside: Vec<usize> = asked.0.difference(&allowed.0).copied().collect();
            if !outside.is_empty() {
                return Err(CpuError::NotAllowed {
                    outside: CpuList::from_ids(outside),
                    asked: asked.clone(),
                    allowed: allowed.clone(),
                });
            }
        }
        let set = asked.unwrap_or(allowed).ids();
        let confine = asked.map(|a| a.ids());
        if !pin {
            return Ok(CpuPlan {
                confine,
                ..CpuPlan::default()
            });
        }
        Ok(match set.as_slice() {
            [] => CpuPlan::default(),
            [only] if asked.is_some() => CpuPlan {
                confine,
                load: Some(*only),
                app: Some(vec![*only]),
                sidecar: Some(vec![*only]),
            },
            [_] => CpuPlan::default(),
            [first, second] => CpuPlan {
                confine,
                load: Some(*first),
                app: Some(vec![*first]),
                sidecar: Some(vec![*second]),
            },
            [first, second, rest @ ..] => CpuPlan {
                confine,
                load: Some(*first),
                app: Some(vec![*second]),
                sidecar: Some(rest.to_vec()),
            },
        })
    }
}

/// The CPUs the calling thread may run on.
pub fn allowed() -> Result<CpuList, CpuError> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .map_err(|e| CpuError::Affinity(e.into()))?;
    Ok(CpuList::from_ids(
        (0..nix::sched::CpuSet::count()).filter(|&cpu| set.is_set(cpu).unwrap_or(false)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(s: &str) -> CpuList {
        s.parse().unwrap()
    }

    #[test]
    fn lists_parse_in_the_kernels_notation_and_print_back_shortest() {
        assert_eq!(list("2-7").ids(), [2, 3, 4, 5, 6, 7]);
        assert_eq!(list("0,2,4").ids(), [0, 2, 4]);
        assert_eq!(list(" 8, 0-1 ,3,2 ").ids(), [0, 1, 2, 3, 8]);
        assert_eq!(list("0-3,8,10-11").to_string(), "0-3,8,10-11");
        assert_eq!(list("1,2").to_string(), "1-2");
        assert_eq!(list("1,3").to_string(), "1,3");
        assert_eq!(list("5,4,3").to_string(), "3-5");
        for (bad, error) in [
            ("", CpuListError::Empty),
            (",", CpuListError::Empty),
            ("a", CpuListError::Element("a".into())),
            ("1-", CpuListError::Element("1-".into())),
            ("-1", CpuListError::Element("-1".into())),
            ("3-1", CpuListError::Backwards("3-1".into())),
            ("1024", CpuListError::TooLarge(1024)),
        ] {
            assert_eq!(bad.parse::<CpuList>().unwrap_err(), error, "{bad}");
        }
    }

    #[test]
    fn a_list_round_trips_through_serde_as_its_text() {
        let json = serde_json::to_string(&list("2-7")).unwrap();
        assert_eq!(json, "\"2-7\"");
        assert_eq!(serde_json::from_str::<CpuList>(&json).unwrap(), list("2-7"));
        let e = serde_json::from_str::<CpuList>("\"x\"").unwrap_err();
        assert!(e.to_string().contains("`x` is not a CPU id"), "{e}");
    }

    #[test]
    fn pinning_uses_the_real_ids_of_the_asked_or_allowed_cpus() {
        // isolcpus=2-7 on an 8-CPU machine: the tool itself may run anywhere.
        let all = list("0-7");
        let plan = CpuPlan::within(&all, true, Some(&list("2-7"))).unwrap();
        assert_eq!(plan.load, Some(2));
        assert_eq!(plan.app, Some(vec![3]));
        assert_eq!(plan.sidecar, Some(vec![4, 5, 6, 7]));
        assert_eq!(plan.confine, Some(vec![2, 3, 4, 5, 6, 7]));
        // Confined by a cgroup to 4-5: pinning stays inside, never on 0 and 1.
        let plan = CpuPlan::within(&list("4-5"), true, None).unwrap();
        assert_eq!(
            (plan.load, plan.app, plan.sidecar, plan.confine),
            (Some(4), Some(vec![4]), Some(vec![5]), None)
        );
        // One CPU asked for: everything on it.
        let plan = CpuPlan::within(&all, true, Some(&list("6"))).unwrap();
        assert_eq!((plan.load, plan.sidecar), (Some(6), Some(vec![6])));
        // One CPU allowed and none asked: nothing to separate, nothing pinned.
        assert_eq!(
            CpuPlan::within(&list("3"), true, None).unwrap(),
            CpuPlan::default()
        );
    }

    #[test]
    fn without_pinning_a_list_only_confines() {
        let plan = CpuPlan::within(&list("0-7"), false, Some(&list("0,2,4"))).unwrap();
        assert_eq!(
            plan,
            CpuPlan {
                confine: Some(vec![0, 2, 4]),
                ..CpuPlan::default()
            }
        );
        assert_eq!(
            CpuPlan::within(&list("0-7"), false, None).unwrap(),
            CpuPlan::default()
        );
    }

    #[test]
    fn cpus_outside_the_allowed_set_are_an_error_naming_them() {
        let e = CpuPlan::within(&list("0-1"), true, Some(&list("1-3,5"))).unwrap_err();
        assert_eq!(
            e.to_string(),
            "CPUs 2-3,5 of the measurement CPUs 1-3,5 are not allowed to this process (allowed: 0-1)"
        );
    }

    #[test]
    fn this_thread_has_cpus() {
        // Real ids of this machine (a cgroup quota may lower available_parallelism, not them).
        let cpus = allowed().unwrap();
        assert!(!cpus.ids().is_empty());
        assert!(cpus.ids().len() >= std::thread::available_parallelism().unwrap().get());
    }
}
