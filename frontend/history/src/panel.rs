//! The history panel's life in the page: its state, the markup it writes into the elements the app gives it, the clicks it answers and the questions it asks the server. The app talks to it through the functions exported here and hears back through the callbacks it passes.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use js_sys::{Array, Function};
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::spawn_local;
use web_sys::{Element, Event};

use crate::{
    act, api, field, history, list_of, lower_first, person, place, preview_of, restore, since_html,
    steps, version, Confirm, State, Target, COMPARE,
};

/// How long the timeline waits for the spec to stop changing before asking again (ms):
/// while someone types, every keystroke changes the spec.
const SETTLE_MS: i32 = 500;

type Listener = Closure<dyn FnMut(Event)>;

/// The open panel.
struct Panel {
    doc: String,
    /// The panel beside the spec, and the place of the live editor (for a version).
    aside: Element,
    cover: Element,
    /// Tells the app whether a version or the blame covers the live editor (a boolean).
    on_viewing: Function,
    /// Tells the app the panel was closed from inside.
    on_close: Function,
    state: RefCell<State>,
    /// The part filter's choices: (value, label).
    parts: RefCell<Vec<(String, String)>>,
    can_restore: Cell<bool>,
    viewing: Cell<bool>,
    /// False once closed: answers arriving later are dropped.
    live: Cell<bool>,
    /// A timeline request is in flight; the filters or the spec changed meanwhile.
    busy: Cell<bool>,
    again: Cell<bool>,
    /// A timeline reload is waiting for the spec to settle.
    settling: Cell<bool>,
    listeners: RefCell<Vec<(Element, &'static str, Listener)>>,
    /// The markup last written into `aside` and `cover`.
    written: (RefCell<String>, RefCell<String>),
}

thread_local! {
    static PANEL: RefCell<Option<Rc<Panel>>> = const { RefCell::new(None) };
    /// The click listener of the "since you last looked" box.
    static SINCE: RefCell<Option<(Element, Listener)>> = const { RefCell::new(None) };
    /// Listeners of a closed panel, dropped at the next opening: the panel can be closed
    /// from one of them, which must not be dropped while it runs.
    static RETIRED: RefCell<Vec<Listener>> = const { RefCell::new(Vec::new()) };
}

/// The part filter's choices from the app: an array of `[value, label]`.
fn parts_of(parts: &Array) -> Vec<(String, String)> {
    list_of(parts.into(), |p| {
        let p: &Array = p.dyn_ref()?;
        Some((p.get(0).as_string()?, p.get(1).as_string()?))
    })
}

/// The value of the `<select>` an event came from.
fn chosen_value(ev: &Event) -> String {
    ev.target()
        .and_then(|t| t.dyn_into::<web_sys::HtmlSelectElement>().ok())
        .map(|s| s.value())
        .unwrap_or_default()
}

fn listen(el: &Element, kind: &'static str, f: impl FnMut(Event) + 'static) -> Listener {
    let listener = Closure::<dyn FnMut(Event)>::new(f);
    let _ = el.add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
    listener
}

impl Panel {
    /// Writes the panel and, when a version or the blame is chosen, the version.
    fn render(&self) {
        if !self.live.get() {
            return;
        }
        let s = self.state.borrow();
        let panel = s.panel_html(&self.parts.borrow());
        let version = if self.viewing.get() {
            s.version_html(self.can_restore.get())
        } else {
            String::new()
        };
        // Only what changed is written again: the browser parses and lays out all of it.
        for (el, html, last) in [
            (&self.aside, panel, &self.written.0),
            (&self.cover, version, &self.written.1),
        ] {
            if *last.borrow() != html {
                el.set_inner_html(&html);
                *last.borrow_mut() = html;
            }
        }
    }

    fn set_viewing(&self, viewing: bool) {
        if self.viewing.replace(viewing) != viewing {
            let _ = self.on_viewing.call1(&JsValue::NULL, &viewing.into());
        }
    }

    /// Asks for the timeline with the current filters: one request at a time, and one more
    /// if the filters or the spec changed meanwhile.
    fn load(self: &Rc<Self>) {
        if self.busy.replace(true) {
            self.again.set(true);
            return;
        }
        let me = Rc::clone(self);
        spawn_local(async move {
            while me.live.get() {
                me.again.set(false);
                let (chosen, part) = {
                    let s = me.state.borrow();
                    (s.chosen.clone(), s.part.clone())
                };
                let answer = history(&me.doc, &chosen, &part).await;
                if me.again.get() {
                    continue;
                }
                me.state.borrow_mut().data = Some(answer.map_err(|e| e.message));
                me.render();
                break;
            }
            me.busy.set(false);
        });
    }

    /// Reloads the timeline once the spec has not changed for [`SETTLE_MS`].
    fn settle(self: &Rc<Self>) {
        if self.settling.replace(true) {
            return;
        }
        let me = Rc::clone(self);
        let later = Closure::once_into_js(move || {
            me.settling.set(false);
            if me.live.get() {
                me.load();
            }
        });
        if let Some(w) = web_sys::window() {
            let _ = w.set_timeout_with_callback_and_timeout_and_arguments_0(
                later.unchecked_ref(),
                SETTLE_MS,
            );
        }
    }

    /// Shows the selected version (or the blame), asking the server for it.
    fn show(self: &Rc<Self>) {
        let (job, ticket, only) = {
            let mut s = self.state.borrow_mut();
            let job = s.job();
            s.ticket += 1;
            s.shown = None;
            s.confirm = None;
            s.blame &= job.is_some();
            // A session against the version before it shows that author's changes only.
            let only = s
                .selected
                .as_ref()
                .filter(|_| s.compare == COMPARE[0].0 && !s.blame)
                .map(|v| v.author.clone());
            (job, s.ticket, only)
        };
        self.set_viewing(job.is_some());
        self.render();
        let Some((from, to, caption)) = job else {
            return;
        };
        let me = Rc::clone(self);
        spawn_local(async move {
            let r = version(&me.doc, from.as_deref(), &to, caption, only.as_deref()).await;
            let current = me.state.borrow().ticket == ticket;
            if !current {
                return;
            }
            // A session that changed one field or item offers its restore at once, with
            // the preview: one click from the timeline to confirm.
            let single = match &r {
                Ok(shown) if only.is_some() && me.can_restore.get() => {
                    match (shown.runs.as_slice(), shown.gone.as_slice()) {
                        ([(key, _)], []) => Some((key.clone(), false)),
                        ([], [(key, _, _)]) => Some((key.clone(), true)),
                        _ => None,
                    }
                }
                _ => None,
            };
            me.state.borrow_mut().shown = Some(r.map_err(|e| e.message));
            match single {
                Some((key, gone)) => me.ask_restore(Target::Line { key, gone }),
                None => me.render(),
            }
        });
    }

    fn back(self: &Rc<Self>) {
        {
            let mut s = self.state.borrow_mut();
            s.selected = None;
            s.blame = false;
        }
        self.show();
    }

    /// Shows what restoring `target` would change and asks to confirm it: the spec or a
    /// story to the version after the selected session, a field or item to how it read on
    /// the older side of the diff shown (before the session, when compared with the
    /// version before).
    fn ask_restore(self: &Rc<Self>, target: Target) {
        let confirm = {
            let s = self.state.borrow();
            let (Some(v), Some(Ok(h))) = (s.selected.clone(), &s.data) else {
                return;
            };
            let name = crate::lookup(&h.authors, &v.author).name;
            match &target {
                Target::Spec | Target::Story(_) => Confirm {
                    what: match &target {
                        Target::Story(_) => "this story".to_owned(),
                        _ => "the spec".to_owned(),
                    },
                    to: match (s.step, &s.steps) {
                        (Some(k), Some(st)) => {
                            st.get(k).map_or(v.after.clone(), |x| x.after.clone())
                        }
                        _ => v.after.clone(),
                    },
                    when: format!("after {name}'s edits at {}", crate::clock(v.end)),
                    target,
                    preview: None,
                },
                Target::Line { key, gone } => {
                    let Some((Some(from), _, _)) = s.job() else {
                        return;
                    };
                    let label = match &s.shown {
                        Some(Ok(shown)) => shown
                            .blocks
                            .iter()
                            .flat_map(|b| b.lines.iter())
                            .find(|l| &l.key == key)
                            .map(|l| l.label.clone())
                            .or_else(|| {
                                shown.gone.iter().find(|g| &g.0 == key).map(|g| g.1.clone())
                            })
                            .unwrap_or_default(),
                        _ => String::new(),
                    };
                    let step = s.step.and_then(|k| s.steps.as_ref()?.get(k));
                    let when = match step {
                        Some(st) if st.before == from => {
                            format!("before {name}'s edit at {}", crate::clock(st.end))
                        }
                        _ if from == v.before => {
                            format!("before {name}'s edits at {}", crate::clock(v.start))
                        }
                        _ => "in the older version compared".to_owned(),
                    };
                    let what = match (*gone, lower_first(&label)) {
                        (true, l) => format!("the removed {l}"),
                        (false, l) => l,
                    };
                    Confirm {
                        what,
                        to: from,
                        when,
                        target: target.clone(),
                        preview: None,
                    }
                }
            }
        };
        let (to, target) = (confirm.to.clone(), confirm.target.clone());
        self.state.borrow_mut().confirm = Some(confirm);
        self.render();
        let me = Rc::clone(self);
        spawn_local(async move {
            let answer = restore(&me.doc, &to, &target, false).await;
            let mut s = me.state.borrow_mut();
            if let Some(c) = s
                .confirm
                .as_mut()
                .filter(|c| c.target == target && c.to == to)
            {
                c.preview = Some(answer.map(|d| preview_of(&d)).map_err(|e| e.message));
                drop(s);
                me.render();
            }
        });
    }

    /// Makes the confirmed restore: a new change by this person that reaches everyone.
    fn restore(self: &Rc<Self>) {
        let Some(c) = self.state.borrow_mut().confirm.take() else {
            return;
        };
        let me = Rc::clone(self);
        spawn_local(async move {
            let done = restore(&me.doc, &c.to, &c.target, true).await;
            let ok = done.is_ok();
            me.state.borrow_mut().note = match done {
                Ok(_) => format!(
                    "{} is back as it read {}: a new entry in the history.",
                    crate::sentence(std::slice::from_ref(&c.what)),
                    c.when
                ),
                Err(e) => e.message,
            };
            if ok {
                me.state.borrow_mut().selected = None;
                me.show();
                me.load();
            } else {
                me.render();
            }
        });
    }

    /// Every button and select of the markup, by its `data-act`.
    fn act(self: &Rc<Self>, ev: &Event) {
        let Some((a, arg)) = act(ev) else {
            return;
        };
        match a.as_str() {
            "restore" => return self.ask_restore(Target::Spec),
            "story" => return self.ask_restore(Target::Story(arg)),
            "item" => {
                let (key, gone) = match arg.strip_prefix("g:") {
                    Some(k) => (k.to_owned(), true),
                    None => (arg, false),
                };
                return self.ask_restore(Target::Line { key, gone });
            }
            "confirm" => return self.restore(),
            "cancel" => {
                self.state.borrow_mut().confirm = None;
                return self.render();
            }
            "back" => return self.back(),
            "close" => {
                close_history();
                let _ = self.on_close.call0(&JsValue::NULL);
                return;
            }
            _ => {}
        }
        // The rest change the state, then ask again: for the timeline when a filter
        // changed, else for the version shown.
        let is_select = ev.type_() == "change";
        let filtered = {
            let mut s = self.state.borrow_mut();
            match a.as_str() {
                "chip" => {
                    match s.chosen.iter().position(|u| *u == arg) {
                        Some(i) => drop(s.chosen.remove(i)),
                        None => s.chosen.push(arg),
                    }
                    true
                }
                "part" if is_select => {
                    s.part = chosen_value(ev);
                    true
                }
                "session" => {
                    s.blame = false;
                    s.note.clear();
                    s.steps = None;
                    s.step = None;
                    if s.compare == format!("s:{arg}") {
                        // Not against itself.
                        s.compare = COMPARE[0].0.to_owned();
                    }
                    s.selected = match &s.data {
                        Some(Ok(h)) => h.sessions.iter().find(|x| x.id == arg).cloned(),
                        _ => None,
                    };
                    false
                }
                "compare" if is_select => {
                    s.compare = chosen_value(ev);
                    false
                }
                "step" if is_select => {
                    s.step = chosen_value(ev).parse().ok();
                    false
                }
                "blame" => {
                    s.blame = !s.blame;
                    s.selected = None;
                    false
                }
                _ => return,
            }
        };
        if filtered {
            self.render();
            self.load();
        } else {
            self.show();
        }
        if a == "session" {
            self.load_steps(arg_session(&self.state.borrow()));
        }
    }

    /// Reads the selected session's steps, to step through it.
    fn load_steps(self: &Rc<Self>, session: Option<String>) {
        let Some(id) = session else {
            return;
        };
        let me = Rc::clone(self);
        spawn_local(async move {
            let answer = steps(&me.doc, &id).await;
            let mut s = me.state.borrow_mut();
            if s.selected.as_ref().is_some_and(|v| v.id == id) {
                s.steps = Some(answer.unwrap_or_default());
                drop(s);
                me.render();
            }
        });
    }
}

/// The selected session's id.
fn arg_session(s: &State) -> Option<String> {
    s.selected.as_ref().map(|v| v.id.clone())
}

/// Opens the panel for spec `doc` in `aside`, showing versions in `cover`. `parts`: the
/// part filter's choices as `[value, label]` arrays. `on_viewing(bool)` hears whether a
/// version covers the live editor; `on_close()` that the panel closed itself.
#[wasm_bindgen]
pub fn open_history(
    aside: Element,
    cover: Element,
    doc: String,
    parts: Array,
    can_restore: bool,
    on_viewing: Function,
    on_close: Function,
) {
    close_history();
    RETIRED.with(|r| r.borrow_mut().clear());
    let panel = Rc::new(Panel {
        doc,
        aside,
        cover,
        on_viewing,
        on_close,
        state: RefCell::new(State {
            data: None,
            chosen: vec![],
            part: String::new(),
            selected: None,
            compare: COMPARE[0].0.to_owned(),
            blame: false,
            shown: None,
            note: String::new(),
            confirm: None,
            steps: None,
            step: None,
            ticket: 0,
        }),
        parts: RefCell::new(parts_of(&parts)),
        can_restore: Cell::new(can_restore),
        viewing: Cell::new(false),
        live: Cell::new(true),
        busy: Cell::new(false),
        again: Cell::new(false),
        settling: Cell::new(false),
        listeners: RefCell::new(vec![]),
        written: Default::default(),
    });
    let mut listeners = vec![];
    for el in [&panel.aside, &panel.cover] {
        for kind in ["click", "change"] {
            // Weak: the panel owns its listeners.
            let weak = Rc::downgrade(&panel);
            let on = listen(el, kind, move |ev| {
                if let Some(p) = weak.upgrade() {
                    p.act(&ev);
                }
            });
            listeners.push((el.clone(), kind, on));
        }
    }
    *panel.listeners.borrow_mut() = listeners;
    panel.render();
    panel.load();
    PANEL.with(|p| *p.borrow_mut() = Some(panel));
}

/// Closes the panel: its markup and the version it showed are gone.
#[wasm_bindgen]
pub fn close_history() {
    let Some(panel) = PANEL.with(|p| p.borrow_mut().take()) else {
        return;
    };
    panel.set_viewing(false);
    panel.live.set(false);
    for (el, kind, on) in panel.listeners.borrow_mut().drain(..) {
        let _ = el.remove_event_listener_with_callback(kind, on.as_ref().unchecked_ref());
        RETIRED.with(|r| r.borrow_mut().push(on));
    }
    panel.aside.set_inner_html("");
    panel.cover.set_inner_html("");
}

/// The spec changed (an edit, here or elsewhere): new part choices, maybe a new role; the
/// timeline follows once the spec settles.
#[wasm_bindgen]
pub fn spec_changed(parts: Array, can_restore: bool) {
    let Some(panel) = PANEL.with(|p| p.borrow().clone()) else {
        return;
    };
    let parts = parts_of(&parts);
    let same = *panel.parts.borrow() == parts && panel.can_restore.get() == can_restore;
    if !same {
        *panel.parts.borrow_mut() = parts;
        panel.can_restore.set(can_restore);
        panel.render();
    }
    panel.settle();
}

/// Fills `boxel` with what others changed in spec `doc` since this person last looked (if
/// anything), then tells the server they have looked. A click on a place calls
/// `on_focus(target)`: `f:` and a field's key, or `i:` and an item's id.
#[wasm_bindgen]
pub fn since_seen(boxel: Element, doc: String, on_focus: Function, held: String) {
    let on = listen(&boxel, "click", {
        let boxel = boxel.clone();
        move |ev| match act(&ev) {
            Some((a, _)) if a == "dismiss" => boxel.set_inner_html(""),
            Some((_, target)) => {
                let _ = on_focus.call1(&JsValue::NULL, &target.into());
            }
            None => {}
        }
    });
    if let Some((old, listener)) = SINCE.with(|s| s.borrow_mut().replace((boxel.clone(), on))) {
        let _ = old.remove_event_listener_with_callback("click", listener.as_ref().unchecked_ref());
    }
    spawn_local(async move {
        let base = crate::base(&doc);
        let url = format!("{base}/since-seen?also={held}");
        if let Ok(v) = api::call("GET", &url, None).await {
            let places = list_of(field(&v, "places"), place);
            if !field(&v, "seen_at").is_null() && !places.is_empty() {
                let people = list_of(field(&v, "authors"), person);
                boxel.set_inner_html(&since_html(&places, &people));
            }
            let _ = api::call("POST", &format!("{base}/seen"), None).await;
        }
    });
}
