use std::collections::BTreeMap;

use chrono::TimeZone;
use proptest::prelude::*;

use super::*;

const WAIT: Duration = Duration::from_secs(4 * 3600);

fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 5, 2, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

fn run(event_id: &str, attempt: u32, status: Status, minutes: i64) -> SideRun {
    SideRun {
        event_id: event_id.to_owned(),
        attempt,
        status,
        finished_at: at(minutes),
        received_at: at(minutes),
        location: None,
        partition_path: "dt=2024-05-01".to_owned(),
    }
}

fn diff(baseline: &str, candidate: &str) -> Outcome {
    Outcome::Diff { baseline_event: baseline.to_owned(), candidate_event: candidate.to_owned() }
}

#[test]
fn both_sides_succeeded_make_a_diff_once() {
    let step = observe(Pair::default(), Role::Baseline, run("b1", 1, Status::Succeeded, 0));
    assert_eq!(step.decided, None);
    let step = observe(step.pair, Role::Candidate, run("c1", 1, Status::Succeeded, 5));
    assert_eq!(step.decided, Some(diff("b1", "c1")));
    let again = observe(step.pair.clone(), Role::Candidate, run("c1", 1, Status::Succeeded, 5));
    assert_eq!(again, Step { pair: step.pair, decided: None }, "a redelivery changes nothing");
}

#[test]
fn a_failed_side_is_divergent_naming_it() {
    let step = observe(Pair::default(), Role::Candidate, run("c1", 1, Status::Failed, 0));
    let step = observe(step.pair, Role::Baseline, run("b1", 1, Status::Succeeded, 0));
    assert_eq!(step.decided, Some(Outcome::Divergent(Divergence::Failed { sides: vec![Role::Candidate] })));
}

#[test]
fn a_later_attempt_supersedes_and_rediffs_an_earlier_one_does_not() {
    let mut pair = Pair::default();
    for (role, side) in
        [(Role::Baseline, run("b1", 1, Status::Succeeded, 0)), (Role::Candidate, run("c1", 1, Status::Failed, 0))]
    {
        pair = observe(pair, role, side).pair;
    }
    let step = observe(pair, Role::Candidate, run("c2", 2, Status::Succeeded, 60));
    assert_eq!(step.decided, Some(diff("b1", "c2")));
    let late = observe(step.pair.clone(), Role::Candidate, run("c1", 1, Status::Failed, 0));
    assert_eq!(late.decided, None, "the older attempt arrived late");
    assert_eq!(late.pair, step.pair);
    let rerun = observe(step.pair, Role::Baseline, run("b2", 2, Status::Succeeded, 90));
    assert_eq!(rerun.decided, Some(diff("b2", "c2")), "a baseline re-run re-diffs");
}

#[test]
fn the_missing_side_is_named_after_the_deadline_only() {
    let pair = observe(Pair::default(), Role::Baseline, run("b1", 1, Status::Succeeded, 0)).pair;
    assert_eq!(pair.deadline(WAIT), Some(at(240)));
    assert_eq!(expire(pair.clone(), at(239), WAIT).decided, None);
    let expired = expire(pair, at(240), WAIT);
    assert_eq!(expired.decided, Some(Outcome::Divergent(Divergence::Missing { side: Role::Candidate })));
    assert_eq!(expire(expired.pair.clone(), at(999), WAIT).decided, None, "decided once");
    let late = observe(expired.pair, Role::Candidate, run("c1", 1, Status::Succeeded, 300));
    assert_eq!(late.decided, Some(diff("b1", "c1")), "a late side still gets diffed");
}

#[test]
fn a_rerun_of_the_lone_side_waits_again() {
    let pair = observe(Pair::default(), Role::Candidate, run("c1", 1, Status::Succeeded, 0)).pair;
    let expired = expire(pair, at(300), WAIT).pair;
    let rerun = observe(expired, Role::Candidate, run("c2", 2, Status::Succeeded, 200));
    assert_eq!(rerun.decided, None);
    assert_eq!(rerun.pair.outcome, None);
    assert_eq!(rerun.pair.deadline(WAIT), Some(at(440)));
}

/// One step of a schedule: an event (by index) delivered some minutes after the previous
/// step, or a deadline sweep at the current time.
#[derive(Debug, Clone)]
enum Delivery {
    Event { index: usize, delay: i64 },
    Sweep,
}

fn events() -> impl Strategy<Value = Vec<(u8, Role, SideRun)>> {
    let one = (0u8..4, any::<bool>(), 1u32..4, any::<bool>(), 0i64..700);
    prop::collection::vec(one, 1..14).prop_map(|events| {
        events
            .into_iter()
            .enumerate()
            .map(|(index, (pair, baseline, attempt, succeeded, minutes))| {
                let role = if baseline { Role::Baseline } else { Role::Candidate };
                let status = if succeeded { Status::Succeeded } else { Status::Failed };
                (pair, role, run(&format!("e{index}"), attempt, status, minutes))
            })
            .collect()
    })
}

/// A schedule: every event at least once, some twice or three times, in any order, minutes or
/// hours apart, with deadline sweeps between them.
fn schedule(events: usize) -> impl Strategy<Value = Vec<Delivery>> {
    let copies = prop::collection::vec(1usize..4, events);
    let delays = prop::collection::vec(prop_oneof![0i64..5, 0i64..600], events * 3);
    (copies, delays, 0usize..6).prop_flat_map(|(copies, delays, sweeps)| {
        let mut steps: Vec<Delivery> = copies
            .iter()
            .enumerate()
            .flat_map(|(index, &n)| std::iter::repeat_n(index, n))
            .zip(&delays)
            .map(|(index, &delay)| Delivery::Event { index, delay })
            .collect();
        steps.extend(std::iter::repeat_n(Delivery::Sweep, sweeps));
        Just(steps).prop_shuffle()
    })
}

type Pairs = BTreeMap<u8, Pair>;

/// Runs a schedule, then a sweep once every deadline has passed; returns the final pairs and,
/// per pair, the last outcome acted on.
fn play(events: &[(u8, Role, SideRun)], steps: &[Delivery]) -> (Pairs, BTreeMap<u8, Outcome>) {
    let mut pairs = Pairs::new();
    let mut acted = BTreeMap::new();
    let mut record = |pairs: &mut Pairs, key: u8, step: Step| {
        if let Some(outcome) = step.decided {
            assert_eq!(step.pair.outcome.as_ref(), Some(&outcome));
            acted.insert(key, outcome);
        }
        pairs.insert(key, step.pair);
    };
    let sweep = |pairs: &mut Pairs, now: DateTime<Utc>, record: &mut dyn FnMut(&mut Pairs, u8, Step)| {
        for key in pairs.keys().copied().collect::<Vec<_>>() {
            let pair = pairs[&key].clone();
            record(pairs, key, expire(pair, now, WAIT));
        }
    };
    let mut now = at(0);
    for step in steps {
        match step {
            Delivery::Event { index, delay } => {
                now += chrono::Duration::minutes(*delay);
                let (key, role, side) = &events[*index];
                let side = SideRun { received_at: now, ..side.clone() };
                let pair = pairs.get(key).cloned().unwrap_or_default();
                record(&mut pairs, *key, observe(pair, *role, side));
            }
            Delivery::Sweep => sweep(&mut pairs, now, &mut record),
        }
    }
    sweep(&mut pairs, now + chrono::Duration::days(365), &mut record);
    (pairs, acted)
}

/// The final state computed directly from the set of events.
fn model(events: &[(u8, Role, SideRun)]) -> Pairs {
    let mut pairs = Pairs::new();
    for (key, role, side) in events {
        let pair = pairs.entry(*key).or_default();
        let slot = pair.side_mut(*role);
        if slot.as_ref().is_none_or(|current| side.supersedes(current)) {
            *slot = Some(side.clone());
        }
    }
    for pair in pairs.values_mut() {
        pair.outcome = Some(match (&pair.baseline, &pair.candidate) {
            (Some(baseline), Some(candidate)) => decide(baseline, candidate),
            (None, _) => Outcome::Divergent(Divergence::Missing { side: Role::Baseline }),
            (_, None) => Outcome::Divergent(Divergence::Missing { side: Role::Candidate }),
        });
    }
    pairs
}

/// The pairs with arrival times forgotten: they depend on the schedule by nature.
fn without_arrival_times(mut pairs: Pairs) -> Pairs {
    for pair in pairs.values_mut() {
        for side in [&mut pair.baseline, &mut pair.candidate].into_iter().flatten() {
            side.received_at = at(0);
        }
    }
    pairs
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_interleaving_duplication_and_delay_ends_the_same(
        (events, steps) in events().prop_flat_map(|events| {
            let count = events.len();
            (Just(events), schedule(count))
        })
    ) {
        let (pairs, acted) = play(&events, &steps);
        prop_assert_eq!(without_arrival_times(pairs.clone()), without_arrival_times(model(&events)));
        for (key, pair) in &pairs {
            prop_assert_eq!(pair.outcome.as_ref(), acted.get(key), "the last outcome acted on is the final one");
        }
    }
}

#[test]
fn every_outcome_is_stored_and_read_back() {
    let outcomes = [
        Outcome::Diff { baseline_event: "b".into(), candidate_event: "c".into() },
        Outcome::Divergent(Divergence::Failed { sides: vec![Role::Baseline, Role::Candidate] }),
        Outcome::Divergent(Divergence::Missing { side: Role::Candidate }),
    ];
    for outcome in outcomes {
        let pair = Pair {
            baseline: Some(run("b", 2, Status::Failed, 1)),
            candidate: Some(run("c", 1, Status::Succeeded, 2)),
            outcome: Some(outcome),
        };
        let text = serde_json::to_string(&pair).unwrap();
        assert_eq!(serde_json::from_str::<Pair>(&text).unwrap(), pair, "{text}");
    }
    // The diff outcome keeps the form stores already hold.
    let diff = serde_json::to_value(Outcome::Diff { baseline_event: "b".into(), candidate_event: "c".into() }).unwrap();
    assert_eq!(diff, serde_json::json!({"kind": "diff", "baseline_event": "b", "candidate_event": "c"}));
}
