//! The roster: the people in one spec as their tabs announce themselves, forgetting those who leave or go silent.

use std::collections::BTreeMap;

use duet_protocol::{Presence, EXPIRE_MS};

/// The people in one spec, keyed by their tab's session, forgetting the silent.
#[derive(Debug, Default, Clone)]
pub struct Roster {
    people: BTreeMap<String, (Presence, u64)>,
}

impl Roster {
    /// Records what a tab announced at `now_ms`. Returns whether the roster changed.
    pub fn update(&mut self, session: &str, presence: Presence, now_ms: u64) -> bool {
        if presence.leaving {
            return self.people.remove(session).is_some();
        }
        let changed = self.people.get(session).is_none_or(|(p, _)| p != &presence);
        self.people.insert(session.to_owned(), (presence, now_ms));
        changed
    }

    /// Forgets tabs silent for `EXPIRE_MS`. Returns whether anyone was forgotten.
    pub fn expire(&mut self, now_ms: u64) -> bool {
        let before = self.people.len();
        self.people
            .retain(|_, (_, seen)| now_ms.saturating_sub(*seen) < EXPIRE_MS);
        self.people.len() != before
    }

    /// Everyone here, one entry per tab, in a stable order.
    pub fn people(&self) -> Vec<Presence> {
        self.people.values().map(|(p, _)| p.clone()).collect()
    }

    /// Forgets everyone (the connection was lost: presence restarts with it).
    pub fn clear(&mut self) -> bool {
        let had = !self.people.is_empty();
        self.people.clear();
        had
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ada's tab, in no field: the roster looks only at who and when.
    fn ada() -> Presence {
        Presence::new("ada", "Ada 結", "#3153d4")
    }

    #[test]
    fn the_roster_forgets_a_tab_that_leaves_or_goes_silent() {
        let mut r = Roster::default();
        assert!(r.update("tab-a", ada(), 0));
        assert!(
            !r.update("tab-a", ada(), 1_000),
            "the same announcement changes nothing"
        );
        let bo = Presence {
            user: "bo".into(),
            name: "Bo".into(),
            ..ada()
        };
        assert!(r.update("tab-b", bo.clone(), 1_000));
        assert_eq!(r.people().len(), 2);
        assert!(!r.expire(1_000 + EXPIRE_MS - 1));
        assert!(
            r.expire(1_000 + EXPIRE_MS),
            "both have been silent long enough"
        );
        assert!(r.people().is_empty());
        r.update("tab-b", bo.clone(), 10_000);
        assert!(r.update(
            "tab-b",
            Presence {
                leaving: true,
                ..bo
            },
            10_001
        ));
        assert!(r.people().is_empty());
    }
}
