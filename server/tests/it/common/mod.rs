//! Test harness: a real `duet serve` on 127.0.0.1:0 with a temp data folder, and native automerge-repo clients over real websockets.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use duet_model::automerge::sync::{self, SyncDoc};
use duet_model::automerge::{AutoCommit, ChangeHash};
use duet_model::{Author, Spec, UserId};
use duet_protocol::{DocumentId, Message, PeerId};
use futures_util::{SinkExt, StreamExt};
use rand::{rngs::StdRng, SeedableRng};
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::Message as Frame;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long any wait in these tests may take before it fails.
pub const DEADLINE: Duration = Duration::from_secs(20);

/// A running server.
pub struct Server {
    pub addr: SocketAddr,
    pub data: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<()>>>,
}

impl Server {
    pub async fn start(data: &Path) -> Result<Server> {
        Server::start_with(duet_server::Config::new(data)).await
    }

    pub async fn start_with(config: duet_server::Config) -> Result<Server> {
        // Logs (RUST_LOG=debug) help when a test fails; off by default.
        let _ = tracing_subscriber::fmt()
            .with_env_filter(
                tracing_subscriber::EnvFilter::try_from_default_env()
                    .unwrap_or_else(|_| "off".into()),
            )
            .with_test_writer()
            .try_init();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        forget_tokens(addr);
        let (stop, stopped) = oneshot::channel::<()>();
        let data = config.data_dir.clone();
        let task = tokio::spawn(duet_server::run(listener, config, async move {
            let _ = stopped.await;
        }));
        Ok(Server {
            addr,
            data,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn ws_url(&self) -> String {
        format!("ws://{}/sync", self.addr)
    }

    pub fn http(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Graceful shutdown; returns once every document is flushed.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => tokio::time::timeout(DEADLINE, task)
                .await
                .context("shutdown timed out")??,
            None => Ok(()),
        }
    }
}

pub fn author(user: &str, seed: u64) -> Author {
    Author::new(
        UserId::parse(user).expect("user id"),
        &mut StdRng::seed_from_u64(seed),
    )
}

pub type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A native automerge-repo peer syncing one spec.
pub struct Client {
    pub ws: Socket,
    pub me: PeerId,
    pub server: PeerId,
    pub doc_id: DocumentId,
    pub doc: AutoCommit,
    pub author: Author,
    pub state: sync::State,
    /// Set when the server answered `doc-unavailable`.
    pub unavailable: bool,
    /// Sign-off notices the server sent on the ephemeral channel.
    pub signoff_notices: usize,
}

/// Connects and completes the join/peer handshake.
pub async fn handshake(url: &str, me: &PeerId) -> Result<(Socket, PeerId)> {
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, None, true).await?;
    let join = Message::Join {
        sender: me.clone(),
        supported_versions: vec!["1".into()],
        metadata: None,
    };
    ws.send(Frame::Binary(join.encode().into())).await?;
    match next_message(&mut ws).await? {
        Message::Peer {
            sender,
            selected_version,
            ..
        } if selected_version == "1" => Ok((ws, sender)),
        other => bail!("expected peer, got {other:?}"),
    }
}

/// The next protocol message (skipping pings), or an error on close or timeout.
pub async fn next_message(ws: &mut Socket) -> Result<Message> {
    loop {
        let frame = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .context("timed out waiting for a message")?
            .ok_or_else(|| anyhow!("connection ended"))??;
        match frame {
            Frame::Binary(b) => return Ok(Message::decode(&b)?),
            Frame::Close(c) => bail!("closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Reads until the server closes; returns the close code (and checks an `error` came first
/// when `expect_error`).
pub async fn expect_close(ws: &mut Socket) -> Result<(Option<CloseCode>, Vec<Message>)> {
    let mut seen = Vec::new();
    loop {
        let frame = tokio::time::timeout(DEADLINE, ws.next())
            .await
            .context("timed out waiting for close")?;
        match frame {
            Some(Ok(Frame::Binary(b))) => seen.push(Message::decode(&b)?),
            Some(Ok(Frame::Close(c))) => return Ok((c.map(|c| c.code), seen)),
            Some(Ok(_)) => {}
            Some(Err(e)) => {
                eprintln!("connection ended without a close frame: {e}");
                return Ok((None, seen));
            }
            None => return Ok((None, seen)),
        }
    }
}

impl Client {
    /// Joins and starts syncing `doc_id` from `doc` (an empty document asks with
    /// `request`, a non-empty one offers with `sync`). Edits are made as `user`.
    pub async fn open(
        url: &str,
        user: &str,
        seed: u64,
        doc_id: DocumentId,
        doc: AutoCommit,
    ) -> Result<Client> {
        let me = PeerId::new(&format!("{user}-{seed}"))?;
        let url = signed_url(url, user).await?;
        let (ws, server) = handshake(&url, &me).await?;
        let mut client = Client {
            ws,
            me,
            server,
            doc_id,
            doc,
            author: author(user, seed),
            state: sync::State::new(),
            unavailable: false,
            signoff_notices: 0,
        };
        let empty = client.doc.get_heads().is_empty();
        client.send_sync(empty).await?;
        Ok(client)
    }

    /// A reader that starts with nothing and asks the server for the document.
    pub async fn join_empty(
        url: &str,
        user: &str,
        seed: u64,
        doc_id: DocumentId,
    ) -> Result<Client> {
        Client::open(url, user, seed, doc_id, AutoCommit::new()).await
    }

    /// Edits the spec through the typed API, then offers the change to the server.
    pub async fn edit<T>(
        &mut self,
        f: impl FnOnce(&mut Spec) -> Result<T, duet_model::EditError>,
    ) -> Result<T> {
        let doc = std::mem::take(&mut self.doc);
        let mut spec = Spec::from_doc(doc, self.author.clone())?;
        let result = f(&mut spec);
        self.doc = spec.into_doc();
        let value = result?;
        self.send_sync(false).await?;
        Ok(value)
    }

    /// The spec as this client sees it.
    pub fn view(&self) -> Result<duet_model::SpecView> {
        Ok(Spec::from_doc(self.doc.clone(), self.author.clone())?.view())
    }

    /// Sends what the server is missing, if anything.
    pub async fn send_sync(&mut self, as_request: bool) -> Result<()> {
        let msg = self.doc.sync().generate_sync_message(&mut self.state);
        let Some(msg) = msg else { return Ok(()) };
        let out = Message::sync_or_request(
            as_request,
            self.me.clone(),
            self.server.clone(),
            self.doc_id,
            msg.encode(),
        );
        self.ws.send(Frame::Binary(out.encode().into())).await?;
        Ok(())
    }

    /// Handles one incoming message.
    pub async fn pump_once(&mut self) -> Result<()> {
        match next_message(&mut self.ws).await? {
            Message::Sync { document, data, .. } if document == self.doc_id => {
                let msg = sync::Message::decode(&data)?;
                self.doc.sync().receive_sync_message(&mut self.state, msg)?;
                self.send_sync(false).await?;
            }
            Message::DocUnavailable { .. } => self.unavailable = true,
            Message::Ephemeral { data, .. }
                if duet_protocol::Notice::decode(&data)
                    == Some(duet_protocol::Notice::SignOffs) =>
            {
                self.signoff_notices += 1
            }
            Message::Error { message, .. } => bail!("server error: {message}"),
            _ => {}
        }
        Ok(())
    }

    /// Pumps messages until `done` holds.
    pub async fn until(&mut self, mut done: impl FnMut(&mut Client) -> bool) -> Result<()> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while !done(self) {
            if tokio::time::Instant::now() > deadline {
                bail!("condition not reached before the deadline");
            }
            self.pump_once().await?;
        }
        Ok(())
    }

    pub fn heads(&mut self) -> Vec<ChangeHash> {
        self.doc.get_heads()
    }

    pub fn heads_sorted(&mut self) -> Vec<ChangeHash> {
        let mut h = self.doc.get_heads();
        h.sort();
        h
    }

    /// Whether the server has acknowledged (holds) every local change.
    pub fn acked(&mut self) -> bool {
        let heads = self.heads();
        heads.iter().all(|h| self.state.shared_heads.contains(h))
    }

    /// Pumps until the server holds every local change.
    pub async fn until_acked(&mut self) -> Result<()> {
        self.send_sync(false).await?;
        self.until(|c| c.acked()).await
    }

    /// Pumps until the local heads equal `heads`.
    pub async fn until_heads(&mut self, heads: &[ChangeHash]) -> Result<()> {
        let mut want = heads.to_vec();
        want.sort();
        self.until(|c| {
            let mut h = c.heads();
            h.sort();
            h == want
        })
        .await
    }
}

/// A response: status, header block (lines `name: value`), body.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Reply {
    /// The value of a response header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|line| {
            let (k, v) = line.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_owned())
        })
    }

    /// The session cookie set by this response (`duet_session=…`).
    pub fn session_cookie(&self) -> Option<String> {
        let set = self.header("set-cookie")?;
        set.split(';').next().map(str::to_owned)
    }
}

/// One HTTP request over loopback with extra request headers (`duet_load::http`).
pub async fn http_with(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> Result<Reply> {
    let sent = duet_load::http::send(addr, method, path, headers, body);
    let response = tokio::time::timeout(DEADLINE, sent).await??;
    let mut head = format!("HTTP/1.1 {}\r\n", response.status());
    for (name, value) in response.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    let status = response.status().as_u16();
    let bytes = tokio::time::timeout(DEADLINE, response.bytes()).await??;
    Ok(Reply {
        status,
        head,
        // Lossy: a compressed body is not text (its tests look at the headers).
        body: String::from_utf8_lossy(&bytes).into_owned(),
    })
}

/// One HTTP request over loopback, without credentials: (status, body).
pub async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    let r = http_with(addr, method, path, &[], body).await?;
    Ok((r.status, r.body))
}

/// The password every test account gets.
pub fn password_of(user: &str) -> String {
    format!("password of {user}")
}

/// API tokens of test accounts, per server address and user.
static TOKENS: std::sync::Mutex<Vec<(String, String, String)>> = std::sync::Mutex::new(Vec::new());

/// Forgets the tokens cached for `addr`: a new server listens there, and whichever used the
/// port before is gone with its accounts (all the tests share one process and its ports).
pub fn forget_tokens(addr: SocketAddr) {
    let key = addr.to_string();
    TOKENS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .retain(|(a, _, _)| *a != key);
}

/// An API token for `user` on the server at `addr`, signing the account up on first use.
pub async fn token_for(addr: SocketAddr, user: &str) -> Result<String> {
    let key = addr.to_string();
    if let Some(t) = TOKENS
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .iter()
        .find(|(a, u, _)| *a == key && u == user)
    {
        return Ok(t.2.clone());
    }
    let body = serde_json::json!({ "username": user, "password": password_of(user) }).to_string();
    let mut r = http_with(addr, "POST", "/api/auth/signup", &[], Some(&body)).await?;
    if r.status == 409 {
        r = http_with(addr, "POST", "/api/auth/signin", &[], Some(&body)).await?;
    }
    let cookie = r
        .session_cookie()
        .ok_or_else(|| anyhow!("no session for {user}: {} {}", r.status, r.body))?;
    let r = http_with(addr, "POST", "/api/tokens", &[("Cookie", &cookie)], None).await?;
    if r.status != 201 {
        bail!("no token for {user}: {} {}", r.status, r.body);
    }
    let token = serde_json::from_str::<serde_json::Value>(&r.body)?["token"]
        .as_str()
        .ok_or_else(|| anyhow!("no token in {}", r.body))?
        .to_owned();
    TOKENS
        .lock()
        .map_err(|_| anyhow!("poisoned"))?
        .push((key, user.to_owned(), token.clone()));
    Ok(token)
}

/// An HTTP exchange as `user` (Bearer token): (status, body).
pub async fn http_as(
    addr: SocketAddr,
    user: &str,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> Result<(u16, String)> {
    let token = token_for(addr, user).await?;
    let auth = format!("Bearer {token}");
    let r = http_with(addr, method, path, &[("Authorization", &auth)], body).await?;
    Ok((r.status, r.body))
}

/// `owner` gives `user` a role on spec `doc` over REST.
pub async fn share(
    addr: SocketAddr,
    owner: &str,
    doc: DocumentId,
    user: &str,
    role: &str,
) -> Result<()> {
    token_for(addr, user).await?;
    let body = serde_json::json!({ "role": role }).to_string();
    let (status, reply) = http_as(
        addr,
        owner,
        "PUT",
        &format!("/api/specs/{doc}/roles/{user}"),
        Some(&body),
    )
    .await?;
    if status != 200 {
        bail!("sharing {doc} with {user} as {role}: {status} {reply}");
    }
    Ok(())
}

/// The websocket URL of `url`'s server with `user`'s token (`url` is `ws://host/sync`).
pub async fn signed_url(url: &str, user: &str) -> Result<String> {
    if url.contains("token=") {
        return Ok(url.to_owned());
    }
    let addr: SocketAddr = url
        .trim_start_matches("ws://")
        .split('/')
        .next()
        .ok_or_else(|| anyhow!("no host in {url}"))?
        .parse()?;
    let token = token_for(addr, user).await?;
    Ok(format!("{url}?token={token}"))
}

/// "pm" creates the document on the server from `doc`; "eng" joins with nothing and
/// catches up. Both clients are returned in sync.
pub async fn synced_pair(
    server: &Server,
    id: DocumentId,
    doc: AutoCommit,
    seed: u64,
) -> Result<(Client, Client)> {
    let mut a = Client::open(&server.ws_url(), "pm", seed, id, doc).await?;
    a.until_acked().await?;
    share(server.addr, "pm", id, "eng", "editor").await?;
    let mut b = Client::join_empty(&server.ws_url(), "eng", seed + 1, id).await?;
    let heads = a.heads();
    b.until_heads(&heads).await?;
    Ok((a, b))
}
