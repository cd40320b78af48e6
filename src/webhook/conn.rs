use super::*;

pub(super) const LISTENER: Token = Token(0);
pub(super) const WAKER: Token = Token(1);
pub(super) const FIRST_CONN: usize = 2;
/// Under a full connection table, a connection still sending its request after this long is
/// closed to make room for a new one (slow clients cannot starve the health check).
pub(super) const EVICT_AFTER: Duration = Duration::from_millis(500);
/// How long, and how much, input is read and dropped after an answer before closing (so an
/// unread request does not turn the close into a reset that loses the answer).
pub(super) const LINGER: Duration = Duration::from_secs(1);
pub(super) const LINGER_BYTES: usize = 1024 * 1024;
/// Longest a request may wait for a worker's answer before its connection is dropped.
pub(super) const HANDLING_LIMIT: Duration = Duration::from_secs(60);
/// Largest chunk-size line (with extensions) of a chunked body.
pub(super) const MAX_CHUNK_LINE: usize = 1024;
pub(super) const MAX_HEADERS: usize = 64;

/// A complete request for a worker.
pub(super) struct Job {
    pub(super) conn: usize,
    pub(super) request: Request,
}

/// A worker's answer.
pub(super) struct Done {
    pub(super) conn: usize,
    pub(super) code: u16,
    pub(super) body: Value,
}

/// How a request body is framed.
#[derive(Debug)]
pub(super) enum Framing {
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`: the undecoded input.
    Chunked(Vec<u8>),
}

#[derive(Debug)]
pub(super) enum Phase {
    /// Reading the request head (`Conn::buf`).
    Head,
    /// Reading the body (decoded into `Conn::buf`) until `deadline`.
    Body {
        request: Request,
        framing: Framing,
        deadline: Instant,
    },
    /// A worker has the request.
    Handling,
    /// Writing the answer.
    Writing { out: Vec<u8>, pos: usize },
    /// Answered: dropping input until the peer closes, `LINGER_BYTES` or `until`.
    Draining { until: Instant, dropped: usize },
}

#[derive(Debug)]
pub(super) struct Conn {
    pub(super) stream: mio::net::TcpStream,
    pub(super) opened: Instant,
    /// The last progress (bytes read or written).
    pub(super) last: Instant,
    pub(super) buf: Vec<u8>,
    pub(super) phase: Phase,
    /// `METHOD /path` once the head is read, for the log.
    pub(super) line: String,
}

/// What the loop does after a connection made progress.
pub(super) enum Step {
    Wait,
    Close,
    Answer(u16, Value),
    Dispatch(Request),
}

/// What reading brought.
pub(super) enum Fill {
    /// Nothing more to read now.
    Blocked,
    /// The peer closed its side (or the socket failed).
    Eof,
    /// The cap was reached.
    Full,
}

impl Conn {
    /// Reads into `buf` until it would block, the peer closes or `buf` holds `cap` bytes.
    pub(super) fn fill(
        stream: &mut mio::net::TcpStream,
        buf: &mut Vec<u8>,
        cap: usize,
        last: &mut Instant,
    ) -> Fill {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            let room = cap.saturating_sub(buf.len()).min(chunk.len());
            if room == 0 {
                return Fill::Full;
            }
            match stream.read(&mut chunk[..room]) {
                Ok(0) => return Fill::Eof,
                Ok(n) => {
                    buf.extend_from_slice(&chunk[..n]);
                    *last = Instant::now();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Fill::Blocked,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return Fill::Eof,
            }
        }
    }

    /// Moves the connection on as far as its socket allows.
    pub(super) fn step(&mut self, config: &Config) -> Step {
        loop {
            match &mut self.phase {
                Phase::Head => {
                    let fill = Self::fill(
                        &mut self.stream,
                        &mut self.buf,
                        config.max_header + 1,
                        &mut self.last,
                    );
                    match self.parse_head(config) {
                        Err(step) => return step,
                        Ok(true) => {} // the phase changed
                        Ok(false) => match fill {
                            Fill::Blocked => return Step::Wait,
                            Fill::Eof => return Step::Close,
                            Fill::Full => {
                                return Step::Answer(
                                    431,
                                    json!({"error": format!("the request head is larger than {} bytes", config.max_header), "stack": null}),
                                )
                            }
                        },
                    }
                }
                Phase::Body {
                    framing: Framing::Length(n),
                    ..
                } => {
                    let n = *n;
                    let fill = Self::fill(&mut self.stream, &mut self.buf, n, &mut self.last);
                    if self.buf.len() >= n {
                        return self.dispatch();
                    }
                    match fill {
                        Fill::Eof => return Step::Close,
                        Fill::Blocked | Fill::Full => return Step::Wait,
                    }
                }
                Phase::Body {
                    framing: Framing::Chunked(raw),
                    ..
                } => {
                    let cap = raw.len() + config.max_body + 2 * MAX_CHUNK_LINE;
                    let fill = Self::fill(&mut self.stream, raw, cap, &mut self.last);
                    match decode_chunks(raw, &mut self.buf, config.max_body) {
                        Err(step) => return step,
                        Ok(true) => return self.dispatch(),
                        Ok(false) => match fill {
                            Fill::Eof => return Step::Close,
                            Fill::Blocked => return Step::Wait,
                            // More may be waiting (edge-triggered): decoding made room.
                            Fill::Full => {}
                        },
                    }
                }
                Phase::Handling => return Step::Wait,
                Phase::Writing { out, pos } => {
                    while *pos < out.len() {
                        match self.stream.write(&out[*pos..]) {
                            Ok(0) => return Step::Close,
                            Ok(n) => {
                                *pos += n;
                                self.last = Instant::now();
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                return Step::Wait
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                    let _ = self.stream.shutdown(std::net::Shutdown::Write);
                    self.buf = Vec::new();
                    self.phase = Phase::Draining {
                        until: Instant::now() + LINGER,
                        dropped: 0,
                    };
                }
                Phase::Draining { dropped, .. } => {
                    let mut sink = [0u8; 16 * 1024];
                    loop {
                        match self.stream.read(&mut sink) {
                            Ok(0) => return Step::Close,
                            Ok(n) => {
                                *dropped += n;
                                if *dropped > LINGER_BYTES {
                                    return Step::Close;
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                                return Step::Wait
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                            Err(_) => return Step::Close,
                        }
                    }
                }
            }
        }
    }

    /// Parses the head in `buf` if complete: `Ok(true)` when the phase changed, `Ok(false)`
    /// when more input is needed, `Err` with the step to take.
    pub(super) fn parse_head(&mut self, config: &Config) -> Result<bool, Step> {
        let bad =
            |code: u16, message: &str| Step::Answer(code, json!({"error": message, "stack": null}));
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        let n = match parsed.parse(&self.buf) {
            Ok(httparse::Status::Complete(n)) if n <= config.max_header => n,
            Ok(httparse::Status::Complete(_)) => {
                return Err(bad(
                    431,
                    &format!(
                        "the request head is larger than {} bytes",
                        config.max_header
                    ),
                ))
            }
            Ok(httparse::Status::Partial) => return Ok(false),
            Err(httparse::Error::TooManyHeaders) => {
                return Err(bad(431, &format!("more than {MAX_HEADERS} headers")))
            }
            Err(e) => return Err(bad(400, &format!("malformed request: {e}"))),
        };
        let method = parsed.method.unwrap_or_default().to_owned();
        let path = parsed
            .path
            .unwrap_or_default()
            .split('?')
            .next()
            .unwrap_or_default()
            .to_owned();
        let headers: Vec<(String, String)> = parsed
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8_lossy(h.value).trim().to_owned(),
                )
            })
            .collect();
        self.line = format!("{method} {}", path.chars().take(200).collect::<String>());
        let rest = self.buf.split_off(n);
        self.buf.clear();
        let request = Request {
            method,
            path,
            headers,
            body: Vec::new(),
        };
        match route(&request.method, &request.path) {
            Route::Health => return Err(Step::Answer(200, json!({"ok": true}))),
            Route::Hook(_) => {}
            _ => return Err(Step::Dispatch(request)),
        }
        let max = config.max_body;
        let lengths: Vec<&str> = request
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("Content-Length"))
            .map(|(_, v)| v.as_str())
            .collect();
        let chunked = match request.header("Transfer-Encoding") {
            None => false,
            Some(te) if te.eq_ignore_ascii_case("chunked") && lengths.is_empty() => true,
            Some(_) => {
                return Err(bad(
                    400,
                    "only `Transfer-Encoding: chunked`, without `Content-Length`, is accepted",
                ))
            }
        };
        let framing = if chunked {
            Framing::Chunked(rest)
        } else {
            let length = match lengths.as_slice() {
                [] => 0,
                [first, others @ ..] => match first.parse::<u64>() {
                    Ok(n) if others.iter().all(|o| o == first) => n,
                    _ => return Err(bad(400, "invalid `Content-Length`")),
                },
            };
            if length > max as u64 {
                return Err(bad(413, &format!("the body is larger than {max} bytes")));
            }
            let length = usize::try_from(length).unwrap_or(usize::MAX);
            self.buf = rest;
            self.buf.truncate(length);
            Framing::Length(length)
        };
        if request
            .header("Expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
        {
            // Best effort: a client that does not get it sends the body after its own delay.
            let _ = self.stream.write(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        self.phase = Phase::Body {
            request,
            framing,
            deadline: Instant::now() + config.body_timeout,
        };
        Ok(true)
    }

    /// The body is complete: the request goes to a worker.
    pub(super) fn dispatch(&mut self) -> Step {
        match std::mem::replace(&mut self.phase, Phase::Handling) {
            Phase::Body { mut request, .. } => {
                request.body = std::mem::take(&mut self.buf);
                Step::Dispatch(request)
            }
            other => {
                self.phase = other;
                Step::Close
            }
        }
    }

    /// When the connection times out, if it can.
    pub(super) fn deadline(&self, config: &Config) -> Option<Instant> {
        let idle = self.last + config.idle_timeout;
        match &self.phase {
            Phase::Head => Some(idle.min(self.opened + config.header_timeout)),
            Phase::Body { deadline, .. } => Some(idle.min(*deadline)),
            // A worker answers at once; this only frees the slot if one never does.
            Phase::Handling => Some(self.last + HANDLING_LIMIT),
            Phase::Writing { .. } => Some(idle),
            Phase::Draining { until, .. } => Some(*until),
        }
    }

    /// Still sending its request (or lingering): may be closed to make room.
    pub(super) fn evictable(&self, now: Instant) -> bool {
        match self.phase {
            Phase::Head | Phase::Body { .. } => now.duration_since(self.opened) >= EVICT_AFTER,
            Phase::Draining { .. } => true,
            Phase::Handling | Phase::Writing { .. } => false,
        }
    }
}

/// Decodes the complete chunks at the front of `raw` into `body` and drops them from `raw`:
/// `Ok(true)` once the last chunk (and the trailer) arrived.
pub(super) fn decode_chunks(
    raw: &mut Vec<u8>,
    body: &mut Vec<u8>,
    max: usize,
) -> Result<bool, Step> {
    let bad =
        |code: u16, message: String| Step::Answer(code, json!({"error": message, "stack": null}));
    let mut pos = 0;
    let done = loop {
        let rest = &raw[pos..];
        match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete((line, 0))) => {
                // The trailer: header lines up to an empty line (ignored).
                let tail = &rest[line..];
                if tail.starts_with(b"\r\n") || tail.windows(4).any(|w| w == b"\r\n\r\n") {
                    break true;
                }
                if tail.len() > MAX_CHUNK_LINE {
                    return Err(bad(400, "the chunked body's trailer is too large".into()));
                }
                break false;
            }
            Ok(httparse::Status::Complete((line, size))) => {
                if size > (max - body.len().min(max)) as u64 {
                    return Err(bad(413, format!("the body is larger than {max} bytes")));
                }
                let size = usize::try_from(size).unwrap_or(usize::MAX);
                if rest.len() < line + size + 2 {
                    break false;
                }
                if &rest[line + size..line + size + 2] != b"\r\n" {
                    return Err(bad(400, "malformed chunked body".into()));
                }
                body.extend_from_slice(&rest[line..line + size]);
                pos += line + size + 2;
            }
            Ok(httparse::Status::Partial) if rest.len() <= MAX_CHUNK_LINE => break false,
            Ok(httparse::Status::Partial) | Err(_) => {
                return Err(bad(400, "malformed chunked body".into()))
            }
        }
    };
    raw.drain(..pos);
    Ok(done)
}

/// An HTTP/1.1 answer with a JSON body; the connection is closed after it.
pub(super) fn response(code: u16, body: &Value) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        409 => "Conflict",
        413 => "Content Too Large",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "",
    };
    let body = body.to_string();
    let retry = if code == 503 {
        "Retry-After: 1\r\n"
    } else {
        ""
    };
    format!("HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{retry}Connection: close\r\n\r\n{body}", body.len()).into_bytes()
}
