//! The people a spec names, by display name and colour: from the spec's roles (asked on opening and after each reconnection), the people here now, and the browser's own account; a username is shown only as an @handle.

use std::collections::HashMap;

use duet_protocol::DocumentId;
use leptos::prelude::*;
use leptos::task::spawn_local;

use crate::api;
use crate::me::colour_of;
use crate::net::Status;
use crate::text::People;

/// How a person is shown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub name: String,
    pub colour: String,
}

/// Display names and colours by username, for everyone with a role on the open spec.
#[derive(Clone, Copy)]
pub struct Directory(RwSignal<HashMap<String, Person>>);

impl Directory {
    /// Fills the directory of `doc` from its roles whenever the connection is live (and
    /// the server has the spec), and provides it to the page.
    pub fn provide(doc: DocumentId, on_server: RwSignal<bool>) {
        let known = RwSignal::new(HashMap::new());
        provide_context(Directory(known));
        let status = expect_context::<ReadSignal<Status>>();
        Effect::new(move |_| {
            if status.get() != Status::Live || !on_server.get() {
                return;
            }
            spawn_local(async move {
                let url = format!("/api/specs/{doc}/roles");
                if let Ok(v) = api::call("GET", &url, None).await {
                    let people = api::members(v)
                        .into_iter()
                        .map(|m| {
                            let person = Person {
                                name: m.display_name,
                                colour: m.colour,
                            };
                            (m.username, person)
                        })
                        .collect();
                    known.try_set(people);
                }
            });
        });
    }

    /// How `user` is shown: by their profile, or as they announce themselves here, or
    /// (someone without a role any more) by username in a colour of their own.
    pub fn person(self, user: &str) -> Person {
        let listed = self.0.with(|k| k.get(user).cloned());
        let here = || {
            use_context::<People>().and_then(|People(p)| {
                p.with(|ps| {
                    ps.iter().find(|p| p.user == user).map(|p| Person {
                        name: p.name.clone(),
                        colour: p.color.clone(),
                    })
                })
            })
        };
        listed
            .filter(|p| !p.name.is_empty())
            .or_else(here)
            .unwrap_or_else(|| Person {
                name: user.to_owned(),
                colour: colour_of(user).to_owned(),
            })
    }

    /// `user`'s display name ("" stays "").
    pub fn name(self, user: &str) -> String {
        if user.is_empty() {
            return String::new();
        }
        self.person(user).name
    }
}

/// A person named in the page: their display name in their colour, the @handle on hover.
pub fn name_tag(user: &str) -> impl IntoView {
    let person = expect_context::<Directory>().person(user);
    let handle = format!("@{user}");
    view! {
        <span class="who-tag" style=format!("--who: {}", person.colour) title=handle>{person.name}</span>
    }
}
