use super::*;

pub(super) struct Shared {
    pub(super) config: Config,
    pub(super) deployer: Deployer,
    pub(super) replay: Replay,
}

/// The receiver: bound, not yet serving.
pub struct Server {
    pub(super) listener: std::net::TcpListener,
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("listen", &self.local_addr())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Binds the listen address.
    pub fn bind(config: Config) -> Result<Self, WebhookError> {
        let zero_time = [
            config.header_timeout,
            config.body_timeout,
            config.idle_timeout,
        ]
        .contains(&Duration::ZERO);
        if config.workers == 0
            || config.deploy_workers == 0
            || config.max_body == 0
            || config.max_connections == 0
            || config.max_header < 256
            || zero_time
        {
            return Err(WebhookError::Config("workers, deploy workers, the connection limit, the body limit and the timeouts must be positive, the header limit at least 256 bytes".into()));
        }
        let listener = std::net::TcpListener::bind(config.listen.as_str()).map_err(|e| {
            WebhookError::Bind {
                addr: config.listen.clone(),
                reason: e.to_string(),
            }
        })?;
        listener.set_nonblocking(true)?;
        Ok(Self {
            listener,
            shared: Arc::new(Shared {
                config,
                deployer: Deployer::default(),
                replay: Replay::default(),
            }),
        })
    }

    /// The address it listens on (the port chosen when the configured one is 0).
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.local_addr().ok()
    }

    /// Serves until polling the sockets fails; never returns otherwise.
    pub fn run(self) -> Result<(), WebhookError> {
        for _ in 0..self.shared.config.deploy_workers {
            let shared = Arc::clone(&self.shared);
            std::thread::spawn(move || shared.deployer.work(&shared.config));
        }
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKER)?);
        let (job_tx, job_rx) = mpsc::channel::<Job>();
        let (done_tx, done_rx) = mpsc::channel::<Done>();
        let job_rx = Arc::new(Mutex::new(job_rx));
        for _ in 0..self.shared.config.workers {
            let (shared, jobs, done, waker) = (
                Arc::clone(&self.shared),
                Arc::clone(&job_rx),
                done_tx.clone(),
                Arc::clone(&waker),
            );
            std::thread::spawn(move || loop {
                let next = lock(&jobs).recv();
                let Ok(job) = next else { return };
                let (code, body) = handle(&shared, &job.request);
                if done
                    .send(Done {
                        conn: job.conn,
                        code,
                        body,
                    })
                    .is_err()
                {
                    return;
                }
                let _ = waker.wake();
            });
        }
        let mut listener = mio::net::TcpListener::from_std(self.listener);
        poll.registry()
            .register(&mut listener, LISTENER, Interest::READABLE)?;
        let mut io = Io {
            shared: self.shared,
            poll,
            listener,
            conns: HashMap::new(),
            next: FIRST_CONN,
            jobs: job_tx,
            done: done_rx,
            refused: 0,
            refused_logged: Instant::now(),
        };
        Ok(io.serve()?)
    }
}

/// A request as the handlers see it (read in full, within the limits).
#[derive(Debug)]
pub(super) struct Request {
    pub(super) method: String,
    /// The path, without the query.
    pub(super) path: String,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Request {
    /// The first header `name` (case-insensitive).
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Route<'p> {
    Health,
    Hook(&'p str),
    Status(&'p str),
    WrongMethod,
    NotFound,
}

pub(super) fn route<'p>(method: &str, path: &'p str) -> Route<'p> {
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, parts.as_slice()) {
        ("GET", ["healthz"]) => Route::Health,
        ("POST", ["hooks", app]) => Route::Hook(app),
        ("GET", ["hooks", app, "status"]) => Route::Status(app),
        (_, ["hooks", ..]) => Route::WrongMethod,
        _ => Route::NotFound,
    }
}

pub(super) fn error(code: u16, stack: Option<&str>, message: &str) -> (u16, Value) {
    (code, json!({"error": message, "stack": stack}))
}

/// Answers a request read in full (on a request worker).
pub(super) fn handle(shared: &Shared, req: &Request) -> (u16, Value) {
    match route(&req.method, &req.path) {
        Route::Health => (200, json!({"ok": true})),
        Route::Hook(app) => hook(shared, req, app),
        Route::Status(app) => status(shared, req, app),
        Route::WrongMethod => error(
            405,
            None,
            "use POST /hooks/<app> or GET /hooks/<app>/status",
        ),
        Route::NotFound => error(404, None, "not found"),
    }
}

/// The checks every `/hooks/<app>` route shares: a stack that exists, has the webhook
/// enabled (for deploys) and a secret.
pub(super) fn stack_secret(
    shared: &Shared,
    app: &str,
    need_enabled: bool,
) -> Result<String, (u16, String)> {
    let root = &shared.config.lib_root;
    let known = crate::model::is_valid_app_name(app)
        && (root.join("config/compose").join(app).is_dir()
            || root.join("data/compose").join(app).is_dir());
    if !known {
        return Err((404, format!("no stack `{app}` on this host")));
    }
    let enabled = prop(root, app, "webhook")
        .or_else(|| prop(root, "--global", "webhook"))
        .is_some_and(|v| v == "true");
    if need_enabled && !enabled {
        return Err((403, format!("webhook deploys are disabled for stack `{app}`: `dokku compose:set {app} webhook true` enables them")));
    }
    prop(root, app, "webhook-secret").ok_or_else(|| (403, format!("stack `{app}` has no webhook secret: `dokku compose:webhook-secret {app}` creates one")))
}

pub(super) fn hook(shared: &Shared, req: &Request, app: &str) -> (u16, Value) {
    let secret = match stack_secret(shared, app, true) {
        Ok(s) => s,
        Err((code, msg)) => return error(code, Some(app), &msg),
    };
    let Some(credential) = authenticate(|h| req.header(h), &req.body, &secret) else {
        return error(401, Some(app), "missing or invalid token or signature");
    };
    // A signed body is remembered whatever delivery id comes with it (the signature does not
    // cover the headers, so a replay could drop or change the id); a delivery id is remembered
    // for token calls too.
    let mut keys = Vec::new();
    if credential == Credential::Signature {
        keys.push(digest(&[
            b"signed-body",
            app.as_bytes(),
            &Sha256::digest(&req.body),
        ]));
    }
    let id = DELIVERY_HEADERS.iter().find_map(|h| req.header(h));
    if let Some(id) = id {
        keys.push(digest(&[b"delivery-id", app.as_bytes(), id.as_bytes()]));
    }
    if let Err(i) = shared.replay.check(&keys, shared.config.replay_window) {
        let message = if credential == Credential::Signature && i == 0 {
            "this signed body was already delivered: a replay is refused whatever its delivery id"
                .to_owned()
        } else {
            let id: String = id.unwrap_or_default().chars().take(80).collect();
            format!("delivery `{id}` was already received")
        };
        return error(409, Some(app), &message);
    }
    let t = shared.deployer.trigger(app);
    (
        202,
        json!({"stack": app, "queued": t.queued, "joined": t.joined}),
    )
}

pub(super) fn status(shared: &Shared, req: &Request, app: &str) -> (u16, Value) {
    let secret = match stack_secret(shared, app, false) {
        Ok(s) => s,
        Err((code, msg)) => return error(code, Some(app), &msg),
    };
    if authenticate(|h| req.header(h), b"", &secret).is_none() {
        return error(401, Some(app), "missing or invalid token or signature");
    }
    (200, shared.deployer.status(app))
}

// ---- The connection loop: one thread holds every connection (non-blocking sockets, mio) until
// its request is read in full, within the limits; only complete requests reach the workers, so a
// slow or idle client never holds a worker, and `GET /healthz` is answered by the loop itself.
