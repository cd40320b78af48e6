use super::*;

/// The connection loop's state.
pub(super) struct Io {
    pub(super) shared: Arc<Shared>,
    pub(super) poll: Poll,
    pub(super) listener: mio::net::TcpListener,
    pub(super) conns: HashMap<usize, Conn>,
    pub(super) next: usize,
    pub(super) jobs: mpsc::Sender<Job>,
    pub(super) done: mpsc::Receiver<Done>,
    /// Connections refused since the last log line about them.
    pub(super) refused: u64,
    pub(super) refused_logged: Instant,
}

impl Io {
    pub(super) fn serve(&mut self) -> std::io::Result<()> {
        let mut events = Events::with_capacity(256);
        loop {
            let now = Instant::now();
            let timeout = self
                .conns
                .values()
                .filter_map(|c| c.deadline(&self.shared.config))
                .min()
                .map(|d| d.saturating_duration_since(now) + Duration::from_millis(1));
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() == std::io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            for event in &events {
                match event.token() {
                    LISTENER => self.accept(),
                    WAKER => {}
                    Token(id) => self.progress(id),
                }
            }
            while let Ok(done) = self.done.try_recv() {
                self.answer(done.conn, done.code, &done.body);
            }
            self.expire();
        }
    }

    pub(super) fn accept(&mut self) {
        loop {
            let (mut stream, _) = match self.listener.accept() {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("accept: {e}");
                    return;
                }
            };
            if self.conns.len() >= self.shared.config.max_connections && !self.evict() {
                // Refused at once, without reading: the answer fits the empty send buffer.
                let _ = stream.write(&response(
                    503,
                    &json!({"error": "too many connections", "stack": null}),
                ));
                self.refused += 1;
                if self.refused_logged.elapsed() >= Duration::from_secs(1) {
                    eprintln!(
                        "refused {} connections (limit {})",
                        self.refused, self.shared.config.max_connections
                    );
                    (self.refused, self.refused_logged) = (0, Instant::now());
                }
                continue;
            }
            let id = self.next;
            self.next = self.next.checked_add(1).unwrap_or(FIRST_CONN);
            if self
                .poll
                .registry()
                .register(
                    &mut stream,
                    Token(id),
                    Interest::READABLE | Interest::WRITABLE,
                )
                .is_err()
            {
                continue;
            }
            let now = Instant::now();
            self.conns.insert(
                id,
                Conn {
                    stream,
                    opened: now,
                    last: now,
                    buf: Vec::new(),
                    phase: Phase::Head,
                    line: "-".into(),
                },
            );
            self.progress(id);
        }
    }

    /// Closes the connection that has been sending its request the longest, if any may be.
    pub(super) fn evict(&mut self) -> bool {
        let now = Instant::now();
        let oldest = self
            .conns
            .iter()
            .filter(|(_, c)| c.evictable(now))
            .min_by_key(|(_, c)| (!matches!(c.phase, Phase::Draining { .. }), c.opened))
            .map(|(id, _)| *id);
        match oldest {
            Some(id) => {
                if let Some(c) = self.conns.get(&id) {
                    if !matches!(c.phase, Phase::Draining { .. }) {
                        eprintln!(
                            "{} evicted after {} ms (connection limit)",
                            c.line,
                            now.duration_since(c.opened).as_millis()
                        );
                    }
                }
                self.close(id);
                true
            }
            None => false,
        }
    }

    pub(super) fn progress(&mut self, id: usize) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        match conn.step(&self.shared.config) {
            Step::Wait => {}
            Step::Close => self.close(id),
            Step::Answer(code, body) => self.answer(id, code, &body),
            Step::Dispatch(request) => {
                conn.phase = Phase::Handling;
                if self.jobs.send(Job { conn: id, request }).is_err() {
                    self.close(id);
                }
            }
        }
    }

    pub(super) fn answer(&mut self, id: usize, code: u16, body: &Value) {
        let Some(conn) = self.conns.get_mut(&id) else {
            return;
        };
        eprintln!("{} {code}", conn.line);
        conn.last = Instant::now();
        conn.phase = Phase::Writing {
            out: response(code, body),
            pos: 0,
        };
        self.progress(id);
    }

    pub(super) fn close(&mut self, id: usize) {
        if let Some(mut conn) = self.conns.remove(&id) {
            let _ = self.poll.registry().deregister(&mut conn.stream);
        }
    }

    /// Applies the timeouts: an idle connection is closed, a slow request gets `408`.
    pub(super) fn expire(&mut self) {
        let now = Instant::now();
        let shared = Arc::clone(&self.shared);
        let config = &shared.config;
        let due: Vec<(usize, bool)> = self
            .conns
            .iter()
            .filter(|(_, c)| c.deadline(config).is_some_and(|d| d <= now))
            .map(|(id, c)| {
                (
                    *id,
                    matches!(c.phase, Phase::Body { .. })
                        || (matches!(c.phase, Phase::Head) && !c.buf.is_empty()),
                )
            })
            .collect();
        for (id, started) in due {
            if started {
                let (header, body) = (
                    config.header_timeout.as_secs_f64(),
                    config.body_timeout.as_secs_f64(),
                );
                let idle = config.idle_timeout.as_secs_f64();
                let message = format!("the request was not received in time (head within {header} s, body within {body} s, at most {idle} s without data)");
                self.answer(id, 408, &json!({"error": message, "stack": null}));
            } else {
                self.close(id);
            }
        }
    }
}
