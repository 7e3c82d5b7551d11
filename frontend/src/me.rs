//! Who is typing in this browser: the signed-in account (kept in local storage so the app starts offline), the author id and colour taken from it, and the browser's random source.

use duet_model::{Author, UserId};

use crate::api::Account;

/// Local storage key of the last signed-in account (JSON).
const ACCOUNT_KEY: &str = "duet.account";

/// Colours people are shown in: distinguishable, readable on white, not the status colours.
const PALETTE: [&str; 8] = [
    "#3153d4", "#a23ab5", "#0f7c8c", "#c2410c", "#4d7c0f", "#be185d", "#6d28d9", "#0369a1",
];

/// The person using this browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Me {
    pub name: String,
    /// The author id recorded on their changes: the account's username.
    pub user: UserId,
    pub color: String,
}

impl Me {
    /// The person signed in as `a` (`None` if its username is not a valid user id).
    pub fn of(a: &Account) -> Option<Me> {
        let user = UserId::parse(&a.username).ok()?;
        let color = if a.colour.len() == 7 && a.colour.starts_with('#') {
            a.colour.clone()
        } else {
            colour_of(user.as_str()).to_owned()
        };
        Some(Me {
            name: a.name().to_owned(),
            user,
            color,
        })
    }

    /// The author of this tab's changes: one actor per page load.
    pub fn author(&self) -> Author {
        Author::new(self.user.clone(), &mut BrowserRng)
    }
}

/// Up to two initials of a display name, for avatars: the first letter of its first and
/// last words that start with one ("Pam (PM)" → "P", "Eli Lee" → "EL").
pub fn initials(name: &str) -> String {
    let mut letters = name
        .split_whitespace()
        .filter_map(|w| w.chars().next().filter(|c| c.is_alphanumeric()));
    let first = letters.next();
    let last = letters.next_back();
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

fn storage() -> Option<web_sys::Storage> {
    web_sys::window()?.local_storage().ok()?
}

/// The account last signed in in this browser.
pub fn cached() -> Option<Account> {
    let json = storage()?.get_item(ACCOUNT_KEY).ok()??;
    Account::from_js(&js_sys::JSON::parse(&json).ok()?)
}

/// Keeps `a` as this browser's account (for starting offline).
pub fn cache(a: &Account) {
    if let (Some(s), Ok(json)) = (storage(), js_sys::JSON::stringify(&a.to_js())) {
        let _ = s.set_item(ACCOUNT_KEY, &String::from(json));
    }
}

/// Forgets the account kept in this browser.
pub fn forget() {
    if let Some(s) = storage() {
        let _ = s.remove_item(ACCOUNT_KEY);
        let keys: Vec<String> = (0..s.length().unwrap_or(0))
            .filter_map(|i| s.key(i).ok().flatten())
            .filter(|k| k.starts_with(SHOWN_PREFIX))
            .collect();
        for k in keys {
            let _ = s.remove_item(&k);
        }
    }
}

/// Where the version of each spec this browser last showed its person is kept.
const SHOWN_PREFIX: &str = "duet.shown.";

/// The version of spec `doc` this browser showed `user` when they last left it (heads,
/// comma-separated; "" if never): what they watched live is not news next time.
pub fn shown(user: &str, doc: &str) -> String {
    storage()
        .and_then(|s| {
            s.get_item(&format!("{SHOWN_PREFIX}{user}.{doc}"))
                .ok()
                .flatten()
        })
        .unwrap_or_default()
}

/// Keeps the version of `doc` the page showed `user` as they leave it (synchronous, so
/// it holds from a page being unloaded too).
pub fn remember_shown(user: &str, doc: &str, heads: &str) {
    if let Some(s) = storage() {
        let _ = s.set_item(&format!("{SHOWN_PREFIX}{user}.{doc}"), heads);
    }
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
#[derive(Debug)]
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

#[cfg(test)]
mod tests {
    use super::initials;

    #[test]
    fn initials_come_from_the_letters_of_the_display_name() {
        assert_eq!(initials("Pam (PM)"), "P");
        assert_eq!(initials("Eli Lee"), "EL");
        assert_eq!(initials("ada lovelace king"), "AK");
        assert_eq!(initials("émile zola"), "ÉZ");
        assert_eq!(initials("(QA) - Vic"), "V");
        assert_eq!(initials("  "), "");
    }
}
