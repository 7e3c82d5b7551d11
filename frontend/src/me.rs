//! Who is typing in this browser: a display name chosen on first visit and kept in local storage, the author id and colour derived from it, and the browser's random source.

use duet_model::{Author, UserId};
use leptos::prelude::*;

const NAME_KEY: &str = "duet.name";
const USER_KEY: &str = "duet.user";

/// Colours people are shown in: distinguishable, readable on white, not the status colours.
const PALETTE: [&str; 8] = [
    "#3153d4", "#a23ab5", "#0f7c8c", "#c2410c", "#4d7c0f", "#be185d", "#6d28d9", "#0369a1",
];

/// The person using this browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub name: String,
    /// The author id recorded on their changes.
    pub user: UserId,
    pub color: &'static str,
}

impl Me {
    /// The author of this tab's changes: one actor per page load.
    pub fn author(&self) -> Author {
        Author::new(self.user.clone(), &mut BrowserRng)
    }
}

/// Up to two initials of a display name, for avatars.
pub fn initials(name: &str) -> String {
    let mut words = name.split_whitespace();
    let first = words.next().and_then(|w| w.chars().next());
    let last = words.last().and_then(|w| w.chars().next());
    first
        .into_iter()
        .chain(last)
        .flat_map(char::to_uppercase)
        .collect()
}

/// The colour of a user id: stable, so everyone sees the same person in the same colour.
pub fn colour_of(user: &str) -> &'static str {
    let hash = user.bytes().fold(2_166_136_261u32, |h, b| {
        (h ^ u32::from(b)).wrapping_mul(16_777_619)
    });
    PALETTE[hash as usize % PALETTE.len()]
}

/// An author id from a display name: lower-case ASCII words joined by `-`, or a random
/// `guest-…` id when the name has no ASCII letters (until accounts give real ids).
fn user_id_for(name: &str) -> UserId {
    let mut slug = String::new();
    for ch in name.chars() {
        if ch.is_ascii_alphanumeric() {
            slug.push(ch.to_ascii_lowercase());
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let slug: String = slug.trim_end_matches('-').chars().take(40).collect();
    UserId::parse(&slug).unwrap_or_else(|_| {
        let mut bytes = [0u8; 3];
        fill_random(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        UserId::parse(&format!("guest-{hex}")).expect("a valid guest id")
    })
}

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The person remembered in this browser, if they have chosen a name.
pub fn remembered() -> Option<Me> {
    let storage = storage()?;
    let name = storage.get_item(NAME_KEY).ok()??;
    let name = name.trim().to_owned();
    if name.is_empty() {
        return None;
    }
    let user = storage
        .get_item(USER_KEY)
        .ok()
        .flatten()
        .and_then(|u| UserId::parse(&u).ok())
        .unwrap_or_else(|| user_id_for(&name));
    let _ = storage.set_item(USER_KEY, user.as_str());
    let color = colour_of(user.as_str());
    Some(Me { name, user, color })
}

/// Remembers a chosen name (the author id follows from it).
fn remember(name: &str) -> Option<Me> {
    let storage = storage()?;
    let user = user_id_for(name);
    storage.set_item(NAME_KEY, name).ok()?;
    storage.set_item(USER_KEY, user.as_str()).ok()?;
    remembered()
}

/// Random bytes from the browser's crypto source.
fn fill_random(bytes: &mut [u8]) {
    let crypto = web_sys::window().and_then(|w| w.crypto().ok());
    let filled = crypto.is_some_and(|c| c.get_random_values_with_u8_array(bytes).is_ok());
    if !filled {
        for b in bytes.iter_mut() {
            *b = (js_sys::Math::random() * 256.0) as u8;
        }
    }
}

/// `rand_core` over the browser's crypto source, for item ids and actor ids.
pub struct BrowserRng;

impl rand_core::RngCore for BrowserRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        fill_random(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        fill_random(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        fill_random(dest);
    }
}

/// First visit: asks for the name others will see.
#[component]
pub fn NamePrompt(on_done: WriteSignal<Option<Me>>) -> impl IntoView {
    let (name, set_name) = signal(String::new());
    let (error, set_error) = signal(None::<&'static str>);
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        let chosen = name.get_untracked().trim().to_owned();
        if chosen.is_empty() {
            set_error.set(Some("Please enter a name."));
            return;
        }
        if chosen.chars().count() > 60 {
            set_error.set(Some("Please keep it under 60 characters."));
            return;
        }
        match remember(&chosen) {
            Some(me) => on_done.set(Some(me)),
            None => set_error.set(Some("This browser does not let Duet remember your name.")),
        }
    };
    view! {
        <main class="welcome">
            <form class="card" on:submit=submit aria-labelledby="welcome-h">
                <h1 id="welcome-h">"Welcome to Duet"</h1>
                <p>"Others editing with you will see this name beside your cursor and your changes."</p>
                <label for="my-name">"Your name"</label>
                <input id="my-name" type="text" autocomplete="name" maxlength="60" autofocus
                    prop:value=name on:input=move |ev| set_name.set(event_target_value(&ev)) />
                {move || error.get().map(|e| view! { <p class="error" role="alert">{e}</p> })}
                <button type="submit">"Continue"</button>
            </form>
        </main>
    }
}
